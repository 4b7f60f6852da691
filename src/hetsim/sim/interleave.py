"""Overlap across sides with one memory reached two ways: sub-batch interleaving (NeuPIMs).

A device whose execution block names ``shared_memory: [a, b]`` has one DRAM reached by two
paths: the primary's units read it through the channels' external interface (side ``a``),
the banks' own MACs compute on it at the internal rate (side ``b``). The placed run prices a
decode step with the layer's ops one after another (blocked mode: only one path active at a
time). With ``sub_batches`` = S > 1 the batch is cut into S sub-batches and, layer by layer,
the primary runs one sub-batch's GEMMs while the memory side runs another's attention, so a
layer costs the longer of the two sides' work instead of their sum:

    step = max(T_primary + T_reread, T_memory + c x min(M_primary, T_memory)) + fill + T_other

- ``T_primary``, ``T_memory``: the layer ops' time on each side as priced for the whole batch
  (sub-batches of one layer together do the same work);
- ``T_reread``: (S - 1) more reads of a layer's weights, unless the primary's on-chip memory
  (``memory.cache`` of the primary side) holds one layer's weights, so every sub-batch reuses
  them;
- ``c`` = ``channel_contention``: the fraction of the primary's time on the shared channels
  (``M_primary``: its bytes there over the path's bandwidth) during which the memory side
  stalls, counted only while both run;
- ``fill``: the pipeline's start, the shorter side's share of one sub-batch of one layer;
- ``T_other``: ops outside the layers (embeddings, LM head) run alone.

Where that exceeds the blocked step (heavy contention, weights reread) the runtime keeps the
blocked schedule: the interleaved step is never the slower of the two.

The same device's blocked step is the placed run's decode time; both are per decode context
and averaged over the decode like every other step (:func:`hetsim.sim.placed.mean_ctx`).
Capacity is shared: the two sides together hold at most the first named side's capacity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hetsim.errors import CapacityError, ConfigError
from hetsim.hardware.spec import Device
from hetsim.sim.placed import mean_ctx
from hetsim.sim.placed_run import Evaluated, op_sum


@dataclass(frozen=True, slots=True)
class Interleaved:
    """One configuration's decode step, blocked and interleaved (seconds, decode means)."""

    blocked_s: float  # the placed run's step: every op one after another
    interleaved_s: float  # S sub-batches, the two paths overlapped
    primary_s: float  # layer ops on the primary's units (whole batch, per step)
    memory_s: float  # layer ops computed beside the shared memory
    reread_s: float  # extra weight reads of S sub-batches (0 when the weights stay on chip)
    contention_s: float  # the memory side's stall on the shared channels
    other_s: float  # ops outside the layers
    sub_batches: int

    @property
    def speedup(self) -> float:
        return self.blocked_s / self.interleaved_s


def shared_sides(dev: Device) -> tuple[int, int]:
    """Indices of the two sides of ``dev``'s shared memory (primary path, in-memory path)."""
    names = [s.name for s in dev.sides]
    pair = dev.execution.shared_memory
    if len(pair) != 2:
        raise ConfigError(
            f"hardware {dev.name!r}: sub-batch interleaving needs 'execution: shared_memory: [a, b]' "
            "naming the two access paths of one memory"
        )
    return names.index(pair[0]), names.index(pair[1])


def check_shared_capacity(ev: Evaluated, dev: Device) -> None:
    """The two paths' resident bytes together within the one memory's capacity."""
    a, b = shared_sides(dev)
    held = float(ev.run.peak_bytes(a)[0]) + float(ev.run.peak_bytes(b)[0])
    cap = dev.sides[a].memory.capacity_bytes
    if held > cap * (1 + 1e-12):
        raise CapacityError(
            f"{dev.name}: {dev.sides[a].name} and {dev.sides[b].name} are one memory of "
            f"{cap / 1e9:.1f} GB and together hold {held / 1e9:.1f} GB; "
            "use a smaller batch or shorter context"
        )


def interleave(ev: Evaluated, dev: Device, n_layers: int) -> Interleaved:
    """The decode step of ``ev`` (one configuration, priced with attention beside the shared
    memory, e.g. policy ``pim-attention``) run as ``dev.execution.sub_batches`` interleaved
    sub-batches."""
    a, b = shared_sides(dev)
    check_shared_capacity(ev, dev)
    ex = dev.execution
    S = ex.sub_batches
    bw = dev.sides[a].memory.bandwidth_bytes_per_s
    prim: list[Any] = []
    mem: list[Any] = []
    other: list[Any] = []
    moved: list[Any] = []
    weights = 0.0
    for op, pc in zip(ev.dec_ops, ev.run.decode.costs, strict=True):
        t = pc.cost.time_s
        if op.count != n_layers:
            other.append(t)
        elif b in pc.compute_sides:
            mem.append(t)
        else:
            prim.append(t)
            moved.append(pc.side_bytes[a])
            weights += float(np.max(op.weight_bytes))
    t_p: Any = op_sum(prim)
    t_m: Any = op_sum(mem)
    t_o: Any = op_sum(other)
    m_p: Any = op_sum(moved) / bw
    on_chip = dev.sides[a].memory.cache_bytes >= weights  # one layer's weights (per repetition)
    reread = 0.0 if on_chip or S == 1 else (S - 1) * weights * n_layers / bw
    stall = ex.channel_contention * np.minimum(m_p, t_m)
    fill = np.minimum(t_p, t_m) / (S * n_layers)
    blocked = t_p + t_m + t_o
    # a runtime interleaves only where it pays: never slower than running blocked
    inter = np.minimum(np.maximum(t_p + reread, t_m + stall) + fill + t_o, blocked)
    if S == 1:  # no second sub-batch to overlap with: the blocked step
        inter, stall = blocked, np.zeros_like(blocked)
    return Interleaved(
        blocked_s=_mean(blocked),
        interleaved_s=_mean(inter),
        primary_s=_mean(t_p),
        memory_s=_mean(t_m),
        reread_s=float(reread),
        contention_s=_mean(stall),
        other_s=_mean(t_o),
        sub_batches=S,
    )


def _mean(x: Any) -> float:
    return float(np.asarray(mean_ctx(x), dtype=np.float64).reshape(-1)[0])
