"""Serving results: latency statistics, throughput, SLO goodput, KV-cache use over time.

Definitions (per request i with arrival a, first token f, finish e, G output tokens):
TTFT = f - a; TPOT = (e - f) / (G - 1) (requests with G > 1); end-to-end = e - a. ITL is
the gap between consecutive tokens of a request, which is the duration of the iteration
that produced the later token: its distribution is the iteration durations weighted by the
decode tokens each produced (a closed-form run contributes its mean step time); its mean is
token-weighted, sum(e - f) / sum(G - 1). Throughputs divide by the makespan (first arrival
to last finish). Goodput counts the requests that meet every SLO.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hetsim.errors import ConfigError
from hetsim.workload.ops import FloatArray

SLO_METRICS = ("ttft", "tpot", "e2e")


def format_slo(slo: dict[str, float]) -> str:
    """``{"ttft": 0.5, "tpot": 0.05}`` -> ``TTFT <= 500 ms, TPOT <= 50 ms``."""
    return ", ".join(f"{k.upper()} <= {v * 1e3:,.4g} ms" for k, v in slo.items())


@dataclass(frozen=True, slots=True)
class Stats:
    """Mean and percentiles of one latency metric, seconds."""

    mean: float
    p50: float
    p90: float
    p99: float

    @classmethod
    def of(cls, x: FloatArray, weights: FloatArray | None = None) -> Stats:
        x = np.asarray(x, dtype=float)
        if x.size == 0:
            return cls(float("nan"), float("nan"), float("nan"), float("nan"))
        if weights is None:
            p = np.percentile(x, [50, 90, 99])
            return cls(float(np.mean(x)), float(p[0]), float(p[1]), float(p[2]))
        w = np.asarray(weights, dtype=float)
        order = np.argsort(x, kind="stable")
        xs, cw = x[order], np.cumsum(w[order])
        q = [float(xs[min(np.searchsorted(cw, f * cw[-1]), len(xs) - 1)]) for f in (0.5, 0.9, 0.99)]
        return cls(float(np.sum(x * w) / np.sum(w)), *q)

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "p50": self.p50, "p90": self.p90, "p99": self.p99}


def parse_slo(text: str | None) -> dict[str, float]:
    """``ttft=0.5,tpot=0.05`` -> {"ttft": 0.5, "tpot": 0.05} (seconds)."""
    if not text:
        return {}
    out: dict[str, float] = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        name = name.strip().lower()
        if name not in SLO_METRICS:
            raise ConfigError(f"--slo names unknown metric {name!r}: use {', '.join(SLO_METRICS)} (seconds)")
        try:
            v = float(value)
        except ValueError:
            raise ConfigError(f"--slo {name}={value!r}: give a number of seconds") from None
        if not 0 < v < math.inf:
            raise ConfigError(
                f"--slo {name} must be a finite positive number of seconds, got {value.strip()}"
            )
        out[name] = v
    return out


@dataclass(frozen=True, slots=True)
class ServingResult:
    """A serving run. Per-request arrays are (K,); ``iterations`` and ``timeline`` are the
    loop's event records (see :class:`hetsim.serving.loop.LoopLog`)."""

    model: str
    hardware: str
    engine: str
    tp: int
    arrival: str
    rate_per_s: float
    n_requests: int
    completed: int
    duration_s: float
    request_throughput_per_s: float
    output_throughput_tok_per_s: float
    total_throughput_tok_per_s: float
    ttft_s: Stats
    tpot_s: Stats
    itl_s: Stats
    e2e_latency_s: Stats
    mean_in_system: float
    slo: dict[str, float]
    slo_attainment: float
    goodput_req_per_s: float
    kv_blocks_total: int
    kv_block_tokens: int
    kv_peak_utilization: float
    kv_mean_utilization: float
    preemptions: int
    iterations_priced: int
    steps: int
    truncated: str
    arrival_s: FloatArray = field(repr=False)
    first_token_s: FloatArray = field(repr=False)
    finish_s: FloatArray = field(repr=False)
    input_len: FloatArray = field(repr=False)
    output_len: FloatArray = field(repr=False)
    request_preemptions: FloatArray = field(repr=False)
    iterations: list[tuple[float, float, int, int, int]] = field(repr=False, default_factory=list)
    timeline: list[tuple[float, int, int, int, int]] = field(repr=False, default_factory=list)
    notes: list[str] = field(default_factory=list)
    switching: dict[str, Any] = field(default_factory=dict)  # serving several models (model_switch.py)
    # (gap, step, n): tokens whose gap included iterations without decodes (itl_samples)
    itl_stalls: list[tuple[float, float, int]] = field(repr=False, default_factory=list)
    policy: str = "primary"  # placement policy over the memory sides
    remaps: int = 0  # times the placement was re-decided (dynamic placement)
    migrated_bytes: float = 0.0  # moved between sides by those re-maps, per device
    migration_s: float = 0.0  # time they were charged
    # energy (cost/power.py: idle over the whole run, active floor while kernels run, dynamic
    # per op); powers are per device
    n_devices: int = 1
    energy_j: float = float("nan")  # every device, first arrival to last event
    energy_j_per_token: float = float("nan")  # per output token of the completed requests
    request_energy_j_per_token: Stats = Stats(*(float("nan"),) * 4)  # per request: its share / G
    idle_energy_share: float = float("nan")  # of energy_j, drawn at idle power
    busy_fraction: float = float("nan")  # of the run, the share the devices ran kernels
    avg_power_w: float = float("nan")  # mean over the run and the devices
    peak_power_w: float = float("nan")  # highest over one iteration (one step of a decode run)
    request_energy_j: FloatArray = field(repr=False, default_factory=lambda: np.zeros(0))
    scheduler: str = ""  # the registered scheduler that formed the batches
    # prefix cache counters (lookups, hits, hit_tokens, reloaded/evicted/dropped bytes); {} if unused
    prefix_cache: dict[str, float] = field(default_factory=dict)
    tokens_per_step: float = 1.0  # output tokens a decode step emits per sequence (speculative decoding)

    def summary(self) -> dict[str, Any]:
        """Everything but the per-request and per-event records (what ``--json`` prints)."""
        keys = [k for k in self.__dataclass_fields__ if k not in _RECORDS]
        out: dict[str, Any] = {}
        for k in keys:
            v = getattr(self, k)
            out[k] = v.as_dict() if isinstance(v, Stats) else v
        return out

    def meets_slo(self) -> np.ndarray:
        """(K,) bool: the request finished and met every SLO."""
        ok = np.isfinite(self.finish_s)
        per = _per_request(self)
        for name, limit in self.slo.items():
            ok &= np.nan_to_num(per[name], nan=np.inf) <= limit
        return ok


_RECORDS = {
    "arrival_s",
    "first_token_s",
    "finish_s",
    "input_len",
    "output_len",
    "request_preemptions",
    "iterations",
    "timeline",
    "itl_stalls",
    "request_energy_j",
}


def _per_request(r: ServingResult) -> dict[str, FloatArray]:
    g = np.asarray(r.output_len, dtype=float)
    tpot = np.where(g > 1, (r.finish_s - r.first_token_s) / np.maximum(g - 1, 1), np.nan)
    return {"ttft": r.first_token_s - r.arrival_s, "tpot": tpot, "e2e": r.finish_s - r.arrival_s}


def mean_in_system(arrival: FloatArray, finish: FloatArray, lo: float, hi: float) -> float:
    """Time-average number of requests in the system over [lo, hi], from the sweep of
    arrivals (+1) and finishes (-1)."""
    ok = np.isfinite(arrival) & np.isfinite(finish)
    a = np.clip(arrival[ok], lo, hi)
    e = np.clip(finish[ok], lo, hi)
    return float(np.sum(e - a) / (hi - lo)) if hi > lo else 0.0


def per_request_metrics(r: ServingResult) -> dict[str, FloatArray]:
    """TTFT, TPOT and end-to-end latency per request (seconds; NaN where undefined)."""
    return _per_request(r)


def rows_array(rows: Sequence[tuple[float, ...]], width: int) -> FloatArray:
    """(len(rows), width) floats from a list of equal-length tuples (twice as fast as
    ``np.asarray`` on the loop's ~10^5 records)."""
    flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=float, count=len(rows) * width)
    return flat.reshape(-1, width)


def itl_samples(
    iterations: list[tuple[float, float, int, int, int]], stalls: list[tuple[float, float, int]] | None = None
) -> tuple[FloatArray, FloatArray]:
    """(gap seconds, decode tokens produced after that gap) from the loop's records. ``stalls``:
    (gap, step, n) for n sequences whose next token waited for iterations that ran no decode
    (a prefill-first scheduler's prompts): that token's gap is ``gap``, not the ``step`` of the
    iteration that produced it."""
    if not iterations:
        return np.zeros(0), np.zeros(0)
    it: Any = rows_array(iterations, 5)
    step = it[:, 1] / it[:, 2]
    w = it[:, 2] * it[:, 3]
    if stalls:
        st = np.asarray(stalls, dtype=float)
        step = np.concatenate([step, st[:, 0], st[:, 1]])
        w = np.concatenate([w, st[:, 2], -st[:, 2]])
        step, inv = np.unique(step, return_inverse=True)
        w = np.bincount(inv, weights=w)
    keep = w > 0
    return step[keep], w[keep]
