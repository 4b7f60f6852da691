"""DRAM timing: a memory tier's streaming bandwidth, its size ramp and its access energy derived
from the DRAM's organisation, timing parameters and energy per command, instead of a peak
bandwidth. Any hardware file may give a memory a ``dram:`` block; processing-in-memory
devices (banks that compute on the row they just opened) are the case it was built for.

A stream of ``b`` bytes is spread evenly over ``channels`` x ``banks`` banks. A bank opens a
row (ACT), reads it out one column (``column`` bytes) at a time, then closes it (PRE); with
``all_bank`` one command drives every bank of a channel at once (an in-bank MAC mode such as
SK hynix AiM's MAC_ABK), otherwise each bank needs its own column command and the command
bus (``command_rate`` commands/s per channel) can become the limit. One *round* of a channel
(every bank reading ``k`` columns of one row) takes

    t_round(k) = t_act + tRCD + max(k x t_col, tRAS - tRCD) + tRP,  t_col = max(tCCD, cmds / command_rate)

with ``cmds`` = 1 (all-bank) or ``banks``. ``t_act`` is the power rule on activations: at most
``activates_per_faw`` banks of a channel may open within one ``tFAW`` window, so opening all its
banks waits (ceil(banks / activates_per_faw) - 1) x tFAW before the last ones open (0 when the
block gives no ``tFAW``). A stream of R full rounds and a last partial round
of k columns takes R x t_round(cols_per_row) + t_round(k); channels run in parallel. Energy:
one ``activate`` (ACT + PRE) per bank per round and one ``column`` access per bank per column.

``bank_precharge``: each bank is closed by its own command (that long each) instead of one
all-bank tRP. ``gemv: true``: decode attention runs as per-sequence GEMVs, command by command,
in the channel holding the sequence's KV (:meth:`DramTiming.attention_s`, NeuPIMs' HBM-PIM).

Row activations do not overlap column reads here (all banks open and close together, as in an
all-bank PIM mode); a conventional controller hides them behind other banks' reads, which
this model does not claim to describe (use ``bandwidth`` for such a tier).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hetsim.datafiles import check_keys
from hetsim.errors import ConfigError
from hetsim.units import PJ, parse_number, parse_quantity

KEYS = (
    "channels",
    "banks_per_channel",
    "row",
    "column",
    "tRCD",
    "tRP",
    "tRAS",
    "tCCD",
    "command_rate",
    "all_bank",
    "activate_pj",
    "column_pj",
    "tFAW",
    "activates_per_faw",
    "bank_precharge",
    "vector_write",
    "gemv",
)
SIZES_BYTES = tuple(float(10**e) for e in np.arange(3.0, 11.5, 0.5))  # 1 kB .. 300 GB


@dataclass(frozen=True, slots=True)
class DramTiming:
    """Organisation, timing (s) and energy per command (J) of a DRAM whose banks stream rows."""

    channels: int
    banks_per_channel: int
    row_bytes: float  # one bank's row (page)
    column_bytes: float  # bytes one column command moves per bank (the burst / prefetch)
    trcd_s: float  # activate to first column command
    trp_s: float  # precharge
    tras_s: float  # activate to precharge, at least
    tccd_s: float  # column to column within a bank
    command_rate_per_s: float = math.inf  # commands per second per channel's command bus
    all_bank: bool = True  # one command drives every bank of a channel (PIM all-bank mode)
    activate_j: float = 0.0  # one ACT + PRE of one bank
    column_j: float = 0.0  # one column access of one bank (array read to the bank's datapath)
    tfaw_s: float = 0.0  # four-activate window: at most activates_per_faw bank openings in it
    activates_per_faw: int = 4  # bank activations one channel may issue within tFAW
    bank_precharge_s: float = 0.0  # >0: each bank closed by its own command, this long each
    vector_write_s: float = 0.0  # writing one row-sized chunk of a GEMV's input vector (gemv)
    gemv: bool = False  # attention runs as per-sequence GEMVs in one channel (attention_s)

    def __post_init__(self) -> None:
        if self.channels < 1 or self.banks_per_channel < 1:
            raise ConfigError("dram: channels and banks_per_channel must be at least 1")
        for name in ("row_bytes", "column_bytes", "tccd_s", "command_rate_per_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"dram: {name} must be positive")
        if self.activates_per_faw < 1:
            raise ConfigError("dram: activates_per_faw must be at least 1")
        for name in ("trcd_s", "trp_s", "tras_s", "activate_j", "column_j", "tfaw_s", "bank_precharge_s",
                     "vector_write_s"):  # fmt: skip
            v = getattr(self, name)
            if not 0 <= v < math.inf:
                raise ConfigError(f"dram: {name} must be non-negative and finite, got {v}")
        if self.column_bytes > self.row_bytes:
            raise ConfigError("dram: a column cannot be larger than a row")

    @property
    def banks(self) -> int:
        return self.channels * self.banks_per_channel

    @property
    def columns_per_row(self) -> int:
        return max(1, int(self.row_bytes // self.column_bytes))

    @property
    def column_s(self) -> float:
        """Time between column commands of one bank: tCCD, or the command bus when every bank
        needs its own command."""
        cmds = 1 if self.all_bank else self.banks_per_channel
        return max(self.tccd_s, cmds / self.command_rate_per_s)

    @property
    def activation_s(self) -> float:
        """Wait, beyond tRCD, before the last banks of a channel have opened: the activation
        window lets ``activates_per_faw`` banks open per ``tFAW``."""
        return (math.ceil(self.banks_per_channel / self.activates_per_faw) - 1) * self.tfaw_s

    @property
    def close_s(self) -> float:
        """Closing a round's rows: one all-bank precharge, or each bank by its own command."""
        return self.banks_per_channel * self.bank_precharge_s if self.bank_precharge_s else self.trp_s

    def round_s(self, columns: Any) -> Any:
        """One round of a channel: every bank opens a row, reads ``columns`` columns, closes it."""
        k = np.asarray(columns, dtype=float)
        body = np.maximum(k * self.column_s, self.tras_s - self.trcd_s)
        return np.where(k > 0, self.activation_s + self.trcd_s + body + self.close_s, 0.0)

    def attention_s(self, seqs: Any, kv_bytes: Any, kv_heads: int, head_dim: int, elem_bytes: float) -> Any:
        """Decode attention of ``seqs`` sequences (``kv_bytes`` of K and V; ``kv_heads`` x
        ``head_dim`` elements per token) as GEMVs in each sequence's channel, one after another:
        logits K q (a bank row holds a token's K; tokens padded to whole tiles of banks), then
        per KV head V^T s (a bank row holds one head dimension; dimensions padded likewise);
        per row-sized input chunk a vector write, per row round its columns, per head in a row
        beyond the first one result read."""
        b = np.maximum(np.asarray(seqs, dtype=float), 1.0)
        head = head_dim * elem_bytes
        token = kv_heads * head  # one token's K (or V) on this device
        ctx = np.asarray(kv_bytes, dtype=float) / (2 * b * token)  # tokens per sequence
        row, col, t_col = self.row_bytes, self.column_bytes, self.column_s
        opened = self.activation_s + self.trcd_s + self.close_s  # a round without its columns
        write = self.trp_s + self.trcd_s + self.vector_write_s  # an input chunk into the buffer

        def rounds(n: Any, comps: Any) -> Any:  # n rounds of comps column commands in all
            return n * opened + np.maximum(comps * t_col, n * (self.tras_s - self.trcd_s))

        k_chunks = math.ceil(token / row)
        logit = k_chunks * write + np.ceil(ctx / self.banks_per_channel) * (
            rounds(k_chunks, math.ceil(token / col)) + max(kv_heads - k_chunks, 0) * t_col
        )
        v_chunks = np.ceil(ctx * elem_bytes / row)
        context = v_chunks * write + math.ceil(head_dim / self.banks_per_channel) * rounds(
            v_chunks, np.ceil(ctx * elem_bytes / col)
        )
        return np.ceil(b / self.channels) * (logit + kv_heads * context)

    @property
    def bytes_per_round(self) -> float:
        """Bytes every bank of every channel moves in one full round."""
        return self.banks * self.columns_per_row * self.column_bytes

    def stream_s(self, nbytes: Any) -> Any:
        """Time (s) to stream ``nbytes`` spread evenly over every bank."""
        b = np.maximum(np.asarray(nbytes, dtype=float), 0.0)
        cols = np.ceil(b / (self.banks * self.column_bytes))  # columns per bank
        full, rest = np.divmod(cols, self.columns_per_row)
        return full * self.round_s(self.columns_per_row) + self.round_s(rest)

    @property
    def bandwidth_bytes_per_s(self) -> float:
        """Streaming bandwidth of long transfers: full rounds back to back."""
        return self.bytes_per_round / float(self.round_s(self.columns_per_row))

    @property
    def peak_column_bytes_per_s(self) -> float:
        """Column bandwidth with no row overhead (every bank, one column per t_col)."""
        return self.banks * self.column_bytes / self.column_s

    def stream_energy_j(self, nbytes: Any) -> Any:
        """Energy (J) of streaming ``nbytes``: activations plus column accesses."""
        b = np.maximum(np.asarray(nbytes, dtype=float), 0.0)
        cols = np.ceil(b / (self.banks * self.column_bytes))
        rows = np.ceil(cols / self.columns_per_row)
        return self.banks * (rows * self.activate_j + cols * self.column_j)

    @property
    def energy_j_per_bit(self) -> float:
        """Access energy per bit of a long stream."""
        per_row = self.activate_j + self.columns_per_row * self.column_j
        return per_row / (self.columns_per_row * self.column_bytes * 8)

    def efficiency_points(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(sizes, efficiencies) of the size ramp: (bytes / streaming bandwidth) / stream time,
        at 1 kB .. 300 GB in half decades (capped at 1: a partial round can beat the average)."""
        sizes = np.asarray(SIZES_BYTES)
        eff = (sizes / self.bandwidth_bytes_per_s) / self.stream_s(sizes)
        return tuple(float(s) for s in sizes), tuple(float(min(1.0, e)) for e in eff)


def timing_from_mapping(raw: Mapping[str, Any], where: str) -> DramTiming:
    """Read a ``dram:`` block. Quantities carry units ("2 KiB", "28 ns", "1 GHz"); counts and
    energies (``activate_pj``, ``column_pj``, unit in the name) are bare numbers."""
    check_keys(raw, (*KEYS, "provenance"), where)
    missing = [k for k in KEYS[:8] if k not in raw]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)} (the organisation and timing are required)")

    def count(key: str) -> int:
        v = raw[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"{where}.{key}: must be a whole number of at least 1, got {v!r}")
        return v

    def q(key: str, kind: str) -> float:
        return parse_quantity(raw[key], kind, where=f"{where}.{key}")

    all_bank, gemv = raw.get("all_bank", True), raw.get("gemv", False)
    if not isinstance(all_bank, bool) or not isinstance(gemv, bool):
        raise ConfigError(f"{where}.all_bank and {where}.gemv: must be true or false")
    return DramTiming(
        channels=count("channels"),
        banks_per_channel=count("banks_per_channel"),
        row_bytes=q("row", "bytes"),
        column_bytes=q("column", "bytes"),
        trcd_s=q("tRCD", "s"),
        trp_s=q("tRP", "s"),
        tras_s=q("tRAS", "s"),
        tccd_s=q("tCCD", "s"),
        command_rate_per_s=q("command_rate", "hz") if "command_rate" in raw else math.inf,
        all_bank=all_bank,
        activate_j=parse_number(raw.get("activate_pj", 0.0), where=f"{where}.activate_pj") * PJ,
        column_j=parse_number(raw.get("column_pj", 0.0), where=f"{where}.column_pj") * PJ,
        tfaw_s=q("tFAW", "s") if "tFAW" in raw else 0.0,
        activates_per_faw=count("activates_per_faw") if "activates_per_faw" in raw else 4,
        bank_precharge_s=q("bank_precharge", "s") if "bank_precharge" in raw else 0.0,
        vector_write_s=q("vector_write", "s") if "vector_write" in raw else 0.0,
        gemv=gemv,
    )


def numbers_in(raw: Mapping[str, Any]) -> list[str]:
    """The keys of a ``dram:`` block that are numbers needing a provenance."""
    return [k for k in KEYS if k in raw and k not in ("all_bank", "gemv")]
