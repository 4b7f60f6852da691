"""An engine's own all-reduce (TensorRT-LLM's one-shot / two-shot kernels below its workspace,
NCCL above): the plugin's selection by message size, a bigger message never cheaper, and the
serving tables it changes (decode only where the kernels replace NCCL)."""

from __future__ import annotations

import numpy as np
import pytest

from hetsim.engines.batching import EngineConfig
from hetsim.errors import ConfigError
from hetsim.hardware.loader import get_hardware
from hetsim.serving.allreduce import custom_seconds, engine_allreduce
from hetsim.serving.engine import get_engine
from hetsim.serving.pricing import default_op_pricer
from hetsim.workload.dtypes import Precision
from hetsim.workload.ops import Op

LAT = 10e-6


def _allreduce(nbytes: np.ndarray) -> Op:
    return Op("allreduce", "comm", "collective", "vector", 1, flop=0.0, act_read_bytes=nbytes)


def test_one_shot_two_shot_and_nccl_by_message_size() -> None:
    bw = 1e11
    n = np.array([1e3, 999_999.0, 1_000_000.0, 8e6])
    t = custom_seconds(n, 4, LAT, bw)
    assert t[0] == pytest.approx(LAT + 3 * 1e3 / bw)  # one-shot: every peer's whole buffer, one step
    assert t[2] == pytest.approx(2 * LAT + 1.5 * 1e6 / bw)  # two-shot: the ring's bytes, two steps
    assert custom_seconds(np.array([2e6]), 2, LAT, bw)[0] == pytest.approx(
        LAT + 2e6 / bw
    )  # two GPUs: one-shot
    eng = get_engine("trtllm").with_(allreduce="trtllm-custom", allreduce_latency_s=LAT)
    dev = get_hardware("h100-sxm", calibrated=True)
    run = engine_allreduce(dev, Precision(), 4, eng)
    nccl = default_op_pricer(dev, Precision(), 4)  # the device's calibrated (NCCL) collective
    on_nccl = engine_allreduce(dev, Precision(), 4, get_engine("trtllm").with_(allreduce="nccl"))
    assert float(on_nccl([_allreduce(np.array(1e4))])[0].time_s) == float(
        nccl([_allreduce(np.array(1e4))])[0].time_s
    )
    sizes = np.geomspace(1e2, 1e9, 400)
    times = np.asarray(run([_allreduce(sizes)])[0].time_s)
    assert np.all(np.diff(times) >= 0)  # a bigger message is never cheaper, across both switches
    big = np.array([5e7, 1e8])  # well above the 8 MB workspace: NCCL's price (above the two-shot floor)
    assert np.allclose(run([_allreduce(big)])[0].time_s, nccl([_allreduce(big)])[0].time_s)
    small = np.array(1e4)
    assert float(run([_allreduce(small)])[0].time_s) < float(nccl([_allreduce(small)])[0].time_s)


def test_the_custom_kernels_speed_up_a_small_decode_step_and_leave_tp1_alone() -> None:
    from hetsim.serving.budget import get_pricer
    from hetsim.workload.registry import get_model

    m, dev = get_model("llama3-70b"), get_hardware("h100-sxm", calibrated=True)
    nccl = get_engine("trtllm").with_(allreduce="nccl")
    own = nccl.with_(allreduce="trtllm-custom", allreduce_latency_s=LAT)
    a = get_pricer(m, dev, Precision(), nccl, 4, 1024).dense(4, 4)[0]
    b = get_pricer(m, dev, Precision(), own, 4, 1024).dense(4, 4)[0]
    assert b < a  # 160 all-reduces of 4 tokens: one 10 us step each instead of NCCL's latency
    m8 = get_model("llama3-8b")
    assert get_pricer(m8, dev, Precision(), nccl, 1, 1024).dense(4, 4) == get_pricer(
        m8, dev, Precision(), own, 1, 1024
    ).dense(4, 4)


def test_an_unknown_all_reduce_is_refused() -> None:
    with pytest.raises(ConfigError, match="allreduce must be nccl or trtllm-custom"):
        EngineConfig(allreduce="mscclpp")


def test_the_all_reduce_fit_takes_the_least_error_of_its_grid_and_leaves_nccl_engines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """validate.fit_allreduce: the grid value with the least error on the rows it is given (the
    scoring is replaced by a known bowl around 20 us, so the choice is checked without serving
    runs); an engine on NCCL is returned as it is."""
    from hetsim.serving import validate

    monkeypatch.setattr(validate, "_error", lambda rows, eng, spread: abs(eng.allreduce_latency_s - 19e-6))
    nccl = get_engine("vllm")
    assert validate.fit_allreduce([], nccl, {}) is nccl
    fitted = validate.fit_allreduce([], get_engine("trtllm"), {})
    assert fitted.allreduce_latency_s == 20e-6 and fitted.allreduce == "trtllm-custom"
