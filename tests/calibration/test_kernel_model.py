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
        assert {p.kind for p in dev.kernels.provenance.values()} <= {"calibrated", "measured", "assumed"}
        assert dev.kernels.provenance["gemm_efficiency"].kind == "calibrated"
        assert dev.kernels.provenance["load_issue"].kind == "measured"  # gpu-stream read, fit hardware
    assert get_hardware("h100-sxm", calibrated=False).kernels is None
    # no overlay of its own: the shared knobs transfer, and the device says so
    b200 = get_hardware("b200")
    assert b200.kernels is not None
    # the same knobs; the 8-bit GEMM one applies on the generations it was fitted on (Blackwell)
    shared = get_hardware("a100-80gb-sxm").kernels
    assert dataclasses.replace(b200.kernels, narrow_gemm_efficiency=0.0) == shared
    l40s = get_hardware("l40s").kernels
    assert b200.kernels.narrow_gemm_efficiency > 0 and l40s is not None and l40s.narrow_gemm_efficiency == 0
    assert b200.calibration == "transferred from a100-80gb-sxm overlay"
    assert get_hardware("h100-sxm").calibration == "h100-sxm overlay"
    assert get_hardware("h100-sxm", calibrated=False).calibration == "none"
    assert get_hardware("h2m2").kernels is None  # no SM/tile description: nothing to transfer


def vector_op(kind: str, tokens: float, d: float = 4096.0) -> Op:
    """A norm (``kind='norm'``) or SiLU*mul (``'elementwise'``) over ``tokens`` rows of ``d``."""
    if kind == "norm":
        return Op("n", "norm", "norm", "vector", 1, flop=5 * tokens * d, weight_bytes=2 * d,
                  act_read_bytes=2 * tokens * d, act_write_bytes=2 * tokens * d)  # fmt: skip
    return Op("a", "fc", "elementwise", "vector", 1, flop=4 * tokens * d, act_read_bytes=4 * tokens * d,
              act_write_bytes=2 * tokens * d)  # fmt: skip


@given(t=st.floats(1.0, 65536.0), f=st.floats(1.0, 4.0), kind=st.sampled_from(["norm", "elementwise"]),
       name=st.sampled_from(["a100-80gb-sxm", "a40", "h100-sxm"]))  # fmt: skip
def test_vector_kernel_with_cache_is_monotone_in_size(t: float, f: float, kind: str, name: str) -> None:
    """The L2 term speeds up small operands, but a bigger op is never faster than a smaller one,
    and every time stays above the DRAM and streaming-cap bounds' cheapest reading."""
    dev = get_hardware(name)
    assert dev.kernels is not None and dev.kernels.cache_gain > 1
    unit, mem = dev.primary.unit_for("vector"), dev.primary.memory
    small = float(op_cost(vector_op(kind, t), unit, mem, FP16, kernels=dev.kernels).time_s)
    big = float(op_cost(vector_op(kind, t * f), unit, mem, FP16, kernels=dev.kernels).time_s)
    assert big >= small * (1 - 1e-12)
    op = vector_op(kind, t)
    assert small >= op.bytes / (mem.bandwidth_bytes_per_s * dev.kernels.cache_gain)


def test_vector_cap_and_latency_use_the_devices_own_clock_and_sm_count() -> None:
    """Same shared parameters: H100 (132 SMs at 1.98 GHz) streams a large activation faster
    and finishes a tiny one sooner than A100 (108 SMs at 1.41 GHz)."""
    a100, h100 = get_hardware("a100-80gb-sxm"), get_hardware("h100-sxm")
    assert a100.kernels is not None and h100.kernels is not None
    # the same shared values; the 8-bit GEMM knob only where it was fitted (Hopper, Blackwell)
    assert a100.kernels == dataclasses.replace(h100.kernels, narrow_gemm_efficiency=0.0)

    def t(dev_name: str, tokens: float) -> float:
        dev = get_hardware(dev_name)
        side = dev.primary
        return float(op_cost(vector_op("elementwise", tokens), side.unit_for("vector"), side.memory, FP16,
                             kernels=dev.kernels).time_s)  # fmt: skip

    assert t("h100-sxm", 1) < t("a100-80gb-sxm", 1)
    assert t("h100-sxm", 32768) < t("a100-80gb-sxm", 32768)
    kp = a100.kernels
    assert kp is not None
    unit = a100.primary.unit_for("vector")
    assert t("a100-80gb-sxm", 1) >= kp.vector_latency_cycles / unit.clock_hz


def test_in_network_reduction_halves_all_reduce_traffic() -> None:
    """NVLS on H100 NVSwitch: each byte is sent and received once (not a ring's 2(p-1)/p)."""
    from hetsim.cost.roofline import collective_cost

    h100 = get_hardware("h100-sxm", calibrated=False)
    link = h100.interconnect
    assert link is not None and link.in_network_reduction
    assert "in_network_reduction" in link.provenance
    ring = dataclasses.replace(link, in_network_reduction=False)
    b = 2.0**27
    op = Op("ar", "comm", "collective", "vector", 1, flop=b / 2, act_read_bytes=b)
    assert float(collective_cost(op, link, 8).bytes) == b
    assert float(collective_cost(op, ring, 8).bytes) == 1.75 * b
    assert float(collective_cost(op, link, 8).time_s) < float(collective_cost(op, ring, 8).time_s)
    a100 = get_hardware("a100-80gb-sxm").interconnect
    assert a100 is not None and not a100.in_network_reduction


def test_new_datasheet_facts_carry_provenance() -> None:
    for name, l2 in (("a100-80gb-sxm", 40), ("a40", 6), ("h100-sxm", 50)):
        dev = get_hardware(name)
        assert dev.primary.memory.cache_bytes == l2 * 2**20
        assert str(dev.primary.memory.provenance["cache"]).startswith("datasheet")
        unit = dev.primary.unit_for("vector")
        assert unit.clock_hz > 0 and unit.n_parallel > 0
        assert str(unit.provenance["clock"]).startswith("datasheet")


def test_uncalibrated_vector_op_ignores_cache_and_clock() -> None:
    """The datasheet roofline (no overlay) is unchanged by the new hardware facts."""
    dev = get_hardware("a100-80gb-sxm", calibrated=False)
    bare = dataclasses.replace(dev.primary.memory, cache_bytes=0.0)
    unit = dataclasses.replace(dev.primary.unit_for("vector"), clock_hz=0.0)
    op = vector_op("norm", 64)
    a = op_cost(op, dev.primary.unit_for("vector"), dev.primary.memory, FP16).time_s
    b = op_cost(op, unit, bare, FP16).time_s
    assert float(a) == float(b)
