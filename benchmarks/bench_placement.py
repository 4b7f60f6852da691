"""Placement speed targets (issue 7): one placed analysis, a heterogeneous sweep."""

from __future__ import annotations

import time

import numpy as np


def _best(fn, repeat: int, clock=time.perf_counter) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        t = clock()
        fn()
        best = min(best, clock() - t)
    return best


def run() -> dict[str, float]:
    from hetsim.sim.inference import Workload, analyze, sweep

    w = Workload(8, 2048, 512)
    analyze("llama2-70b", "gh200", w)  # load presets once
    one = _best(lambda: analyze("llama2-70b", "gh200", w, policy="auto"), 20)
    # CPU seconds of this process: what the shared box's load does not inflate as much
    one_cpu = _best(lambda: analyze("llama2-70b", "gh200", w, policy="auto"), 20, time.process_time)
    oracle = _best(lambda: analyze("llama2-70b", "h2m2", w, policy="oracle"), 2)
    rng = np.random.default_rng(0)
    n = 10_000
    B, P, G = rng.integers(1, 64, n), rng.integers(128, 4096, n), rng.integers(16, 2048, n)
    out = {"analyze --policy auto llama2-70b gh200 B8 P2048 G512 [ms] (target < 20)": one * 1e3,
           "analyze --policy auto llama2-70b gh200 B8 P2048 G512 [CPU ms]": one_cpu * 1e3}  # fmt: skip
    for hw in ("gh200", "h2m2"):
        sweep("llama2-70b", hw, B[:10], P[:10], G[:10])
        t = _best(lambda hw=hw: sweep("llama2-70b", hw, B, P, G), 3)  # type: ignore[misc]
        out[f"sweep --policy auto llama2-70b {hw}, 10,000 configs [configs/s] (target >= 5,000)"] = n / t
    out["analyze --policy oracle llama2-70b h2m2 B8 P2048 G512 [ms]"] = oracle * 1e3
    return out
