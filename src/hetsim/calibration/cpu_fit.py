"""Host-CPU compute priced from mechanism: the two CPU knobs and how they were fitted.

A CPU side is priced by the roofline with its datasheet numbers (cores x SIMD / AMX width x
clock; memory channels x transfer rate) times two fitted fractions, written into every CPU
preset's efficiency (``hardware/presets/xeon-*.yaml``, ``epyc-*``, ``grace``) with
``calibrated`` provenance:

- ``STREAM_EFFICIENCY``: the fraction of the datasheet DRAM bandwidth a CPU decode reaches
  (its GEMVs and attention stream weights and KV once per token). Fitted on CPU decode
  tokens/s of ``data/measurements/published/cpu_inference.csv``: achieved bandwidth = bytes per token
  (as the source states, or derived from the model's published config where the row says
  so) x tokens/s, over the bandwidth of the sockets the engine streams from. An engine that
  places weights per NUMA node (KTransformers' dual-socket mode) streams from every socket; one
  that does not streams at one socket's bandwidth (a dual-socket host without NUMA binding is
  no faster than one socket, the Leaseweb rows). The fit is the geometric mean of the
  sources' geometric means (each source weighs the same); :func:`leave_one_source_out` refits
  without each source and scores it.
- ``MATRIX_EFFICIENCY``: the fraction of the AMX int8 / bf16 peak CPU expert GEMMs reach in a
  prefill (about 64 tokens per expert): one source (KTransformers V0.3 AMX kernel), so no
  held-out check is possible; stated as such.
"""

from __future__ import annotations

import csv
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from hetsim.errors import MeasurementError

DATA = Path(__file__).resolve().parents[3] / "data" / "measurements" / "published" / "cpu_inference.csv"
STREAM_EFFICIENCY = 0.39  # committed in the CPU presets (hardware/presets/xeon-*.yaml, epyc-*, grace)
MATRIX_EFFICIENCY = 0.036
_GB = {"gb": 1e9, "gib": 2**30}


@dataclass(frozen=True, slots=True)
class CpuRow:
    source: str
    metric: str
    value: float  # tokens/s
    bandwidth_bytes_per_s: float  # of the sockets the engine streams from
    work: float  # bytes per token (decode) or flop per token (prefill)
    sockets: int
    hardware: str

    @property
    def achieved(self) -> float:
        """Bytes/s (decode) or flop/s (prefill) the row achieved."""
        return self.value * self.work


def _number(pattern: str, text: str, where: str) -> re.Match[str]:
    m = re.search(pattern, text, re.I)
    if m is None:
        raise MeasurementError(f"{where}: cannot read {pattern!r} from {text!r}")
    return m


def read_rows(path: Path = DATA) -> list[CpuRow]:
    """The CPU rows with what the fit needs, read from the row's own text."""
    out = []
    with path.open(newline="") as fh:
        for i, r in enumerate(csv.DictReader(fh), start=2):
            where = f"{path.name}:{i}"
            hw, prec, fw = r["hardware"], r["precision"], r["framework"]
            per_socket = float(_number(r"([0-9.]+)\s*GB/s", hw, where).group(1)) * 1e9
            m = re.match(r"\s*(\d)x ", hw)
            sockets = int(m.group(1)) if m else 1
            used = sockets if "numa-aware" in fw.lower() else 1  # see the module docstring
            if r["metric"] == "prefill_tokens_per_s":
                work = float(_number(r"([0-9.]+)\s*GFLOP per token", prec, where).group(1)) * 1e9
            else:
                g = _number(r"([0-9.]+)\s*(GiB|GB)", prec, where)
                work = float(g.group(1)) * _GB[g.group(2).lower()]
            out.append(
                CpuRow(r["source_id"], r["metric"], float(r["value"]), used * per_socket, work, sockets, hw)
            )
    return out


def decode_rows(rows: list[CpuRow]) -> list[CpuRow]:
    return [r for r in rows if r.metric == "decode_tokens_per_s"]


def fit_stream(rows: list[CpuRow]) -> float:
    """Geometric mean over sources of each source's geometric mean achieved / datasheet."""
    by: dict[str, list[float]] = defaultdict(list)
    for r in decode_rows(rows):
        by[r.source].append(math.log(r.achieved / r.bandwidth_bytes_per_s))
    if not by:
        raise MeasurementError("no CPU decode rows to fit")
    return math.exp(sum(sum(v) / len(v) for v in by.values()) / len(by))


def predict_decode(r: CpuRow, eff: float) -> float:
    """Tokens/s of a decode that streams ``r.work`` bytes per token at ``eff`` of bandwidth."""
    return eff * r.bandwidth_bytes_per_s / r.work


def leave_one_source_out(rows: list[CpuRow]) -> dict[str, tuple[float, float]]:
    """source -> (knob fitted without it, mean |relative error| of its rows under that knob)."""
    out = {}
    for src in sorted({r.source for r in decode_rows(rows)}):
        eff = fit_stream([r for r in rows if r.source != src])
        held = [r for r in decode_rows(rows) if r.source == src]
        err = sum(abs(predict_decode(r, eff) / r.value - 1) for r in held) / len(held)
        out[src] = (eff, err)
    return out


def fit_matrix(rows: list[CpuRow], peak_flop_per_s_per_socket: float) -> float:
    """Achieved / peak of the prefill rows (one source: reported, not held out)."""
    pre = [r for r in rows if r.metric == "prefill_tokens_per_s"]
    if not pre:
        raise MeasurementError("no CPU prefill rows to fit")
    return sum(r.achieved / (peak_flop_per_s_per_socket * r.sockets) for r in pre) / len(pre)
