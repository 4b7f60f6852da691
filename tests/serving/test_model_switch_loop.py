"""Model switching inside the serving loop: one active model, the others' requests waiting, each
switch charged model bytes / bandwidth, every request served once."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hetsim.errors import ConfigError
from hetsim.hardware.loader import get_hardware
from hetsim.serving import get_engine
from hetsim.serving.budget import get_pricer
from hetsim.serving.loop import LoopLog, run_engine
from hetsim.serving.model_switch import SwitchingScheduler
from hetsim.serving.requests import RequestSet
from hetsim.serving.schedulers import REGISTRY, get_scheduler
from hetsim.serving.schedulers.base import Batch, Scheduler
from hetsim.serving.state import EngineState, WaitQueue
from hetsim.workload.dtypes import Precision
from hetsim.workload.registry import get_model

ENG = get_engine("vllm").with_(prefix_caching=False)
GB = 1e9


def _run(reqs: RequestSet, sched: SwitchingScheduler | None, blocks: int = 4000) -> LoopLog:
    longest = int(np.max(reqs.input_len + reqs.output_len))
    pricer = get_pricer(get_model("llama3-8b"), get_hardware("h100-sxm"), Precision(), ENG, 1, longest)
    return run_engine(reqs, ENG, pricer, total_blocks=blocks, kv_bytes_per_token=1.0, scheduler=sched)


def _switching(
    models: list[str], size_gb: float = 16.0, bw: float = 50e9, **kw: object
) -> SwitchingScheduler:
    sizes = {m: size_gb * GB for m in sorted(set(models))}
    return SwitchingScheduler(get_scheduler("fcfs"), models, sizes, bw, **kw)  # type: ignore[arg-type]


def _mix(n: int, rate: float, models: list[str], seed: int = 1) -> RequestSet:
    rng = np.random.default_rng(seed)
    arr = np.cumsum(rng.exponential(1 / rate, n))
    return RequestSet(arr, rng.integers(64, 600, n), rng.integers(8, 120, n), "poisson", rate)


def test_one_model_warm_is_the_plain_loop() -> None:
    reqs = _mix(60, 20.0, [])
    plain = _run(reqs, None)
    sw = _switching(["a"] * 60, warm=["a"])
    log = _run(reqs, sw)
    assert sw.switches == 0 and np.array_equal(log.finish_s, plain.finish_s)
    assert np.array_equal(log.first_token_s, plain.first_token_s)


def test_conservation_and_one_model_at_a_time() -> None:
    models = [["a", "b", "c"][k % 3] for k in range(90)]
    reqs = _mix(90, 30.0, models)
    sw = _switching(models)
    log = _run(reqs, sw)
    assert not log.truncated and np.all(np.isfinite(log.finish_s))
    assert np.all(log.first_token_s >= reqs.arrival_s) and np.all(log.finish_s >= log.first_token_s)
    # runs of one model never overlap: sorted by first token, a model's requests form blocks whose
    # spans are disjoint, and there are as many blocks as switches
    order = np.argsort(log.first_token_s, kind="stable")
    seq = [models[i] for i in order]
    blocks = 1 + sum(a != b for a, b in itertools.pairwise(seq))
    assert sw.switches == blocks  # cold start included: every block began with a copy
    start = 0
    spans = []
    for k in range(1, len(seq) + 1):
        if k == len(seq) or seq[k] != seq[start]:
            idx = order[start:k]
            spans.append((log.first_token_s[idx].min(), log.finish_s[idx].max()))
            start = k
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    assert sw.switch_s == pytest.approx(sw.switches * 16 * GB / 50e9)


def test_switch_time_is_model_bytes_over_bandwidth() -> None:
    """Requests far apart, alternating models: each one's TTFT is the warm TTFT plus one copy."""
    n = 6
    reqs = RequestSet(100.0 * np.arange(n, dtype=float), np.full(n, 256), np.full(n, 16), "poisson")
    warm = _run(reqs, None).first_token_s - reqs.arrival_s
    for size_gb, bw in ((16.0, 50e9), (32.0, 50e9), (16.0, 25e9), (140.0, 64e9)):
        sw = _switching(["x", "y"] * (n // 2), size_gb, bw)
        ttft = _run(reqs, sw).first_token_s - reqs.arrival_s
        assert sw.switches == n
        assert ttft - warm == pytest.approx(np.full(n, size_gb * GB / bw), rel=1e-9)


def test_more_slots_never_switch_more_and_a_resident_model_costs_nothing() -> None:
    models = [["a", "b"][k % 2] for k in range(40)]
    reqs = RequestSet(50.0 * np.arange(40, dtype=float), np.full(40, 128), np.full(40, 8), "poisson")
    one, two = _switching(models), _switching(models, slots=2)
    _run(reqs, one)
    _run(reqs, two)
    assert one.switches == 40 and two.switches == 2  # both fit: only the cold copies


def test_bad_switch_inputs_are_refused() -> None:
    with pytest.raises(ConfigError, match="no size for model 'b'"):
        SwitchingScheduler(get_scheduler("fcfs"), ["a", "b"], {"a": GB}, 1e9)
    with pytest.raises(ConfigError, match="positive"):
        SwitchingScheduler(get_scheduler("fcfs"), ["a"], {"a": GB}, 0.0)
    with pytest.raises(ConfigError):
        SwitchingScheduler(get_scheduler("fcfs"), ["a"], {"a": GB}, 1e9, slots=0)


class _OneModelAtATime(Scheduler):
    """A wrapped scheduler that checks, at every batch it forms, that the running requests (and the
    ones it was shown) name one model."""

    name, summary, source = "spy", "", ""

    def __init__(self, inner: Scheduler, models: list[str]) -> None:
        self.inner, self.models, self.batches = inner, models, 0

    def queue(self, st: EngineState) -> WaitQueue:
        return self.inner.queue(st)

    def victim(self, st: EngineState) -> int:
        return self.inner.victim(st)

    def form(self, st: EngineState, t: float) -> Batch:
        shown = [st.rid[st.waiting.peek()]] if len(st.waiting) else []
        running = {self.models[st.rid[i]] for i in (*st.dec, *st.pf)} | {self.models[r] for r in shown}
        assert len(running) <= 1, running
        batch = self.inner.form(st, t)
        assert len({self.models[st.rid[i]] for i in (*st.dec, *st.pf)}) <= 1
        self.batches += 1
        return batch


@pytest.mark.parametrize("name", sorted(REGISTRY))
@pytest.mark.parametrize("blocks", [4000, 300])  # 300: tight, requests are preempted
def test_every_scheduler_switches_one_model_at_a_time_and_serves_every_request(
    name: str, blocks: int
) -> None:
    models = [["a", "b", "c"][k % 3] for k in range(60)]
    reqs = _mix(60, 30.0, models, seed=2)
    spy = _OneModelAtATime(get_scheduler(name), models)
    sw = SwitchingScheduler(spy, models, {m: 16 * GB for m in "abc"}, 50e9)
    log = _run(reqs, sw, blocks)
    assert not log.truncated and np.all(np.isfinite(log.finish_s)) and spy.batches > 0
    assert np.all(log.first_token_s >= reqs.arrival_s) and np.all(log.finish_s >= log.first_token_s)
    assert 3 <= sw.switches and sw.switch_s == pytest.approx(sw.switches * 16 * GB / 50e9)
    # the copies are time the engine spends: the run ends no sooner than all of them
    assert np.max(log.finish_s) >= sw.switch_s


def test_a_prefix_cache_shared_across_models_is_refused() -> None:
    two = np.zeros(2, dtype=np.int64)
    reqs = RequestSet(
        np.zeros(2), np.full(2, 256), np.full(2, 8), "offline", prefix_id=two, prefix_tokens=two + 128
    )
    eng = get_engine("vllm").with_(prefix_caching=True)
    pricer = get_pricer(get_model("llama3-8b"), get_hardware("h100-sxm"), Precision(), eng, 1, 264)
    sw = _switching(["a", "b"])
    with pytest.raises(ConfigError, match="prefix caching off"):
        run_engine(reqs, eng, pricer, total_blocks=4000, kv_bytes_per_token=1.0, scheduler=sw)
