"""Properties of the serving loop: monotonicity in rate and KV capacity, the closed-form KV-block
counts against a brute-force walk, and memory that stays flat in the requests served."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hetsim.engines.batching import EngineConfig
from hetsim.hardware.loader import get_hardware
from hetsim.serving import get_engine, make_requests, simulate_serving
from hetsim.serving.budget import get_pricer
from hetsim.serving.kvcache import BlockPool
from hetsim.serving.loop import LoopLog, run_engine
from hetsim.serving.requests import RequestSet
from hetsim.serving.schedulers import REGISTRY
from hetsim.serving.search import window
from hetsim.workload.dtypes import Precision
from hetsim.workload.registry import get_model

MODEL, HW = "llama3-8b", "h100-sxm"


def _ttft_ms(rate: float, engine: str) -> tuple[np.ndarray, np.ndarray]:
    """(K,) TTFT (ms) of 600 requests (the same draws, their gaps scaled by 1 / rate) and the
    steady window's mask (the same requests at every rate)."""
    reqs = make_requests(600, rate_per_s=rate, input_len=512, output_len=128, seed=5)
    res = simulate_serving(MODEL, HW, reqs, engine=engine)
    return (res.first_token_s - res.arrival_s) * 1e3, window(res)


def test_a_higher_rate_can_lower_mean_ttft_at_low_load() -> None:
    """The strict property is false (docs/serving.md, "TTFT and the arrival rate"): at low load
    a request's TTFT is its prefill plus the rest of the iteration in flight when it arrives, and
    compressing the same arrivals moves them to other phases of the iterations. vLLM at 4 and
    4.5 req/s: the steady window's mean TTFT falls by 0.06 ms, well within its noise."""
    (a, w), (b, _) = _ttft_ms(4.0, "vllm"), _ttft_ms(4.5, "vllm")
    assert float(np.mean(b[w])) < float(np.mean(a[w]))
    d = (b - a)[w]
    assert abs(float(np.mean(d))) < float(np.std(d, ddof=1) / np.sqrt(len(d)))


@settings(max_examples=6, deadline=None)
@given(
    rate=st.floats(5.0, 40.0),
    factor=st.floats(1.05, 1.6),
    engine=st.sampled_from(["vllm", "trtllm", "sglang"]),
)
def test_a_higher_rate_never_lowers_mean_ttft_beyond_its_phase_noise(
    rate: float, factor: float, engine: str
) -> None:
    """The same requests sent faster: the steady window's mean TTFT never falls by more than
    three standard errors of the mean per-request change (the phase noise above; over 180 draws
    of this range the worst was -0.35 of one standard error)."""
    (a, w), (b, _) = _ttft_ms(rate, engine), _ttft_ms(rate * factor, engine)
    d = (b - a)[w]
    assert float(np.mean(d)) >= -3 * float(np.std(d, ddof=1) / np.sqrt(len(d)))


def _run_on(reqs: RequestSet, blocks: int, eng: EngineConfig) -> LoopLog:
    """One engine instance with exactly ``blocks`` KV blocks (the pricing only sets the times)."""
    longest = int(np.max(reqs.input_len + reqs.output_len))
    pricer = get_pricer(get_model(MODEL), get_hardware(HW), Precision(), eng, 1, longest)
    return run_engine(reqs, eng, pricer, total_blocks=blocks, kv_bytes_per_token=1.0)


def _offline(prompts: list[int], outputs: list[int]) -> RequestSet:
    return RequestSet(np.zeros(len(prompts)), np.array(prompts), np.array(outputs), "offline")


def test_more_kv_capacity_can_add_preemptions() -> None:
    """The property "more KV capacity never increases preemptions" is false for an engine that
    admits a request on its prompt's blocks and grows on demand (vLLM V1; docs/serving.md,
    "Preemptions and KV capacity"). Two 64-token prompts of 16 output tokens, 16-token blocks:
    with 5-7 blocks the second waits for the first (0 preemptions); with 8-9 both are admitted,
    both need a fifth block at their first decode and the newer one is preempted; with 10 (each
    request's 5 blocks, the bound below) nothing is."""
    eng = get_engine("vllm").with_(prefix_caching=False)
    got = [int(_run_on(_offline([64, 64], [16, 16]), c, eng).preemptions.sum()) for c in range(5, 12)]
    assert got == [0, 0, 0, 1, 1, 0, 0]


def test_the_counterexample_hypothesis_found_is_pinned() -> None:
    """The draw that failed the old monotonicity property: Llama-3-8B on H100, vLLM with 512
    sequences, 300 offline requests (uniform 200-1500 in, 100-1500 out, seed 2), at the
    11,043 and 13,603 KV blocks that memory_utilization 0.462890625 and 0.525390625 gave. The
    larger cache admits 236 instead of 196 requests in the first wave and preempts one more time
    over the run (each completion's blocks are refilled by waiting prompts and the running set
    outgrows the pool again, so preemptions count completions while requests wait)."""
    reqs = make_requests(
        300, arrival="offline", input_len="uniform:200:1500", output_len="uniform:100:1500", seed=2
    )
    for mode, small_big in (("recompute", (152, 153)), ("swap", (154, 157))):
        eng = get_engine("vllm").with_(preemption=mode, max_num_seqs=512)
        got = tuple(int(_run_on(reqs, c, eng).preemptions.sum()) for c in (11_043, 13_603))
        assert got == small_big, mode


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.tuples(st.integers(1, 700), st.integers(1, 700)), min_size=1, max_size=16),
    gaps=st.lists(st.floats(0.0, 0.05), min_size=16, max_size=16),
    scheduler=st.sampled_from(sorted(REGISTRY)),
    mode=st.sampled_from(["recompute", "swap"]),
    max_seqs=st.integers(1, 20),
    block=st.sampled_from([1, 16, 32]),
    chunk=st.sampled_from([64, 512, 2048]),
    extra=st.integers(0, 2),
)
def test_no_preemption_once_the_running_set_fits_at_full_length(
    lengths: list[tuple[int, int]], gaps: list[float], scheduler: str, mode: str, max_seqs: int,
    block: int, chunk: int, extra: int,
) -> None:  # fmt: skip
    """What does hold (docs/serving.md, "Preemptions and KV capacity"): with at least as many
    blocks as the ``max_num_seqs`` largest requests need at their full length (prompt + output),
    no scheduler ever preempts, however requests arrive. Exactly at that bound too, so a block
    leaked, double counted or allocated beyond a request's length fails it."""
    P = [p for p, _ in lengths]
    G = [g for _, g in lengths]
    arrival = np.cumsum(gaps[: len(P)]) - gaps[0]
    reqs = RequestSet(arrival, np.array(P), np.array(G), "poisson")
    eng = get_engine("vllm").with_(
        prefix_caching=False, preemption=mode, max_num_seqs=max_seqs, block_size=block,
        max_num_batched_tokens=max(chunk, max_seqs), scheduler=scheduler,
        chunked_prefill=scheduler != "prefill-first" or max(P) > chunk,
    )  # fmt: skip
    need = sorted(-(-(p + g) // block) for p, g in lengths)
    bound = sum(need[-max_seqs:])
    log = _run_on(reqs, bound + extra, eng)
    assert not log.truncated and bool(np.all(np.isfinite(log.finish_s)))
    assert int(log.preemptions.sum()) == 0


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
