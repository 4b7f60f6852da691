"""End-to-end analysis: invariants, monotonicity, closed-form decode vs a per-step loop."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hetsim.cost.roofline import price
from hetsim.errors import CapacityError, ConfigError
from hetsim.hardware import get_hardware
from hetsim.sim.inference import Serving, Workload, analyze, sweep
from hetsim.workload.dtypes import Precision
from hetsim.workload.graph import build_ops
from hetsim.workload.registry import get_model


def test_energy_is_power_times_time_and_tokens_add_up() -> None:
    r = analyze("llama2-7b", "a100-80gb-sxm", Workload(8, 512, 128))
    assert r.avg_power_w * r.e2e_latency_s == pytest.approx(r.energy_j)
    assert r.energy_j_per_token * 8 * 128 == pytest.approx(r.energy_j)
    assert r.e2e_latency_s == pytest.approx(r.ttft_s + 127 * r.tpot_s)
    assert r.output_throughput_tok_per_s == pytest.approx(8 * 128 / r.e2e_latency_s)
    assert 0 < r.mbu <= 1 and 0 < r.mfu <= 1


def test_static_energy_alone_is_power_times_time() -> None:
    """Without an active floor, energy - dynamic = idle power x the whole run."""
    dev = dataclasses.replace(get_hardware("a100-80gb-sxm"), active_power_w=0.0)
    r = analyze("llama2-7b", dev, Workload(1, 128, 16))
    dyn = r.prefill.energy_j + 15 * r.decode.energy_j
    assert r.energy_j - dyn == pytest.approx(dev.static_power_w * r.e2e_latency_s, rel=1e-9)


@pytest.mark.parametrize("step_s", [0.0, 0.004])
def test_active_floor_is_drawn_while_kernels_run_only(step_s: float) -> None:
    """The active floor x kernel time (the run less the host time between passes) is all the
    energy a larger floor adds; host time draws idle power only."""
    base = get_hardware("a100-80gb-sxm")
    serving = Serving(step_overhead_s=step_s)
    runs = [analyze("llama2-7b", dataclasses.replace(base, active_power_w=w), Workload(1, 128, 16),
                    serving=serving) for w in (0.0, 50.0)]  # fmt: skip
    host = step_s * 16  # one pass per token: the prefill and 15 decode steps
    kernel_s = runs[0].e2e_latency_s - host
    assert runs[0].e2e_latency_s == pytest.approx(runs[1].e2e_latency_s)
    assert runs[1].energy_j - runs[0].energy_j == pytest.approx(50.0 * kernel_s, rel=1e-9)


def test_decode_closed_form_matches_per_step_loop() -> None:
    """The vectorised TPOT equals the mean over an explicit per-step loop (test-only)."""
    m, dev, prec = get_model("llama2-7b"), get_hardware("a100-80gb-sxm"), Precision()
    B, P, G = 16, 1000, 700
    r = analyze(m, dev, Workload(B, P, G), prec)
    steps = []
    for j in range(1, G):
        ops = build_ops(m, prec, phase="decode", batch=B, q_len=1, context=P + j)
        steps.append(sum(float(price(o, dev, prec).time_s) for o in ops))
    assert r.tpot_s == pytest.approx(float(np.mean(steps)), rel=1e-3)


def test_bigger_batch_helps_throughput_on_memory_bound_decode() -> None:
    small = analyze("llama2-7b", "h100-sxm", Workload(1, 128, 128))
    big = analyze("llama2-7b", "h100-sxm", Workload(32, 128, 128))
    assert big.output_throughput_tok_per_s > 10 * small.output_throughput_tok_per_s


@given(b=st.integers(1, 256), c=st.integers(1, 16_000), db=st.integers(0, 64), dc=st.integers(0, 8_000))
def test_longer_context_or_bigger_batch_never_makes_a_decode_step_faster(
    b: int, c: int, db: int, dc: int
) -> None:
    m, dev, prec = get_model("llama3-8b"), get_hardware("h100-sxm"), Precision()

    def step(batch: int, ctx: int) -> float:
        ops = build_ops(m, prec, phase="decode", batch=batch, q_len=1, context=ctx)
        return sum(float(price(o, dev, prec).time_s) for o in ops)

    assert step(b + db, c + dc) >= step(b, c) * (1 - 1e-12)


@given(k=st.floats(1.0, 8.0))
def test_faster_memory_or_compute_never_slower_end_to_end(k: float) -> None:
    dev = get_hardware("a100-80gb-sxm")
    side = dev.primary
    faster = dataclasses.replace(
        dev,
        sides=(
            dataclasses.replace(
                side,
                memory=dataclasses.replace(
                    side.memory, bandwidth_bytes_per_s=side.memory.bandwidth_bytes_per_s * k
                ),
                units=tuple(
                    dataclasses.replace(u, peak_flop_per_s={t: v * k for t, v in u.peak_flop_per_s.items()})
                    for u in side.units
                ),
            ),
        ),
    )
    w = Workload(4, 256, 64)
    base, fast = analyze("llama2-7b", dev, w), analyze("llama2-7b", faster, w)
    assert fast.ttft_s <= base.ttft_s * (1 + 1e-12)
    assert fast.tpot_s <= base.tpot_s * (1 + 1e-12)


def test_sweep_matches_analyze() -> None:
    s = sweep("llama2-70b", "h100-sxm", [1, 64], [128, 2048], [16, 2048], tp=4)
    for i, (b, p, g) in enumerate([(1, 128, 16), (64, 2048, 2048)]):
        r = analyze("llama2-70b", "h100-sxm", Workload(b, p, g), tp=4)
        assert s.ttft_s[i] == pytest.approx(r.ttft_s)
        assert s.tpot_s[i] == pytest.approx(r.tpot_s)
        assert s.energy_j_per_token[i] == pytest.approx(r.energy_j_per_token)
        assert bool(s.fits[i]) == r.fits


def test_capacity_check() -> None:
    r = analyze("llama2-70b", "a100-80gb-sxm", Workload(1, 128, 128))
    assert not r.fits and r.footprint_bytes > r.capacity_bytes
    msg = r"needs 1\d\d\.\d GB per device but a100-80gb-sxm has 85\.9 GB \(80\.0 GiB\)"
    with pytest.raises(CapacityError, match=msg):
        analyze("llama2-70b", "a100-80gb-sxm", Workload(1, 128, 128), check_fit=True)
    assert analyze("llama2-70b", "a100-80gb-sxm", Workload(1, 128, 128), tp=2).fits


def test_tensor_parallel_speeds_up_and_pipeline_keeps_latency() -> None:
    w = Workload(8, 512, 64)
    one = analyze("llama2-13b", "h100-sxm", w)
    four = analyze("llama2-13b", "h100-sxm", w, tp=4)
    two_stages = analyze("llama2-13b", "h100-sxm", w, pp=2)
    assert four.tpot_s < one.tpot_s
    assert two_stages.footprint_bytes < one.footprint_bytes
    assert two_stages.tpot_s >= one.tpot_s


def test_single_output_token_has_no_decode() -> None:
    r = analyze("llama2-7b", "h100-sxm", Workload(1, 64, 1))
    assert r.tpot_s == 0 and r.e2e_latency_s == r.ttft_s


@pytest.mark.parametrize("bad", [(0, 1, 1), (1, -5, 1), (1, 1, 0)])
def test_non_positive_sizes_raise(bad: tuple[int, int, int]) -> None:
    with pytest.raises(ConfigError, match="must be a positive integer"):
        Workload(*bad)


def test_moe_and_quantised_models_run() -> None:
    r = analyze("mixtral-8x7b", "h100-sxm", Workload(4, 256, 32), Precision.of("int4"))
    # int4 linear-layer weights with a 16-bit scale and zero per group of 128 (4.25 bits each);
    # the embedding table and LM head stay 16-bit (weight-only formats quantise the linear layers)
    m = get_model("mixtral-8x7b")
    assert r.fits and r.weight_bytes == pytest.approx(
        (m.params - 2 * m.vocab_size * m.d_model) * 4.25 / 8 + 2 * 2 * m.vocab_size * m.d_model, rel=1e-4
    )
