"""The highest Poisson request rate that meets the SLOs (bisection over rate).

A rate "meets" the SLOs when at least ``attainment`` of its requests meet every SLO. The
search brackets the answer between a very low rate and 1.5x the offline (all-at-once)
request throughput, which no open-loop rate can sustain, and bisects ``iterations`` times;
every evaluation uses the same seed, so the answer is reproducible. It assumes attainment
falls with rate (true of a work-conserving queue; a noisy seed can bend it near the answer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hetsim.errors import ConfigError
from hetsim.serving.api import simulate_serving
from hetsim.serving.requests import Arrival, LengthDist, make_requests


@dataclass(frozen=True, slots=True)
class RateSearch:
    max_rate_per_s: float  # 0 when even the lowest rate misses the SLOs
    attainment: float  # at that rate
    offline_throughput_per_s: float
    evaluations: list[tuple[float, float]] = field(default_factory=list)  # (rate, attainment)
    note: str = ""


def max_rate_meeting_slo(
    model: Any,
    hardware: Any,
    *,
    slo: dict[str, float],
    n_requests: int,
    input_len: LengthDist | int,
    output_len: LengthDist | int,
    attainment: float = 0.9,
    iterations: int = 10,
    seed: int = 0,
    **sim: Any,
) -> RateSearch:
    """Bisect the Poisson rate (requests/s); ``sim`` goes to :func:`simulate_serving`."""
    if not slo:
        raise ConfigError("--max-rate needs --slo (e.g. --slo ttft=0.5,tpot=0.05)")
    if not 0 < attainment <= 1:
        raise ConfigError(f"--slo-attainment must be in (0, 1], got {attainment}")

    def run(arrival: Arrival, rate: float | None) -> float:
        reqs = make_requests(
            n_requests,
            arrival=arrival,
            rate_per_s=rate,
            input_len=input_len,
            output_len=output_len,
            seed=seed,
        )
        r = simulate_serving(model, hardware, reqs, slo=slo, **sim)
        if arrival == "offline":
            return r.request_throughput_per_s
        return r.slo_attainment

    cap = run("offline", None)
    lo, hi = cap * 1e-3, cap * 1.5
    evals: list[tuple[float, float]] = []
    a_lo = run("poisson", lo)
    evals.append((lo, a_lo))
    if a_lo < attainment:
        return RateSearch(0.0, a_lo, cap, evals, f"the SLOs are missed even at {lo:.3g} req/s")
    best = (lo, a_lo)
    for _ in range(iterations):
        mid = (lo + hi) / 2
        a = run("poisson", mid)
        evals.append((mid, a))
        if a >= attainment:
            lo, best = mid, (mid, a)
        else:
            hi = mid
    return RateSearch(best[0], best[1], cap, evals)
