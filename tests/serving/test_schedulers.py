"""Every registered scheduler: conservation (every request admitted finishes or is reported
dropped; every token asked is produced; KV blocks never above the pool and all freed at the
end), determinism by seed, and the behaviour that defines it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hetsim.engines.batching import EngineConfig
from hetsim.hardware.loader import get_hardware
from hetsim.serving import get_engine, make_requests, simulate_serving
from hetsim.serving.budget import get_pricer
from hetsim.serving.kvcache import BlockPool
from hetsim.serving.loop import LoopLog, run_engine
from hetsim.serving.requests import RequestSet
from hetsim.serving.schedulers import REGISTRY, get_scheduler
from hetsim.serving.schedulers.base import FifoQueue
from hetsim.serving.schedulers.stall_free import DEFAULT_CHUNK_TOKENS
from hetsim.serving.state import EngineState
from hetsim.workload.dtypes import Precision
from hetsim.workload.registry import get_model

MODEL, HW = "llama3-8b", "h100-sxm"
VLLM = get_engine("vllm").with_(prefix_caching=False)


def _reqs(seed: int = 3, n: int = 160, rate: float = 40.0) -> RequestSet:
    return make_requests(n, rate_per_s=rate, input_len="lognormal:700:500:16:4000",
                         output_len="uniform:2:300", seed=seed)  # fmt: skip


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_conservation_and_determinism(name: str) -> None:
    reqs = _reqs()
    eng = VLLM.with_(memory_utilization=0.25)  # tight: preemptions happen
    a = simulate_serving(MODEL, HW, reqs, engine=eng, scheduler=name)
    b = simulate_serving(MODEL, HW, reqs, engine=eng, scheduler=name)
    assert a.scheduler == name and a.completed == len(reqs) and not a.truncated
    assert np.array_equal(a.finish_s, b.finish_s) and np.array_equal(a.first_token_s, b.first_token_s)
    ok = np.isfinite(a.finish_s)
    assert np.all(a.first_token_s[ok] >= a.arrival_s[ok]) and np.all(a.finish_s[ok] >= a.first_token_s[ok])
    # tokens out = tokens asked: every decode step of a request produced one of its tokens, so its
    # decode time is at least (G - 1) of the shortest step and the ITL mean is the token-weighted one
    g = a.output_len
    assert a.output_throughput_tok_per_s * a.duration_s == pytest.approx(float(np.sum(g)), rel=1e-9)
    used = np.array([row[1] for row in a.timeline])
    assert used.max() <= a.kv_blocks_total and used[-1] == 0
    c = simulate_serving(MODEL, HW, _reqs(seed=4), engine=eng, scheduler=name)
    assert not np.array_equal(a.finish_s, c.finish_s)


def test_prefill_first_never_mixes_prefill_with_decodes() -> None:
    r = simulate_serving(MODEL, HW, _reqs(), engine=VLLM, scheduler="prefill-first")
    assert any(it[4] > 0 for it in r.iterations) and all(it[3] == 0 for it in r.iterations if it[4] > 0)
    f = simulate_serving(MODEL, HW, _reqs(), engine=VLLM, scheduler="fcfs")
    assert any(it[3] > 0 and it[4] > 0 for it in f.iterations)  # fcfs does mix them


def test_stall_free_bounds_the_prefill_per_iteration_and_the_inter_token_latency() -> None:
    eng = VLLM.with_(max_num_batched_tokens=8192)
    sf = simulate_serving(MODEL, HW, _reqs(rate=20), engine=eng, scheduler="stall-free")
    assert max(it[4] for it in sf.iterations) <= DEFAULT_CHUNK_TOKENS
    pf = simulate_serving(MODEL, HW, _reqs(rate=20), engine=eng, scheduler="prefill-first")
    # decodes are not held back by whole prompts: prefill-first tokens wait for prompt iterations
    assert sf.itl_s.mean < pf.itl_s.mean and sf.itl_s.p99 < pf.itl_s.p99
    assert get_scheduler("stall-free").name == "stall-free"


def test_shortest_job_first_serves_short_requests_sooner() -> None:
    reqs = make_requests(200, arrival="offline", input_len="uniform:64:2048", output_len="uniform:8:512",
                         seed=1)  # fmt: skip
    eng = VLLM.with_(max_num_seqs=16)
    sj = simulate_serving(MODEL, HW, reqs, engine=eng, scheduler="shortest-job")
    fc = simulate_serving(MODEL, HW, reqs, engine=eng, scheduler="fcfs")
    size = reqs.input_len + reqs.output_len
    short = size < np.median(size)
    ttft = sj.first_token_s - sj.arrival_s
    assert np.mean(ttft[short]) < np.mean(ttft[~short])
    assert sj.e2e_latency_s.mean < fc.e2e_latency_s.mean  # SJF minimises mean completion time


def test_priority_serves_urgent_requests_first() -> None:
    from dataclasses import replace

    base = make_requests(200, arrival="offline", input_len=512, output_len=64, seed=2)
    pri = np.where(np.arange(200) % 4 == 0, 0, 5)  # every fourth request is urgent
    reqs = replace(base, priority=pri)
    r = simulate_serving(MODEL, HW, reqs, engine=VLLM.with_(max_num_seqs=16), scheduler="priority")
    ttft = r.first_token_s - r.arrival_s
    assert np.max(ttft[pri == 0]) <= np.min(ttft[pri == 5])  # the last urgent may share an iteration


def test_static_batching_waits_for_the_whole_batch() -> None:
    reqs = make_requests(64, arrival="offline", input_len=256, output_len="uniform:4:200", seed=5)
    r = simulate_serving(MODEL, HW, reqs, engine=get_engine("hf-transformers").with_(max_num_seqs=16))
    assert r.scheduler == "static"
    first = np.sort(r.first_token_s)
    batches = [first[i : i + 16] for i in range(0, 64, 16)]  # four batches, each prefilled together
    for a, b in itertools.pairwise(batches):
        assert b.min() >= a.max()
    # a batch ends when its longest request does: the next batch's first token comes after it
    order = np.argsort(r.first_token_s)
    for k in range(3):
        done = np.max(r.finish_s[order[16 * k : 16 * k + 16]])
        assert np.min(r.first_token_s[order[16 * (k + 1) : 16 * (k + 2)]]) > done


def _run_blocks(reqs: RequestSet, blocks: int, eng: EngineConfig = VLLM) -> LoopLog:
    longest = int(np.max(reqs.input_len + reqs.output_len))
    pricer = get_pricer(get_model(MODEL), get_hardware(HW), Precision(), eng, 1, longest)
    return run_engine(reqs, eng, pricer, total_blocks=blocks, kv_bytes_per_token=1.0)


def test_fcfs_follows_vllm_v1_when_a_running_prefill_cannot_get_its_blocks() -> None:
    """vLLM V1 (vllm/v1/core/sched/scheduler.py): a running request whose next chunk gets no KV
    slots preempts the tail of the running queue, itself if it is the newest, and a step that
    preempted schedules no waiting request. A 4,000-token prompt beside a 16/400 request in 251
    blocks: its second chunk never fits while the other decodes, so it is admitted on its first
    chunk, preempted at the next step, admitted again at the one after (the loop vLLM PRs
    #21793 and #37307 describe), 200 times over the other request's 399 decode steps. With 100
    blocks it waits for the other to finish; with 277 (both at full length) both run."""
    reqs = RequestSet(np.zeros(2), np.array([16, 4000]), np.array([400, 1]), "offline")
    log = _run_blocks(reqs, 251)
    assert log.preemptions.tolist() == [0, 200] and not log.truncated
    rows = log.timeline
    for (_, _, _, w0, p0), (_, _, _, w1, p1) in itertools.pairwise(rows):
        if p1 > p0:  # the preempted request is back in the queue: nothing was admitted in that step
            assert w1 == w0 + (p1 - p0)
    assert [_run_blocks(reqs, c).preemptions.tolist() for c in (100, 277)] == [[0, 0], [0, 0]]


def test_vllm_v1_prefix_caching_keeps_a_preempted_requests_blocks() -> None:
    """With automatic prefix caching (vLLM V1's default) a request preempted by recompute leaves
    its full blocks cached; scheduled again it takes them back with its next chunk, so it is
    admitted only when both fit and computes only what was not cached. The 251-block case above:
    one preemption instead of 200, and the prompt's tokens are prefilled once plus the chunk that
    was lost at the preemption, not 200 times its first chunk."""
    reqs = RequestSet(np.zeros(2), np.array([16, 4000]), np.array([400, 1]), "offline")
    eng = get_engine("vllm")
    assert eng.prefix_caching
    cached, plain = _run_blocks(reqs, 251, eng), _run_blocks(reqs, 251)
    assert cached.preemptions.tolist() == [0, 1] and not cached.truncated
    prefill = sum(r[4] for r in cached.iterations)
    assert 16 + 4000 <= prefill <= 16 + 4000 + eng.max_num_batched_tokens
    assert sum(r[4] for r in plain.iterations) > 100 * eng.max_num_batched_tokens
    assert cached.finish_s[1] < plain.finish_s[1]
    # more blocks than the full lengths need: nothing to keep, nothing changes
    assert _run_blocks(reqs, 277, eng).preemptions.tolist() == [0, 0]


def _running_state(admit_order: list[int]) -> tuple[EngineState, list[int]]:
    """An engine state with three requests arrived at 0, 1 and 2 s, admitted (their prefills
    running) in ``admit_order``; returns it and the slots by arrival."""
    reqs = RequestSet(np.array([0.0, 1.0, 2.0]), np.array([64, 64, 64]), np.array([8, 8, 8]), "poisson")
    st = EngineState(reqs, VLLM, BlockPool(100, 16), None, FifoQueue(), prefilled=False,
                     kv_bytes_per_token=1.0, swap_bytes_per_s=1e9)  # fmt: skip
    slots = [st.enter(r, float(r)) for r in range(3)]
    for r in admit_order:
        assert st.admit_prefill(slots[r], st.pool.free) == 0
    return st, slots


@pytest.mark.parametrize("order", [[0, 2, 1], [2, 1, 0], [1, 0, 2]])
def test_vllm_v1_schedulers_preempt_the_request_admitted_last(order: list[int]) -> None:
    """vLLM V1 preempts ``self.running.pop()``: the tail of its running queue, which is the order of
    admission (a preempted request rejoins it at the tail), not of arrival. fcfs and stall-free
    follow it; prefill-first (vLLM V0, whose running queue is kept in arrival order) takes the
    newest arrival. Where the two orders differ, so do the victims."""
    st, slots = _running_state(order)
    for name in ("fcfs", "stall-free"):
        assert get_scheduler(name).victim(st) == slots[order[-1]], name
    assert get_scheduler("prefill-first").victim(st) == slots[2]
    # preempted and admitted again, a request is at the tail once more
    first = slots[order[0]]
    st.preempt(first)
    assert st.waiting.pop() == first
    st.admit_prefill(first, st.pool.free)
    assert get_scheduler("fcfs").victim(st) == first
