"""Timings for the H2M2 speed targets (issue 4, §9; issue 7): the greedy placement per call,
the oracle's exhaustive search on GPT3-175B, and the whole `reproduce h2m2` — all on the
shared placement path (the op graph priced by ``hetsim.placement``)."""

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
    from hetsim.experiments.h2m2 import _step, step, systems
    from hetsim.experiments.h2m2_knobs import CALIBRATED
    from hetsim.placement.policies import get_policy

    sys = systems(CALIBRATED)
    st = step("gpt3-175b", 32, 1024, sys.h2m2, CALIBRATED)
    greedy, oracle = get_policy("h2m2"), get_policy("oracle")
    n = 20
    # a fresh (unmemoised) step each call: the greedy prices its three group tables
    fresh = [_step("gpt3-175b", 32, 1024 + i, sys.h2m2, CALIBRATED, 1) for i in range(n)]
    greedy_s = _best(lambda: [greedy(f.problem) for f in fresh], 1) / n
    greedy(st.problem)
    cached_s = _best(lambda: [greedy(st.problem) for _ in range(200)], 3) / 200
    step_s = _best(lambda: _step("gpt3-175b", 32, 1024, sys.h2m2, CALIBRATED, 1), 5)
    oracle_s = _best(lambda: oracle(st.problem), 3)
    with tempfile.TemporaryDirectory() as d:
        t, c = time.perf_counter(), time.process_time()
        run_h2m2(Path(d))
        whole_s, whole_cpu_s = time.perf_counter() - t, time.process_time() - c
    return {
        # the greedy prices its group tables through the op graph (3 broadcasts), then reads
        # them (the retired table mapper's < 0.1 ms target excluded building its tables)
        "h2m2_greedy_call_ms (pricing its tables)": greedy_s * 1e3,
        "h2m2_greedy_call_ms (target < 0.1, tables priced)": cached_s * 1e3,
        "h2m2_decode_step_ms": step_s * 1e3,
        "h2m2_oracle_gpt3_s (target < 0.5)": oracle_s,
        "reproduce_h2m2_s (target <= 14.3)": whole_s,
        "reproduce_h2m2_cpu_s": whole_cpu_s,
    }


if __name__ == "__main__":
    for k, v in run().items():
        print(f"{k:40s} {v:10.4f}")
