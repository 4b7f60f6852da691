"""Timings for the H2M2 speed targets (issue 4, §9): the greedy mapper per call, the oracle's
exhaustive search on GPT3-175B, and the whole `reproduce h2m2`."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path


def _best(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def run() -> dict[str, float]:
    from hetsim.cli.reproduce import run_h2m2
    from hetsim.cost.partition import decode_work, split_tables
    from hetsim.experiments.h2m2 import PREC, options, systems
    from hetsim.experiments.h2m2_knobs import CALIBRATED
    from hetsim.mapping import get_policy
    from hetsim.memory.paging import PAGE_BYTES
    from hetsim.workload.registry import get_model

    sys = systems(CALIBRATED)
    work = decode_work(get_model("gpt3-175b"), PREC, 32, 32 * 1024)
    tables = split_tables(work, sys.h2m2, PREC, options(CALIBRATED), page_bytes=PAGE_BYTES)
    greedy, oracle = get_policy("h2m2"), get_policy("oracle")
    n = 2000
    greedy_s = _best(lambda: [greedy(tables) for _ in range(n)], 3) / n
    tables_s = _best(lambda: split_tables(work, sys.h2m2, PREC, options(CALIBRATED)), 5)
    oracle_s = _best(lambda: oracle(tables), 3)
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        run_h2m2(Path(d))
        whole_s = time.perf_counter() - t
    return {
        "h2m2_greedy_call_ms (target < 0.1)": greedy_s * 1e3,
        "h2m2_cost_tables_ms": tables_s * 1e3,
        "h2m2_oracle_gpt3_s (target < 0.5)": oracle_s,
        "reproduce_h2m2_s (target < 30)": whole_s,
    }


if __name__ == "__main__":
    for k, v in run().items():
        print(f"{k:40s} {v:10.4f}")
