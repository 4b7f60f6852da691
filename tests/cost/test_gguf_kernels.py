"""GGUF weights run llama.cpp's own CUDA kernels: the packed weights at M <= 32 after an
activation-quantisation kernel, and above it a dequantise-to-FP16 pass plus the FP16 GEMM, once
per 512-token micro-batch (cost/weight_only.py, module text)."""

from __future__ import annotations

import numpy as np
import pytest

from hetsim.cost.kernels import vector_latency
from hetsim.cost.roofline import op_cost
from hetsim.cost.weight_only import GGML_MMQ_MAX_ROWS, GGML_UBATCH_ROWS, ggml_times, is_gguf
from hetsim.hardware.loader import get_hardware
from hetsim.sim.inference import sweep
from hetsim.workload.dtypes import Precision
from hetsim.workload.graph import build_ops
from hetsim.workload.ops import Op
from hetsim.workload.registry import get_model

Q4KM = Precision.of("q4_k_m")
FP16 = Precision.of("fp16")


def _gemm(prec: Precision, tokens: float, name: str = "ffn_down") -> Op:
    ops = build_ops(get_model("llama3-8b"), prec, phase="prefill", batch=1.0, q_len=tokens, context=tokens)
    return next(o for o in ops if o.name == name)


def _time(hw: str, prec: Precision, tokens: float, calibrated: bool = True) -> float:
    dev = get_hardware(hw, calibrated=calibrated)
    side = dev.primary
    c = op_cost(_gemm(prec, tokens), side.unit_for("matrix"), side.memory, prec, kernels=dev.kernels,
                vector=side.unit_for("vector"))  # fmt: skip
    return float(c.time_s)


def test_gguf_is_recognised_by_format() -> None:
    assert is_gguf(Q4KM) and is_gguf(Precision.of("q8_0")) and is_gguf(Precision.of("iq2_xxs"))
    assert not is_gguf(Precision.of("awq")) and not is_gguf(Precision.of("int4")) and not is_gguf(FP16)


@pytest.mark.parametrize("calibrated", [True, False])
@pytest.mark.parametrize("hw", ["a100-80gb-sxm", "a40", "l40s", "h100-pcie", "rtx-a6000"])
def test_prompt_processing_is_slower_than_fp16(hw: str, calibrated: bool) -> None:
    """llama-bench pp512 of Llama-3-8B runs Q4_K_M at 0.75-0.84x of F16's tokens/s on the A6000,
    A40, A100 and H100 PCIe (llamacpp_gpu_benchmarks.csv): the dequantisation pass is extra
    work. Priced at tensor-core peak on the packed bytes, Q4_K_M came out faster than F16."""
    q4 = _time(hw, Q4KM, 512.0, calibrated)
    f16 = _time(hw, FP16, 512.0, calibrated)
    assert q4 > f16, (hw, calibrated, q4, f16)


def test_dequantisation_is_paid_once_per_micro_batch() -> None:
    """At 1,024 tokens the FP16 copy is made twice: the GGUF GEMM's excess over FP16 doubles."""
    excess = [_time("a40", Q4KM, t) - _time("a40", FP16, t) for t in (GGML_UBATCH_ROWS, 2 * GGML_UBATCH_ROWS)]
    assert excess[0] > 0
    assert excess[1] == pytest.approx(2 * excess[0], rel=0.25)


def test_small_m_adds_the_activation_quantisation_kernel() -> None:
    dev = get_hardware("a100-80gb-sxm")
    side = dev.primary
    unit, vec = side.unit_for("matrix"), side.unit_for("vector")
    op = _gemm(Q4KM, 1.0)
    small = (1e-6, 2e-6, 3e-6, 10.0)
    kp = dev.kernels
    assert kp is not None
    _, _, body, _ = ggml_times(op, unit, vec, side.memory, Q4KM, kp, (1.0, 1.0, 1.0), small)
    assert body == pytest.approx(3e-6 + vector_latency(unit, kp, False))
    big = _gemm(Q4KM, GGML_MMQ_MAX_ROWS + 1.0)
    _, _, body_big, _ = ggml_times(big, unit, vec, side.memory, Q4KM, kp, (1e-6, 1e-6, 1e-6), small)
    assert body_big > 1e-6  # above MMQ's range: the dequantisation pass and the FP16 GEMM, not ``small``


def test_gguf_sweep_is_monotone_and_bounded() -> None:
    """Bigger batch never faster across the MMQ -> dequantise + cuBLAS switch (M = 32 -> 33)."""
    b = np.array([1, 2, 8, 9, 31, 32, 33, 64, 511, 512, 513, 1024], dtype=float)
    for hw in ("a100-80gb-sxm", "l40s"):
        for cal in (True, False):
            s = sweep("llama3-8b", get_hardware(hw, calibrated=cal), b, 1, 4, Q4KM, policy="primary")
            assert np.all(np.diff(s.ttft_s) >= -1e-12 * s.ttft_s[1:]), (hw, cal, s.ttft_s)
            assert np.all(np.diff(s.tpot_s) >= -1e-12 * s.tpot_s[1:]), (hw, cal, s.tpot_s)
            assert np.all((s.mbu > 0) & (s.mbu <= 1 + 1e-12) & (s.mfu > 0) & (s.mfu <= 1 + 1e-12))
