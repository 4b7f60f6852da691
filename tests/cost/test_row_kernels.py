"""Row kernels (one thread block per token: RMSNorm, SiLU*mul) on the calibrated vector model:
below one row per SM only the SMs that hold a row stream, so a few-token kernel takes the time
of one row at one SM's rate and grows with the row's length, as Vidur measures (A100, H100 and
A40 alike: a 1-token SiLU*mul of 28,672 columns takes 5-7x one of 3,584)."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hetsim.cost.kernels import issue_cap_s
from hetsim.cost.roofline import op_cost
from hetsim.hardware import get_hardware
from hetsim.workload.dtypes import Precision
from hetsim.workload.graph import build_ops
from hetsim.workload.model import ModelSpec
from hetsim.workload.ops import Op

FP16 = Precision()
CALIBRATED = ("a100-80gb-sxm", "a40", "h100-sxm", "h200", "l40s", "b200")


def silu_mul(tokens: float, cols: float, rows: bool = True) -> Op:
    """vLLM's act_and_mul: reads gate and up (2 x cols), writes cols, one block per token."""
    return Op("act", "fc", "elementwise", "vector", 1, flop=4 * tokens * cols,
              act_read_bytes=4 * tokens * cols, act_write_bytes=2 * tokens * cols,
              rows=tokens if rows else 0.0)  # fmt: skip


def norm(tokens: float, d: float) -> Op:
    return Op("n", "norm", "norm", "vector", 1, flop=5 * tokens * d, weight_bytes=2 * d,
              act_read_bytes=2 * tokens * d, act_write_bytes=2 * tokens * d, rows=tokens)  # fmt: skip


def seconds(op: Op, hw: str = "a100-80gb-sxm") -> float:
    dev = get_hardware(hw)
    side = dev.primary
    return float(op_cost(op, side.unit_for("vector"), side.memory, FP16, kernels=dev.kernels).time_s)


def test_graph_marks_row_kernels() -> None:
    """Norms and the gated activation are row kernels with one row per token; residual adds and
    a plain GELU are flat element-wise kernels."""
    spec = ModelSpec("m", n_layers=1, d_model=4096, n_heads=32, n_kv_heads=32, head_dim=128, d_ff=11008,
                     vocab_size=32000)  # fmt: skip
    ops = {o.name: o for o in build_ops(spec, FP16, phase="prefill", batch=2.0, q_len=8.0, context=8.0)}
    assert ops["attn_norm"].rows == 16 and ops["ffn_act"].rows == 16 and ops["final_norm"].rows == 2
    assert ops["attn_residual"].rows == 0
    plain = dataclasses.replace(spec, ffn="plain")
    ops = {o.name: o for o in build_ops(plain, FP16, phase="prefill", batch=2.0, q_len=8.0, context=8.0)}
    assert ops["ffn_act"].rows == 0


def test_a_one_token_row_kernel_grows_with_its_row() -> None:
    """Vidur, 1 token, A100: SiLU*mul of 3,584 columns 4 us, of 28,672 columns 22 us (5.5x);
    the flat model priced both at the ~4.5 us latency floor. Now the long row takes 3-7x the
    short one, and within 30% of the measured 22 us."""
    short, long = seconds(silu_mul(1, 3584)), seconds(silu_mul(1, 28672))
    assert 3.0 <= long / short <= 7.0
    assert 0.7 * 22e-6 <= long <= 1.3 * 22e-6
    assert seconds(silu_mul(1, 28672, rows=False)) < 0.5 * long  # a flat kernel spreads over all SMs


def test_flat_kernel_is_unchanged() -> None:
    """rows = 0 (flat) keeps the whole-device cap: bytes / (rho x SMs x clock)."""
    dev = get_hardware("a100-80gb-sxm")
    unit = dev.primary.unit_for("vector")
    assert dev.kernels is not None
    op = silu_mul(4096, 11008, rows=False)
    rho = dev.kernels.elementwise_issue
    assert float(issue_cap_s(op, unit, rho)) == op.bytes / (rho * unit.n_parallel * unit.clock_hz)
    # and a row kernel with at least one row per SM is priced exactly as the flat one
    assert np.isclose(float(issue_cap_s(silu_mul(4096, 11008), unit, rho)), float(issue_cap_s(op, unit, rho)))


def test_below_one_row_per_sm_the_cap_is_one_rows_time() -> None:
    dev = get_hardware("h100-sxm")
    unit = dev.primary.unit_for("vector")
    rho = 6.0
    caps = [float(issue_cap_s(norm(t, 8192), unit, rho)) for t in (1, 2, 64, unit.n_parallel)]
    assert max(caps) - min(caps) <= 1e-12 + 1e-9 * min(caps)  # the same for 1 ... SMs rows
    assert float(issue_cap_s(norm(4 * unit.n_parallel, 8192), unit, rho)) > 3 * caps[-1]


@settings(max_examples=60, deadline=None)
@given(
    hw=st.sampled_from(CALIBRATED),
    tokens=st.integers(1, 4096),
    cols=st.integers(64, 32768),
    more=st.integers(1, 512),
    f=st.floats(1.0, 4.0),
    kind=st.sampled_from(("act", "norm")),
)
def test_row_kernels_obey_the_physics(
    hw: str, tokens: int, cols: int, more: int, f: float, kind: str
) -> None:
    """More tokens never faster; more SMs, a faster clock or more bandwidth never slower; the
    time never beats DRAM at its datasheet bandwidth."""
    build = silu_mul if kind == "act" else norm
    dev = get_hardware(hw)
    side = dev.primary
    unit, mem = side.unit_for("vector"), side.memory

    def t(op: Op, u: object = unit, m: object = mem) -> float:
        return float(op_cost(op, u, m, FP16, kernels=dev.kernels).time_s)  # type: ignore[arg-type]

    op = build(float(tokens), float(cols))
    base = t(op)
    assert np.isfinite(base) and base >= op.bytes / mem.bandwidth_bytes_per_s
    assert t(build(float(tokens + more), float(cols))) >= base * (1 - 1e-12)
    more_sms = dataclasses.replace(unit, n_parallel=int(unit.n_parallel * f) + 1)
    faster_clock = dataclasses.replace(unit, clock_hz=unit.clock_hz * f)
    more_bw = dataclasses.replace(mem, bandwidth_bytes_per_s=mem.bandwidth_bytes_per_s * f)
    assert t(op, u=more_sms) <= base * (1 + 1e-12)
    assert t(op, u=faster_clock) <= base * (1 + 1e-12)
    assert t(op, m=more_bw) <= base * (1 + 1e-12)
