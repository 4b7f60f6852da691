"""Physics of the cost model, asserted as properties (hypothesis)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hetsim.cost.roofline import Cost, op_cost
from hetsim.hardware.efficiency import EfficiencyCurve
from hetsim.hardware.spec import ComputeUnit, MemoryTier
from hetsim.workload.dtypes import Precision
from hetsim.workload.ops import Op

FP16 = Precision()
sizes = st.floats(min_value=1.0, max_value=1e15, allow_nan=False)
rates = st.floats(min_value=1e9, max_value=1e16, allow_nan=False)


def unit(peak: float, eff: EfficiencyCurve | None = None) -> ComputeUnit:
    return ComputeUnit("u", "matrix", {"fp16": peak}, efficiency=eff or EfficiencyCurve())


def mem(bw: float, eff: EfficiencyCurve | None = None) -> MemoryTier:
    return MemoryTier("m", 1e12, bw, efficiency=eff or EfficiencyCurve())


def op(flop: float, nbytes: float, count: int = 1) -> Op:
    return Op(
        "x",
        "fc",
        "gemm",
        "matrix",
        count,
        flop=flop,
        weight_bytes=nbytes,
        gemm_m=64,
        gemm_n=4096,
        gemm_k=4096,
    )


@given(flop=sizes, nbytes=sizes, peak=rates, bw=rates)
def test_roofline_bounds(flop: float, nbytes: float, peak: float, bw: float) -> None:
    c = op_cost(op(flop, nbytes), unit(peak), mem(bw), FP16)
    lower = max(flop / peak, nbytes / bw)
    assert c.time_s >= lower * (1 - 1e-12)
    # with ideal efficiency the op reaches the roofline exactly (max overlap, no overhead)
    ideal = op_cost(op(flop, nbytes), unit(peak), mem(bw), FP16, wave_model=False)
    assert ideal.time_s == pytest.approx(lower)
    serial = op_cost(op(flop, nbytes), unit(peak), mem(bw), FP16, overlap="sum", wave_model=False)
    assert serial.time_s == pytest.approx(flop / peak + nbytes / bw)


@given(flop=sizes, nbytes=sizes, peak=rates, bw=rates, k=st.floats(1.0, 100.0))
def test_more_bandwidth_or_compute_is_never_slower(
    flop: float, nbytes: float, peak: float, bw: float, k: float
) -> None:
    eff = EfficiencyCurve((1e3, 1e9), (0.1, 0.9))
    base = op_cost(op(flop, nbytes), unit(peak, eff), mem(bw, eff), FP16, overhead_s=1e-6)
    faster_mem = op_cost(op(flop, nbytes), unit(peak, eff), mem(bw * k, eff), FP16, overhead_s=1e-6)
    faster_cmp = op_cost(op(flop, nbytes), unit(peak * k, eff), mem(bw, eff), FP16, overhead_s=1e-6)
    assert faster_mem.time_s <= base.time_s * (1 + 1e-12)
    assert faster_cmp.time_s <= base.time_s * (1 + 1e-12)


@given(flop=sizes, nbytes=sizes, n=st.integers(1, 200))
def test_count_scales_time_energy_and_work(flop: float, nbytes: float, n: int) -> None:
    u = dataclasses.replace(unit(1e14), energy_j_per_flop=1e-12)
    m = dataclasses.replace(mem(1e12), energy_j_per_bit=4e-12)
    one = op_cost(op(flop, nbytes), u, m, FP16, overhead_s=2e-6)
    many = op_cost(op(flop, nbytes, n), u, m, FP16, overhead_s=2e-6)
    for field in ("time_s", "energy_j", "flop", "bytes"):
        assert getattr(many, field) == pytest.approx(n * getattr(one, field))
    assert one.energy_j == pytest.approx(flop * 1e-12 + nbytes * 8 * 4e-12)


def test_cost_records_add() -> None:
    a, b = Cost(1.0, 0.5, 0.7, 0.1, 2.0, 10.0, 20.0), Cost(2.0, 1.0, 1.5, 0.2, 3.0, 5.0, 1.0)
    s = a + b
    assert (s.time_s, s.energy_j, s.flop, s.bytes) == (3.0, 5.0, 15.0, 21.0)
