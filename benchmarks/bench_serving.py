"""Serving-simulator speed and memory (issue 22): 100,000 requests under 3 CPU s on one core with
every scheduler; a loop over 10^6 requests whose memory stays flat in the requests finished; the
steady-state rate search moving < 5% between 2,000 and 20,000 requests. CPU time of this process
is reported (wall time on the shared machine overstates it)."""

from __future__ import annotations

import time
import tracemalloc

from hetsim.serving import make_requests, simulate_serving
from hetsim.serving.budget import _PRICERS
from hetsim.serving.schedulers import REGISTRY


def _timed(n: int, out_len: int = 256, rate: float = 8.0, scheduler: str | None = None) -> tuple[float, int]:
    reqs = make_requests(n, rate_per_s=rate, input_len=467, output_len=out_len, seed=0)
    t = time.process_time()
    r = simulate_serving("llama3-70b", "h100-sxm", reqs, engine="trtllm", tp=4, scheduler=scheduler)
    return time.process_time() - t, r.steps


def _flat(n: int) -> tuple[float, float, float]:
    """(traced MiB when a quarter, half and all of ``n`` requests have finished)."""
    reqs = make_requests(n, rate_per_s=60, input_len=256, output_len=64, seed=1)
    seen: dict[float, float] = {}

    def progress(done: int) -> None:
        for q in (0.25, 0.5, 0.95):
            if done >= q * n and q not in seen:
                seen[q] = tracemalloc.get_traced_memory()[0] / 2**20

    simulate_serving("llama3-8b", "h100-sxm", make_requests(500, rate_per_s=60, input_len=256, output_len=64))
    tracemalloc.start()
    simulate_serving("llama3-8b", "h100-sxm", reqs, engine="vllm", progress=progress)
    tracemalloc.stop()
    return seen[0.25], seen[0.5], seen[0.95]


def _search(n: int) -> float:
    from hetsim.serving.search import max_rate_meeting_slo

    s = max_rate_meeting_slo("llama3-8b", "h100-sxm", slo={"ttft": 0.5, "tpot": 0.05}, n_requests=n,
                             input_len=512, output_len=128, engine="vllm")  # fmt: skip
    return s.max_rate_per_s


def run() -> dict[str, float]:
    _PRICERS.clear()
    cold, _ = _timed(500)  # includes building the iteration-cost tables
    warm = min(_timed(500)[0] for _ in range(3))
    out = {
        "500 req 70B 4xH100 QPS 8, tables cached [CPU s] (target < 0.2)": warm,
        "500 req 70B 4xH100 QPS 8, cold incl. cost tables [CPU s]": cold,
    }
    for name in sorted(REGISTRY):
        big, _ = _timed(100_000, scheduler=None if name == "fcfs" else name)
        out[f"100,000 req 70B 4xH100 QPS 8, {name} [CPU s] (target <= 3)"] = big
    q1, q2, q3 = _flat(1_000_000)
    out["10^6 req: traced MiB at 25% finished"] = q1
    out["10^6 req: traced MiB at 50% finished"] = q2
    out["10^6 req: traced MiB at 95% finished (flat: within 5% of 25%)"] = q3
    r2, r20 = _search(2000), _search(20000)
    out["--max-rate at 2,000 requests [req/s]"] = r2
    out["--max-rate at 20,000 requests [req/s] (target: within 5%)"] = r20
    return out
