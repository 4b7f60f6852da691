"""The highest Poisson request rate that meets the SLOs, measured in steady state.

A rate is judged on the requests that arrive after a warm-up and before the drain: those
arriving between :data:`WARMUP` and :data:`DRAIN` of the run's arrivals (the first see an empty
engine, the last an emptying one; both flatter the engine). The rate *meets* the SLOs when at
least ``attainment`` of those requests meet every SLO (or, for an MLPerf Server scenario, when
the 99th percentiles of TTFT and TPOT are within the benchmark's limits) **and** the queue is
steady: the TTFT trend over the window (a least-squares slope times the window's length) stays
below :data:`DRIFT` of the TTFT limit (of the window's mean TTFT without one). An overloaded
rate grows its queue for as long as it runs, so a longer run can never make it pass. Near
saturation a queue also takes long to settle: a rate is only called steady when the window
is longer than the queue's relaxation time at that load, 1 / (mu (1 - sqrt(rho))^2) with mu the
offline capacity and rho = rate / mu (Morse's M/M/1 relaxation time, P. M. Morse, "Stochastic
properties of waiting lines", Operations Research 3(3), 1955; the heavy-traffic scaling holds
for a batching server too). Without it a short run reports a rate just below capacity that a
long run refutes (at 99.7% of capacity the relaxation time is hours); with it the answer moves
by a few percent between 2,000 and 20,000 requests, and the result says when a longer run
might allow a higher rate.

The search brackets the answer between 0 and the offline capacity, the steady completion rate
of all requests sent at once (:func:`capacity`: measured after the first wave and before the
drain; a run too short for that says so and brackets by its whole-run rate), which no open-loop
rate can exceed, and bisects; every evaluation uses the same seed (common random numbers), so
the answer is reproducible. The result says when the measuring window was too short to call a
steady state (fewer than :data:`MIN_WINDOW` requests, or shorter than :data:`MIN_SPAN` mean
end-to-end latencies).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hetsim.errors import ConfigError
from hetsim.serving.api import simulate_serving
from hetsim.serving.metrics import ServingResult, per_request_metrics
from hetsim.serving.requests import LengthDist, make_requests

WARMUP, DRAIN = 0.2, 0.9  # the measuring window: arrivals between these fractions of the run
DRIFT = 0.1  # the TTFT trend over the window, as a share of the TTFT limit, that counts as unsteady
MIN_WINDOW = 200  # requests in the window below which no steady state is claimed
MIN_SPAN = 10.0  # window length in mean end-to-end latencies below which no steady state is claimed


@dataclass(frozen=True, slots=True)
class Judged:
    rate_per_s: float
    attainment: float  # share of the window's requests meeting every SLO
    steady: bool
    meets: bool
    goodput_req_per_s: float  # rate x attainment


@dataclass(frozen=True, slots=True)
class RateSearch:
    max_rate_per_s: float  # 0 when even the lowest rate misses the SLOs
    attainment: float  # at that rate, in steady state
    goodput_req_per_s: float  # at that rate: requests/s meeting every SLO
    offline_throughput_per_s: float  # the steady capacity with every request sent at once
    evaluations: list[Judged] = field(default_factory=list)
    steady_state: bool = True  # the window at the answer was long enough to call it steady
    note: str = ""
    capacity_steady: bool = True  # False: the offline run was too short; capacity is its whole-run rate


def window(r: ServingResult) -> np.ndarray:
    """(K,) bool: the requests arriving between the warm-up and the drain."""
    a = r.arrival_s
    lo, hi = np.quantile(a, WARMUP), np.quantile(a, DRAIN)
    return (a >= lo) & (a <= hi)


def capacity(r: ServingResult) -> tuple[float, bool]:
    """(requests/s, steady): the completion rate of an offline run while the engine is full and
    turned over, between the finish of the first wave (the requests started before any finished,
    whose staggered admission makes their completions a transient) and the last start (then the
    drain begins). A window holding fewer completions than that first wave has no steady state:
    the whole-run rate (completed / duration, pulled below the steady rate by warm-up and drain)
    is returned with ``steady`` False."""
    ok = np.isfinite(r.finish_s)
    if not np.any(ok):
        return r.request_throughput_per_s, False
    f, ft = r.finish_s[ok], r.first_token_s[ok]
    wave = ft <= f.min()
    t0, t1 = float(f[wave].max()), float(ft.max())
    k = int(np.sum((f >= t0) & (f <= t1)))
    if t1 > t0 and k >= max(int(wave.sum()), 10):
        return k / (t1 - t0), True
    return r.request_throughput_per_s, False


def relaxation_s(rate: float, cap: float) -> float:
    """Morse's M/M/1 relaxation time at load rate / cap (s); infinite at or above capacity."""
    rho = rate / cap
    return 1.0 / (cap * (1.0 - np.sqrt(rho)) ** 2) if rho < 1 else float("inf")


def _steady(r: ServingResult, w: np.ndarray, limit: float | None, rate: float, cap: float) -> bool:
    ttft = (r.first_token_s - r.arrival_s)[w]
    a = r.arrival_s[w]
    if not np.all(np.isfinite(ttft)):
        return False  # some never got a first token: the run was cut off
    span = float(a.max() - a.min()) if a.size > 1 else 0.0
    if span < relaxation_s(rate, cap):
        return False  # too short to have settled at this load
    if span <= 0:
        return True
    slope = float(np.polyfit(a - a.min(), ttft, 1)[0])
    scale = limit if limit else max(float(np.mean(ttft)), 1e-9)
    return slope * span <= DRIFT * scale


Judge = Callable[[ServingResult, float, float], Judged]  # (run, rate, capacity) -> verdict


def slo_judge(slo: dict[str, float], attainment: float) -> Judge:
    """Meets: ``attainment`` of the window's requests meet every SLO, in steady state."""

    def judge(r: ServingResult, rate: float, cap: float) -> Judged:
        w = window(r)
        ok = r.meets_slo()[w]
        att = float(np.mean(ok)) if ok.size else 0.0
        steady = _steady(r, w, slo.get("ttft"), rate, cap)
        return Judged(rate, att, steady, steady and att >= attainment, rate * att)

    return judge


def percentile_judge(limits: dict[str, float], pct: float = 99.0) -> Judge:
    """Meets: each metric's ``pct`` percentile over the window is within its limit (MLPerf
    Server), in steady state."""

    def judge(r: ServingResult, rate: float, cap: float) -> Judged:
        w = window(r)
        per = per_request_metrics(r)
        ok = np.isfinite(r.finish_s)[w]
        good = all(
            float(np.percentile(np.nan_to_num(per[k][w], nan=np.inf), pct)) <= v for k, v in limits.items()
        )
        every = np.all([np.nan_to_num(per[k][w], nan=np.inf) <= v for k, v in limits.items()], axis=0)
        att = float(np.mean(every & ok)) if ok.size else 0.0
        steady = _steady(r, w, limits.get("ttft"), rate, cap)
        return Judged(rate, att, steady, steady and good and bool(np.all(ok)), rate * att)

    return judge


def _impossible(r: ServingResult, sim: dict[str, Any]) -> str:
    """Which SLO even the fastest request of a nearly idle engine misses ("" if none)."""
    per = per_request_metrics(r)
    out = []
    for name, limit in (sim.get("slo") or {}).items():
        x = per[name][np.isfinite(per[name])]
        if x.size and limit < float(np.min(x)):
            out.append(f"{name} <= {limit * 1e3:g} ms is impossible: the fastest request at 1% load takes "
                       f"{float(np.min(x)) * 1e3:.3g} ms")  # fmt: skip
    return "; " + "; ".join(out) if out else ""


def max_rate(
    model: Any,
    hardware: Any,
    judge: Judge,
    *,
    n_requests: int,
    input_len: LengthDist | int | str = 512,
    output_len: LengthDist | int | str = 128,
    mix: str | None = None,
    max_context: int = 0,
    iterations: int = 10,
    seed: int = 0,
    **sim: Any,
) -> RateSearch:
    """Bisect the Poisson rate (requests/s) that ``judge`` accepts; ``sim`` goes to
    :func:`simulate_serving`."""
    if n_requests < 50:
        raise ConfigError(f"--max-rate needs at least 50 requests to find a steady state, got {n_requests}")

    def run(arrival: str, rate: float | None) -> ServingResult:
        reqs = make_requests(n_requests, arrival=arrival, rate_per_s=rate, input_len=input_len,  # type: ignore[arg-type]
                             output_len=output_len, mix=mix, max_context=max_context, seed=seed)  # fmt: skip
        return simulate_serving(model, hardware, reqs, **sim)

    cap, cap_steady = capacity(run("offline", None))
    cap_note = "" if cap_steady else (
        f"the offline run of {n_requests} requests is too short for a steady state (the engine never turned "
        f"over after the first wave): capacity {cap:.3g} req/s is its whole-run rate; use more --requests"
    )  # fmt: skip
    lo, hi = 0.0, cap
    evals: list[Judged] = []
    best: Judged | None = None
    low = run("poisson", cap * 1e-2)
    first = judge(low, cap * 1e-2, cap)
    evals.append(first)
    if not first.meets:
        why = "not in steady state" if not first.steady else f"attainment {first.attainment:.1%}"
        note = f"the SLOs are missed even at {cap * 1e-2:.3g} req/s ({why}){_impossible(low, sim)}"
        return RateSearch(0.0, first.attainment, 0.0, cap, evals, first.steady, note, cap_steady)
    lo, best = cap * 1e-2, first
    for _ in range(iterations):
        mid = (lo + hi) / 2
        j = judge(run("poisson", mid), mid, cap)
        evals.append(j)
        if j.meets:
            lo, best = mid, j
        else:
            hi = mid
    res = run("poisson", best.rate_per_s)
    w = window(res)
    e2e = float(np.nanmean((res.finish_s - res.arrival_s)[w])) if np.any(w) else float("inf")
    span = float(np.ptp(res.arrival_s[w])) if np.any(w) else 0.0
    long_enough = int(np.sum(w)) >= MIN_WINDOW and span >= MIN_SPAN * e2e
    note = "" if long_enough else (
        f"could not call it a steady state: the window holds {int(np.sum(w))} requests over {span:.1f} s, "
        f"against {MIN_WINDOW} requests and {MIN_SPAN:g} x the {e2e:.2f} s mean latency; use more --requests"
    )  # fmt: skip
    short = [
        j
        for j in evals
        if not j.steady and j.rate_per_s > best.rate_per_s and j.attainment >= best.attainment
    ]
    if not note and short:
        r0 = min(j.rate_per_s for j in short)
        note = (
            f"{r0:.3g} req/s met the SLOs in this run but its queue needs {relaxation_s(r0, cap):,.0f} s "
            f"to settle, longer than the {span:,.0f} s measured; more --requests may allow a higher rate"
        )
    note = "; ".join(x for x in (note, cap_note) if x)
    return RateSearch(best.rate_per_s, best.attainment, best.goodput_req_per_s, cap, evals,
                      long_enough and cap_steady, note, cap_steady)  # fmt: skip


def max_rate_meeting_slo(
    model: Any, hardware: Any, *, slo: dict[str, float], attainment: float = 0.9, **kw: Any
) -> RateSearch:
    """The highest rate at which ``attainment`` of the requests meet every SLO (steady state)."""
    if not slo:
        raise ConfigError("--max-rate needs --slo (e.g. --slo ttft=0.5,tpot=0.05) or --scenario server")
    if not 0 < attainment <= 1:
        raise ConfigError(f"--slo-attainment must be in (0, 1], got {attainment}")
    return max_rate(model, hardware, slo_judge(slo, attainment), slo=slo, **kw)
