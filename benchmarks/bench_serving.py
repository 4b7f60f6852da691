"""Serving-simulator speed (issue 9): 500 requests of Llama-3-70B on 4xH100 at 8 req/s under
0.2 s; 100,000 requests under 10 s on one core; memory linear in requests, not tokens."""

from __future__ import annotations

import time
import tracemalloc

from hetsim.serving import make_requests, simulate_serving
from hetsim.serving.api import _PRICERS


def _timed(n: int, out_len: int = 256, rate: float = 8.0) -> tuple[float, int]:
    """CPU seconds of this process (one core; wall time on a shared machine overstates it)."""
    reqs = make_requests(n, rate_per_s=rate, input_len=467, output_len=out_len, seed=0)
    t = time.process_time()
    r = simulate_serving("llama3-70b", "h100-sxm", reqs, engine="trtllm", tp=4)
    return time.process_time() - t, r.steps


def _peak_bytes(n: int, out_len: int) -> float:
    reqs = make_requests(n, rate_per_s=8.0, input_len=467, output_len=out_len, seed=0)
    tracemalloc.start()
    simulate_serving("llama3-70b", "h100-sxm", reqs, engine="trtllm", tp=4)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return float(peak)


def run() -> dict[str, float]:
    _PRICERS.clear()
    cold, _ = _timed(500)  # includes building the iteration-cost tables
    warm = min(_timed(500)[0] for _ in range(3))
    big, steps = _timed(100_000)
    m1, m2 = _peak_bytes(20_000, 256), _peak_bytes(20_000, 1024)
    m3 = _peak_bytes(40_000, 256)
    return {
        "500 req 70B 4xH100 QPS 8, tables cached [CPU s] (target < 0.2)": warm,
        "500 req 70B 4xH100 QPS 8, cold incl. cost tables [CPU s]": cold,
        "100,000 req 70B 4xH100 QPS 8 [CPU s] (target < 10)": big,
        "  decode steps simulated in that run": float(steps),
        "peak MiB, 20k req x 256 tokens": m1 / 2**20,
        "peak MiB, 20k req x 1024 tokens (4x tokens)": m2 / 2**20,
        "peak MiB, 40k req x 256 tokens (2x requests)": m3 / 2**20,
    }
