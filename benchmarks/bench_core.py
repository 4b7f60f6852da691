"""Core speed targets (issue 2): one full analysis under 10 ms; >= 10,000 configs/s."""

from __future__ import annotations

import time

import numpy as np

from hetsim.sim.inference import Workload, analyze, sweep
from hetsim.workload.dtypes import Precision


def _best(fn: object, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t)
    return best


def run() -> dict[str, float]:
    w = Workload(64, 2048, 2048)
    analyze("llama2-70b", "h100-sxm", w, tp=4)  # load presets once
    one = _best(lambda: analyze("llama2-70b", "h100-sxm", w, tp=4), 20)
    rng = np.random.default_rng(0)
    n = 10_000
    B, P, G = rng.integers(1, 256, n), rng.integers(1, 8192, n), rng.integers(1, 4096, n)
    many = _best(lambda: sweep("llama2-70b", "h100-sxm", B, P, G, tp=4), 5)
    int4 = Precision.of("int4")  # weight-only GEMMs price two kernels each (issue 8)
    many_int4 = _best(lambda: sweep("llama2-70b", "h100-sxm", B, P, G, int4, tp=4), 5)
    # layers built from blocks (issue 20): an MoE model and an MLA + MoE model with mixed layers
    fp8 = Precision.of("fp8")
    moe = _best(lambda: analyze("mixtral-8x7b", "h100-sxm", w, tp=4), 10)
    mla = _best(lambda: analyze("deepseek-v3", "h200", w, fp8, tp=8, policy="primary"), 10)
    many_moe = _best(lambda: sweep("mixtral-8x7b", "h100-sxm", B, P, G, tp=4), 3)
    many_mla = _best(lambda: sweep("deepseek-v3", "h200", B, P, G, fp8, tp=8, policy="primary"), 3)
    return {
        "analyze llama2-70b 4xh100 B64 P2048 G2048 [ms] (target < 10)": one * 1e3,
        "sweep 10,000 configurations [configs/s] (target >= 10,000)": n / many,
        "sweep 10,000 configurations, int4 weight-only [configs/s] (target >= 10,000)": n / many_int4,
        "analyze mixtral-8x7b 4xh100 B64 P2048 G2048 [ms]": moe * 1e3,
        "analyze deepseek-v3 fp8 8xh200 B64 P2048 G2048 [ms]": mla * 1e3,
        "sweep 10,000 configurations mixtral-8x7b [configs/s]": n / many_moe,
        "sweep 10,000 configurations deepseek-v3 fp8 8xh200 [configs/s]": n / many_mla,
    }
