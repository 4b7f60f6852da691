"""Length pairs that state means (serving/spread.py): the stratified lognormal keeps the stated
mean and spread, Little's law on the QPS=INF rows tells fixed lengths from means, and runs with
spread lengths keep the serving physics (complete, finite, latency never lower at more load)."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hetsim.calibration.measurements import PUBLISHED_DIR
from hetsim.serving import make_requests, simulate_serving
from hetsim.serving.rows import load_serving_rows
from hetsim.serving.spread import (
    FIXED_SHARE,
    in_flight_share,
    lognormal_lengths,
    varied_pairs,
    with_output_spread,
)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(50, 2000), mean=st.floats(8.0, 2000.0), cv=st.floats(0.05, 1.5), seed=st.integers(0, 9))
def test_lognormal_lengths_keep_mean_and_spread(n: int, mean: float, cv: float, seed: int) -> None:
    x = lognormal_lengths(n, mean, cv, seed, hi=int(64 * mean))
    assert x.shape == (n,) and x.min() >= 1 and x.max() <= 64 * mean
    assert abs(float(np.mean(x)) - mean) <= 0.5 + 1e-9 * mean  # rounding only
    if mean >= 50 and n >= 200:  # enough resolution to see the shape
        assert float(np.std(x) / np.mean(x)) == pytest.approx(cv, rel=0.25)
    assert np.array_equal(x, lognormal_lengths(n, mean, cv, seed, hi=int(64 * mean)))
    assert sorted(x.tolist()) == sorted(lognormal_lengths(n, mean, cv, seed + 1, hi=int(64 * mean)).tolist())


def test_zero_spread_leaves_the_requests_alone() -> None:
    reqs = make_requests(10, rate_per_s=1.0, input_len=100, output_len=50)
    assert with_output_spread(reqs, 0.0, seed=0, hi=800) is reqs


ROOT = PUBLISHED_DIR


def test_littles_law_tells_fixed_lengths_from_means() -> None:
    rows, _ = load_serving_rows(ROOT / "trtllm_serving.csv")
    shares = in_flight_share(rows)
    assert len(shares) == 12  # 3 length pairs x 2 models x 2 GPUs
    for (pair, _hw, _model, _tp), share in shares.items():
        if pair[1:] == (202, 214):
            assert 0.45 < share < 0.52  # half of the requests in flight: the lengths vary
        else:
            assert share > 0.96  # all finish together: fixed lengths
    for hw in ("h100-sxm", "h200"):  # each GPU alone tells the same
        assert varied_pairs([r for r in rows if r.hardware == hw]) == {("trtllm_v014_serving", 202, 214)}
    assert FIXED_SHARE < 0.96


@pytest.mark.parametrize("cv", [0.0, 0.35, 0.7, 1.0])
def test_spread_lengths_keep_serving_physics(cv: float) -> None:
    """More load never lowers the mean latency in expectation (the mean over four seeds); every
    run completes with finite figures."""
    ttft, e2e = [], []
    for rate in (2.0, 8.0, 32.0, None):
        t = e = 0.0
        for seed in range(4):
            kw = {"rate_per_s": rate} if rate else {"arrival": "offline"}
            reqs = make_requests(150, input_len=202, output_len=214, seed=seed, **kw)  # type: ignore[arg-type]
            reqs = with_output_spread(reqs, cv, seed=seed, hi=16 * 214)
            r = simulate_serving("llama3-8b", "h100-sxm", reqs, engine="trtllm")
            assert r.completed == 150 and r.output_throughput_tok_per_s > 0
            assert np.isfinite([r.ttft_s.mean, r.itl_s.mean, r.e2e_latency_s.mean, r.energy_j]).all()
            t, e = t + r.ttft_s.mean / 4, e + r.e2e_latency_s.mean / 4
        ttft.append(t)
        e2e.append(e)
    assert all(b >= a * 0.999 for a, b in pairwise(ttft))
    assert all(b >= a * 0.999 for a, b in pairwise(e2e))


@settings(max_examples=4, deadline=None)
@given(cv=st.sampled_from([0.35, 1.0]), k=st.floats(1.2, 3.0), rate=st.sampled_from([4.0, 32.0, None]))
def test_more_bandwidth_never_slower_with_spread_lengths(cv: float, k: float, rate: float | None) -> None:
    """The trtllm preset (front-end time included) on spread lengths: k x the memory bandwidth
    never lowers throughput and never raises the mean TTFT, ITL or end-to-end latency."""
    from dataclasses import replace

    from hetsim.hardware.loader import get_hardware

    dev = get_hardware("h100-sxm")
    side = dev.sides[0]
    mem = replace(side.memory, bandwidth_bytes_per_s=k * side.memory.bandwidth_bytes_per_s)
    fast = replace(dev, sides=(replace(side, memory=mem), *dev.sides[1:]))
    kw = {"rate_per_s": rate} if rate else {"arrival": "offline"}
    reqs = with_output_spread(
        make_requests(200, input_len=202, output_len=214, seed=1, **kw), cv, 1, 16 * 214
    )  # type: ignore[arg-type]
    a = simulate_serving("llama3-8b", dev, reqs, engine="trtllm")
    b = simulate_serving("llama3-8b", fast, reqs, engine="trtllm")
    assert b.output_throughput_tok_per_s >= a.output_throughput_tok_per_s * (1 - 1e-9)
    for name in ("ttft_s", "itl_s", "e2e_latency_s"):
        assert getattr(b, name).mean <= getattr(a, name).mean * (1 + 1e-9), name
