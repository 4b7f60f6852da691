"""Speed of the one placed run (issue 19): one ``analyze`` and ``sweep`` points per second,
homogeneous and under placement ``auto`` on two-tier systems. Timed in CPU seconds of this
process (``time.process_time``, best of several), which the other work on a shared machine
inflates far less than wall time; one core (``make bench`` sets the BLAS threads to 1).

Targets: analyze llama2-70b on 4x h100-sxm, B8 2048+512, <= 1 ms; the same on gh200 with
auto <= 5 ms; sweep >= 200,000 points/s homogeneous and >= 50,000 points/s with auto on
gh200 and on h2m2."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def _per_call(fn: Callable[[], object], calls: int, repeat: int) -> float:
    def many() -> None:
        for _ in range(calls):
            fn()

    return _best(many, repeat) / calls


def run() -> dict[str, float]:
    from hetsim.sim.inference import Workload, analyze, sweep

    w = Workload(8, 2048, 512)
    analyze("llama2-70b", "h100-sxm", w, tp=4)  # presets loaded once
    analyze("llama2-70b", "gh200", w)
    homo = _per_call(lambda: analyze("llama2-70b", "h100-sxm", w, tp=4), 50, 5)
    auto = _per_call(lambda: analyze("llama2-70b", "gh200", w, policy="auto"), 20, 5)
    rng = np.random.default_rng(0)
    n = 20_000
    B, P, G = rng.integers(1, 256, n), rng.integers(1, 8192, n), rng.integers(1, 4096, n)
    sweep("llama2-70b", "h100-sxm", B[:10], P[:10], G[:10], tp=4)
    many = _best(lambda: sweep("llama2-70b", "h100-sxm", B, P, G, tp=4), 5)
    out = {
        "analyze llama2-70b 4x h100-sxm B8 2048+512 [CPU ms] (target <= 1)": homo * 1e3,
        "analyze --policy auto llama2-70b gh200 B8 2048+512 [CPU ms] (target <= 5)": auto * 1e3,
        f"sweep {n:,} points llama2-70b 4x h100-sxm [points/CPU-s] (target >= 200,000)": n / many,
    }
    B, P, G = rng.integers(1, 64, n), rng.integers(128, 4096, n), rng.integers(16, 2048, n)
    for hw in ("gh200", "h2m2"):
        sweep("llama2-70b", hw, B[:10], P[:10], G[:10])
        t = _best(lambda hw=hw: sweep("llama2-70b", hw, B, P, G), 3)  # type: ignore[misc]
        out[f"sweep --policy auto {n:,} points llama2-70b {hw} [points/CPU-s] (target >= 50,000)"] = n / t
    return out


if __name__ == "__main__":
    for k, v in run().items():
        print(f"  {k:<84s} {v:>12,.4g}")
