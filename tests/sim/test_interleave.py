"""Overlap across sides: the ``interleave`` option (hetsim.sim.interleave) on every device with
two or more sides, and one memory reached two ways (NeuPIMs' execution block)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import hetsim
from hetsim.errors import CapacityError, ConfigError, HetsimError
from hetsim.hardware.loader import get_hardware
from hetsim.sim.config import Options, Workload
from hetsim.sim.interleave import check_shared_capacity, interleave_step
from hetsim.sim.placed_analyze import evaluate_policy
from hetsim.sim.placed_run import Evaluated
from hetsim.workload.dtypes import Precision
from hetsim.workload.footprint import footprint
from hetsim.workload.registry import get_model

STUDY = Path(__file__).parents[2] / "src" / "hetsim" / "experiments" / "neupims"
HW = STUDY / "hardware" / "neupims.yaml"
MODEL = STUDY / "models" / "gpt3-7b.yaml"
# presets with two or more sides: PIM beside a GPU, HBM + LPDDR, a coupled CPU-GPU chip, a
# GPU composed with a host CPU
MULTI = ("hbm-pim", "h2m2", "gh200", "rtx-4090+xeon-8480x2+dram:1TB")
POLICIES = ("auto", "pim-attention", "offload", "layer-offload")


def _side_work(r: hetsim.AnalysisResult) -> float:
    """The busiest side's decode work alone: its ops' blocked times, per step (an op run by
    several sides counts on each)."""
    names = [s.name for s in r.sides]
    work = dict.fromkeys(names, 0.0)
    for op in r.ops:
        if op.phase == "decode":
            for n in names:
                if n in op.compute.replace("+", " ").split():
                    work[n] += op.time_s
    return max(work.values())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(MULTI),
    st.sampled_from(("llama2-7b", "llama2-70b")),
    st.sampled_from(POLICIES),
    st.integers(2, 256),
    st.integers(16, 4096),
    st.integers(2, 256),
    st.integers(2, 8),
)
def test_interleaving_lies_between_the_slowest_side_alone_and_running_serially(
    hw: str, model: str, policy: str, batch: int, prompt: int, generated: int, subs: int
) -> None:
    assume(subs <= batch)
    kw: dict[str, Any] = {"batch": batch, "input_len": prompt, "output_len": generated, "policy": policy}
    try:
        serial = hetsim.analyze(model, hw, **kw)
    except HetsimError:  # a policy that does not apply to this device or model
        assume(False)
        raise
    inter = hetsim.analyze(model, hw, interleave=subs, **kw)
    if policy != "auto":  # auto may choose another policy once interleaving is priced
        assert inter.policy == serial.policy
    step = inter.decode.time_s
    assert np.isfinite(step) and step > 0
    assert step <= serial.decode.time_s * (1 + 1e-9)  # never slower than running serially
    assert inter.tpot_s <= serial.tpot_s * (1 + 1e-9)
    if inter.policy == serial.policy:
        assert step >= _side_work(inter) * (1 - 1e-9)  # never faster than the slowest side alone
        assert inter.ttft_s == serial.ttft_s  # the prefill is not interleaved
    assert 0 <= inter.decode.mbu <= 1 + 1e-9 and 0 <= inter.decode.mfu <= 1 + 1e-9


def test_interleaving_pays_where_the_two_sides_are_balanced() -> None:
    """H2M2 at a large batch: the HBM's GEMMs and the LPDDR's attention take comparable time,
    so two sub-batches overlap them; more sub-batches reread the weights and pay less."""
    kw: dict[str, Any] = {"batch": 256, "input_len": 2048, "output_len": 64, "policy": "pim-attention"}
    serial, two, four = (hetsim.analyze("llama2-70b", "h2m2", interleave=s, **kw) for s in (1, 2, 4))
    assert two.decode.time_s < 0.8 * serial.decode.time_s
    assert two.decode.time_s < four.decode.time_s <= serial.decode.time_s


def test_sweep_equals_analyze_with_interleaving() -> None:
    B, P, G = [4, 64, 256], [128, 1024, 2048], [16, 64, 8]
    kw: dict[str, Any] = {"policy": "pim-attention", "interleave": 4}
    s = hetsim.sweep("llama2-70b", "h2m2", B, P, G, **kw)
    for i in range(3):
        r = hetsim.analyze("llama2-70b", "h2m2", batch=B[i], input_len=P[i], output_len=G[i], **kw)
        for k in ("ttft_s", "tpot_s", "e2e_latency_s", "energy_j_per_token", "mbu"):
            assert getattr(s, k)[i] == pytest.approx(getattr(r, k), rel=1e-9), (i, k)


@pytest.mark.parametrize(
    ("hw", "batch", "needle"),
    [("h100-sxm", 8, "h100-sxm has one side"), ("h2m2", 2, "the batch is 2; use a batch of at least 4")],
)
def test_where_interleaving_cannot_apply_one_line_and_exit_2(
    hw: str, batch: int, needle: str, run_cli: Callable[..., Any]
) -> None:
    with pytest.raises(ConfigError, match=needle):
        hetsim.analyze("llama2-7b", hw, batch=batch, interleave=4)
    with pytest.raises(ConfigError, match=needle):
        hetsim.sweep("llama2-7b", hw, [batch, 64], [128, 128], [8, 8], interleave=4)
    for cmd in ("analyze", "compare"):
        r = run_cli(cmd, "-m", "llama2-7b", "-H", hw, "-b", str(batch), "--interleave", "4")
        assert r.code == 2 and needle in r.err and len(r.err.strip().splitlines()) == 1, r.err


def _neupims(dev: hetsim.Device, batch: int = 32, prompt: int = 256, generated: int = 256) -> Evaluated:
    m, prec = get_model(MODEL), Precision.of("fp16")
    w, opts = Workload(batch, prompt, generated), Options(tp=4)
    fp = footprint(m, prec, w.batch, prompt + generated, opts, live_len=prompt)
    ev, _ = evaluate_policy("pim-attention", m, dev, prec, w, opts, fp, True)
    return ev


def _step(dev: hetsim.Device, ev: Evaluated, subs: int = 2) -> float:
    return float(np.mean(interleave_step(ev.dec_ops, list(ev.run.decode.costs), dev, subs).step_s))


def test_channel_contention_never_speeds_up_and_weights_reread_without_sram() -> None:
    dev = get_hardware(HW)
    ev = _neupims(dev, batch=64, prompt=900, generated=100)  # long contexts: attention matters
    times = [_step(replace(dev, execution=replace(dev.execution, channel_contention=c)), ev)
             for c in (0.0, 0.25, 0.5, 1.0)]  # fmt: skip
    assert times == sorted(times)
    no_sram = replace(
        dev, sides=(replace(dev.sides[0], memory=replace(dev.sides[0].memory, cache_bytes=0.0)), dev.sides[1])
    )
    ev = _neupims(dev)
    with_sram = interleave_step(ev.dec_ops, list(ev.run.decode.costs), dev, 2)
    without = interleave_step(ev.dec_ops, list(ev.run.decode.costs), no_sram, 2)
    assert float(np.mean(without.extra_s)) > float(np.mean(with_sram.extra_s))
    assert _step(no_sram, ev) > _step(dev, ev)


def test_shared_capacity_counts_once() -> None:
    dev = get_hardware(HW)
    small = replace(
        dev, sides=tuple(replace(s, memory=replace(s.memory, capacity_bytes=12e9)) for s in dev.sides)
    )
    ev = _neupims(small, batch=128, prompt=900, generated=100)
    with pytest.raises(CapacityError, match="one memory"):
        check_shared_capacity(ev, small)


@pytest.mark.parametrize(
    ("execution", "message"),
    [
        ({"sub_batches": 2}, "sub_batches"),  # now the analysis option --interleave
        ({"channel_contention": 1.5}, "channel_contention"),
        ({"channel_contention": "high"}, "channel_contention"),
        ({"shared_memory": ["npu", "nowhere"]}, "nowhere"),
        ({"shared_memory": ["npu"]}, "exactly two"),
    ],
)
def test_bad_execution_sharing_fields_get_one_line_errors(
    tmp_path: Path, execution: dict[str, object], message: str
) -> None:
    raw = yaml.safe_load(HW.read_text())
    raw["execution"] = {**execution, "provenance": {k: "assumed: test" for k in execution}}
    path = tmp_path / "hw.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=message):
        get_hardware(path)
