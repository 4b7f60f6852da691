"""The engine's per-request front-end time (``EngineConfig.request_overhead_s``): a request
reaches the scheduler that long after the client sends it. It is in TTFT and end-to-end
latency, never in the inter-token latency, never makes a run faster, and agrees with the
static path's TensorRT-LLM request overhead for one request alone."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hetsim.errors import ConfigError
from hetsim.serving import EngineConfig, get_engine, make_requests, simulate_serving
from hetsim.sim.frameworks import TRTLLM_REQUEST_OVERHEAD_S
from hetsim.sim.inference import Serving, Workload, analyze

MODEL, HW = "llama3-8b", "h100-sxm"


@settings(max_examples=8, deadline=None)
@given(
    engine=st.sampled_from(["trtllm", "vllm", "sglang"]),
    o=st.floats(0.0, 0.05),
    rate=st.floats(0.5, 400.0),
    p=st.integers(16, 1024),
    g=st.integers(2, 128),
    offline=st.booleans(),
)
def test_open_arrivals_shift_by_the_overhead_and_nothing_else(
    engine: str, o: float, rate: float, p: int, g: int, offline: bool
) -> None:
    """Every open arrival reaches the engine o later: the engine's run is the same run shifted
    by o, so TTFT and end-to-end latency grow by exactly o and ITL, TPOT do not move."""
    kw = {"arrival": "offline"} if offline else {"rate_per_s": rate}
    reqs = make_requests(120, input_len=p, output_len=g, seed=2, **kw)  # type: ignore[arg-type]
    eng = get_engine(engine)
    a = simulate_serving(MODEL, HW, reqs, engine=eng.with_(request_overhead_s=0.0))
    b = simulate_serving(MODEL, HW, reqs, engine=eng.with_(request_overhead_s=o))
    assert b.completed == a.completed == 120
    for name in ("ttft_s", "e2e_latency_s"):
        assert getattr(b, name).mean == pytest.approx(getattr(a, name).mean + o, rel=1e-9, abs=1e-9)
    assert b.itl_s.mean == pytest.approx(a.itl_s.mean, rel=1e-9)
    assert b.tpot_s.mean == pytest.approx(a.tpot_s.mean, rel=1e-9)
    assert np.all(b.first_token_s - b.arrival_s >= o)
    assert b.request_throughput_per_s <= a.request_throughput_per_s * (1 + 1e-12)
    assert np.isfinite([b.ttft_s.mean, b.itl_s.mean, b.energy_j]).all()


@settings(max_examples=5, deadline=None)
@given(o1=st.floats(0.0, 0.02), extra=st.floats(1e-4, 0.05), users=st.integers(1, 64))
def test_closed_loop_users_wait_for_the_front_end(o1: float, extra: float, users: int) -> None:
    """In a closed loop each user sends the next request when the last one returns, so a
    longer front end never raises throughput; fewer requests then wait in the engine, but the
    mean TTFT (front end included) never falls. The mean end-to-end latency can: with 52 users
    of 256 + 64 tokens, 7.8 ms more front end leaves fewer sequences per decode step, and the
    steps get faster by more than that (0.8855 s -> 0.8825 s, the same before and after the
    scheduler refactor), so only its per-request floor is asserted."""
    reqs = make_requests(200, arrival="closed", concurrency=users, input_len=256, output_len=32, seed=1)
    eng = get_engine("trtllm")
    a = simulate_serving(MODEL, HW, reqs, engine=eng.with_(request_overhead_s=o1))
    b = simulate_serving(MODEL, HW, reqs, engine=eng.with_(request_overhead_s=o1 + extra))
    assert a.completed == b.completed == 200
    assert b.request_throughput_per_s <= a.request_throughput_per_s * (1 + 1e-9)
    assert b.ttft_s.mean >= a.ttft_s.mean * (1 - 1e-9)
    assert np.all(b.finish_s - b.arrival_s >= o1 + extra - 1e-12)
    assert np.all(b.first_token_s - b.arrival_s >= o1 + extra - 1e-12)


def test_one_request_alone_matches_the_static_tensorrt_llm_path() -> None:
    """One request of the trtllm preset costs what ``analyze`` says for TensorRT-LLM's host
    (the same per-request time and per-iteration overhead) within 1%."""
    eng = get_engine("trtllm").with_(seq_overhead_s=0.0)
    assert eng.request_overhead_s == TRTLLM_REQUEST_OVERHEAD_S
    reqs = make_requests(3, rate_per_s=0.01, input_len=467, output_len=64, seed=3)
    r = simulate_serving(MODEL, HW, reqs, engine=eng)
    serving = Serving(step_overhead_s=eng.step_overhead_s, request_overhead_s=TRTLLM_REQUEST_OVERHEAD_S)
    s = analyze(MODEL, HW, Workload(1, 467, 64), serving=serving)
    assert r.ttft_s.mean == pytest.approx(s.ttft_s, rel=0.01)
    assert r.e2e_latency_s.mean == pytest.approx(s.e2e_latency_s, rel=0.01)


def test_disaggregated_pair_charges_the_front_end_once() -> None:
    reqs = make_requests(60, rate_per_s=20.0, input_len=256, output_len=16, seed=4)
    eng = get_engine("trtllm")
    a = simulate_serving(MODEL, HW, reqs, engine=eng.with_(request_overhead_s=0.0), disaggregate=(1, 1))
    b = simulate_serving(MODEL, HW, reqs, engine=eng.with_(request_overhead_s=0.01), disaggregate=(1, 1))
    assert b.ttft_s.mean == pytest.approx(a.ttft_s.mean + 0.01, rel=1e-9)
    assert b.e2e_latency_s.mean == pytest.approx(a.e2e_latency_s.mean + 0.01, rel=1e-9)


@pytest.mark.parametrize("bad", [-1e-3, float("nan"), float("inf")])
def test_bad_request_overhead_is_refused(bad: float) -> None:
    with pytest.raises(ConfigError, match="overheads must be finite"):
        EngineConfig(request_overhead_s=bad)


@pytest.mark.parametrize("name", ["trtllm", "vllm", "sglang"])
def test_every_preset_knob_names_its_source(name: str) -> None:
    """A preset value that differs from the bare EngineConfig default carries its provenance
    (documented, fitted, transferred or assumed), the request overhead included."""
    from dataclasses import fields

    eng, bare = get_engine(name), EngineConfig()
    set_here = [f.name for f in fields(EngineConfig) if f.name not in ("name", "provenance", "serving")]
    missing = [k for k in set_here if getattr(eng, k) != getattr(bare, k) and k not in eng.provenance]
    assert not missing, f"{name}: no provenance for {missing}"
    assert "request_overhead_s" in eng.provenance
