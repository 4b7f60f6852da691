"""Physics of the calibrated kernel model: roofline bound, monotonicity, small-M regime."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from hetsim.cost.roofline import gemm_wave_efficiency, op_cost
from hetsim.hardware import get_hardware
from hetsim.hardware.kernels import KernelParams
from hetsim.workload.dtypes import Precision
from hetsim.workload.ops import Op

FP16 = Precision()
KP = KernelParams()
dims = st.integers(1, 32768)


def gemm(m: float, n: float, k: float) -> Op:
    return Op("g", "fc", "gemm", "matrix", 1, flop=2 * m * n * k, weight_bytes=2 * n * k,
              act_read_bytes=2 * m * k, act_write_bytes=2 * m * n, gemm_m=m, gemm_n=n, gemm_k=k)  # fmt: skip


@given(m=dims, n=dims, k=dims, f=st.floats(1.0, 8.0))
def test_calibrated_gemm_is_above_roofline_and_monotone(m: int, n: int, k: int, f: float) -> None:
    dev = get_hardware("a100-80gb-sxm", calibrated=False)
    unit, mem = dev.primary.unit_for("matrix"), dev.primary.memory
    op = gemm(m, n, k)
    t = float(op_cost(op, unit, mem, FP16, kernels=KP).time_s)
    assert t >= max(op.flop / unit.peak("fp16"), op.bytes / mem.bandwidth_bytes_per_s)
    faster_mem = dataclasses.replace(mem, bandwidth_bytes_per_s=mem.bandwidth_bytes_per_s * f)
    faster_unit = dataclasses.replace(unit, peak_flop_per_s={"fp16": unit.peak("fp16") * f})
    assert float(op_cost(op, unit, faster_mem, FP16, kernels=KP).time_s) <= t * (1 + 1e-12)
    assert float(op_cost(op, faster_unit, mem, FP16, kernels=KP).time_s) <= t * (1 + 1e-12)


def test_small_m_gemm_is_memory_bound_not_wave_bound() -> None:
    """A decode GEMV (M=1) streams its weights: between bytes / bandwidth and 1.5x that (Vidur
    measures 65 us on A100 for this shape), not a 128x128-tile wave estimate."""
    dev = get_hardware("a100-80gb-sxm")
    op = gemm(1, 12288, 4096)
    t = float(
        op_cost(op, dev.primary.unit_for("matrix"), dev.primary.memory, FP16, kernels=dev.kernels).time_s
    )
    ideal = op.bytes / dev.primary.memory.bandwidth_bytes_per_s
    assert ideal <= t <= 1.5 * ideal


def test_datasheet_wave_model_uses_smaller_tiles_and_split_k() -> None:
    unit = get_hardware("a100-80gb-sxm", calibrated=False).primary.unit_for("matrix")
    old = 1 * 4096 / (128 * 128 * 108)  # one 128x128 wave for a 16 x 4096 output
    assert float(gemm_wave_efficiency(unit, 16, 4096, 4096)) > 4 * old
    assert np.all(np.asarray(gemm_wave_efficiency(unit, np.array([1, 64, 4096]), 4096, 4096)) <= 1.0)


def test_presets_carry_calibrated_overlays_with_provenance() -> None:
    for name in ("a100-80gb-sxm", "h100-sxm"):
        dev = get_hardware(name)
        assert dev.kernels is not None
        assert {p.kind for p in dev.kernels.provenance.values()} <= {"calibrated", "assumed"}
        assert dev.kernels.provenance["gemm_efficiency"].kind == "calibrated"
    assert get_hardware("h100-sxm", calibrated=False).kernels is None
    assert get_hardware("b200").kernels is None  # no overlay: datasheet roofline
