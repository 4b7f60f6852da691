"""Refuse physically impossible results before they reach a user.

A result that is not finite, has a negative time or energy, or a utilisation outside (0, 1]
is a bug in the model or an input that slipped past validation; it is raised as
:class:`ModelError` (exit 2 from the CLI, naming the field) instead of being printed.
"""

from __future__ import annotations

import math

from hetsim.analysis.result import AnalysisResult
from hetsim.errors import ModelError

_NON_NEGATIVE = (
    "params", "weight_bytes", "kv_bytes_per_token", "footprint_bytes", "ttft_s", "tpot_s",
    "e2e_latency_s", "output_throughput_tok_per_s", "energy_j", "energy_j_per_token", "avg_power_w",
)  # fmt: skip


def check_result(r: AnalysisResult) -> AnalysisResult:
    """``r`` if every summary figure is finite and in range, else :class:`ModelError`."""
    where = f"{r.model} on {r.hardware}"
    for key in _NON_NEGATIVE:
        v = float(getattr(r, key))
        if not math.isfinite(v) or v < 0:
            raise ModelError(f"{where}: {key} came out as {v!r}; check the hardware numbers it uses")
    for key in ("ttft_s", "e2e_latency_s"):
        if float(getattr(r, key)) <= 0:
            raise ModelError(f"{where}: {key} is 0; every hardware rate and latency must be finite")
    decode = r.output_len > 1
    for key, needed in (("mfu", True), ("mbu", decode)):
        v = float(getattr(r, key))
        if not math.isfinite(v) or v > 1 or (needed and v <= 0) or v < 0:
            raise ModelError(f"{where}: {key} = {v!r} lies outside (0, 1]; this is a bug, please report it")
    for op in r.ops:
        if not (math.isfinite(op.time_s) and op.time_s >= 0 and math.isfinite(op.energy_j)):
            raise ModelError(f"{where}: operator {op.name} ({op.phase}) has time {op.time_s!r}")
    return r
