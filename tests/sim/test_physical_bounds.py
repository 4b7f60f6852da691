"""Physics the output must obey for any preset, model, size and data type (hypothesis):
MBU and MFU lie in (0, 1], everything is finite, and a check refuses what is not."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hetsim
from hetsim.analysis.checks import check_result
from hetsim.errors import CapacityError, ConfigError, ModelError
from hetsim.workload.dtypes import Precision

HARDWARE = sorted(d.name for d in hetsim.list_hardware())  # every preset, multi-side ones included
MODELS = ["llama2-7b", "mixtral-8x7b", "llama2-70b", "gpt-j-6b", "opt-6.7b"]


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(HARDWARE), st.sampled_from(MODELS), st.sampled_from([1, 2, 4, 8]),
    st.integers(1, 256), st.integers(1, 8192), st.integers(2, 2048),
    st.sampled_from(["fp16", "bf16", "fp8", "int8", "int4"]),
)  # fmt: skip
def test_mbu_and_mfu_lie_in_zero_one(hw: str, model: str, tp: int, b: int, p: int, g: int, wd: str) -> None:
    try:
        r = hetsim.analyze(model, hw, hetsim.Workload(b, p, g), Precision.of(wd), tp=tp)
    except (ConfigError, CapacityError):
        return  # a refused configuration (tp does not divide the heads, no interconnect, ...)
    assert 0 < r.mbu <= 1, (r.mbu, hw, model)
    assert 0 < r.mfu <= 1, (r.mfu, hw, model)
    for key in ("ttft_s", "tpot_s", "e2e_latency_s", "energy_j_per_token", "avg_power_w"):
        v = getattr(r, key)
        assert math.isfinite(v) and v > 0, key
    check_result(r)


def test_check_refuses_impossible_results() -> None:
    import dataclasses

    r = hetsim.analyze("llama2-7b", "h100-sxm", hetsim.Workload(1, 128, 16))
    for key, bad in (("mfu", 1.2), ("mbu", 0.0), ("energy_j_per_token", float("nan")), ("tpot_s", -1.0)):
        with pytest.raises(ModelError, match=key):
            check_result(dataclasses.replace(r, **{key: bad}))


def test_tensor_parallel_needs_an_interconnect() -> None:
    with pytest.raises(ConfigError, match="no interconnect"):
        hetsim.analyze("llama2-7b", "mi210", hetsim.Workload(1, 128, 16), tp=2)
