"""Properties of the serving loop: monotonicity in rate and KV capacity, the closed-form KV-block
counts against a brute-force walk, and memory that stays flat in the requests served."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hetsim.serving import get_engine, make_requests, simulate_serving
from hetsim.serving.kvcache import BlockPool
from hetsim.serving.search import window

MODEL, HW = "llama3-8b", "h100-sxm"


@settings(max_examples=6, deadline=None)
@given(
    rate=st.floats(5.0, 40.0),
    factor=st.floats(1.05, 1.6),
    engine=st.sampled_from(["vllm", "trtllm", "sglang"]),
)
def test_a_higher_rate_never_lowers_mean_ttft_in_steady_state(
    rate: float, factor: float, engine: str
) -> None:
    """The same requests (same seed) sent faster: the steady window's mean TTFT never falls."""

    def ttft(r: float) -> float:
        reqs = make_requests(600, rate_per_s=r, input_len=512, output_len=128, seed=5)
        res = simulate_serving(MODEL, HW, reqs, engine=engine)
        w = window(res)
        return float(np.mean((res.first_token_s - res.arrival_s)[w]))

    assert ttft(rate * factor) >= ttft(rate) * (1 - 1e-9)


@settings(max_examples=6, deadline=None)
@given(util=st.floats(0.24, 0.5), more=st.floats(0.02, 0.3), mode=st.sampled_from(["recompute", "swap"]))
def test_more_kv_capacity_never_increases_preemptions(util: float, more: float, mode: str) -> None:
    reqs = make_requests(
        300, arrival="offline", input_len="uniform:200:1500", output_len="uniform:100:1500", seed=2
    )
    eng = get_engine("vllm").with_(preemption=mode, max_num_seqs=512)
    small = simulate_serving(MODEL, HW, reqs, engine=eng.with_(memory_utilization=util))
    big = simulate_serving(MODEL, HW, reqs, engine=eng.with_(memory_utilization=min(util + more, 0.95)))
    assert big.kv_blocks_total > small.kv_blocks_total
    assert big.preemptions <= small.preemptions


@settings(max_examples=60, deadline=None)
@given(
    own=st.lists(st.integers(0, 300), min_size=1, max_size=30),
    bs=st.sampled_from([1, 2, 3, 16, 64]),
    clock=st.integers(0, 1000),
    k=st.integers(1, 400),
    free=st.integers(0, 500),
)
def test_block_counts_in_closed_form_match_a_token_by_token_walk(
    own: list[int], bs: int, clock: int, k: int, free: int
) -> None:
    pool = BlockPool(10**6, bs)
    for o in own:  # a sequence with o own tokens now has base o - clock
        pool.join(o - clock)

    def walk(steps: int) -> int:
        return sum(-(-(o + steps) // bs) - (-(-o // bs)) for o in own)

    assert pool.new_blocks(clock, k) == walk(k)
    assert pool.grow_next(clock) == walk(1)
    if walk(1) <= free:
        got = pool.steps_within(clock, free, k)
        best = max(j for j in range(1, k + 1) if walk(j) <= free)
        assert got == best


def test_memory_stays_flat_in_the_requests_finished() -> None:
    """Past the record limit the loop keeps state for the requests in the engine only: the
    memory traced while it runs does not grow between a quarter and all of the requests done."""
    import tracemalloc

    from hetsim.serving import runlog

    n = 12_000
    reqs = make_requests(n, rate_per_s=80, input_len=256, output_len=32, seed=1)
    peaks: list[int] = []

    def progress(done: int) -> None:
        if done > n // 4:
            peaks.append(tracemalloc.get_traced_memory()[0])

    old = runlog.RECORD_LIMIT
    try:
        import hetsim.serving.loop as loop
        import hetsim.serving.state as state

        loop.RECORD_LIMIT = state.RECORD_LIMIT = 1000  # the streaming regime, at a test's size
        simulate_serving(MODEL, HW, reqs, engine="vllm")  # cost tables built outside the trace
        tracemalloc.start()
        simulate_serving(MODEL, HW, reqs, engine="vllm", progress=progress)
        tracemalloc.stop()
    finally:
        loop.RECORD_LIMIT = state.RECORD_LIMIT = old
    assert len(peaks) > 5
    assert max(peaks) - min(peaks) < 2e6  # under 2 MB of growth over 9,000 requests finished
