"""One memory, two access paths: sub-batch interleaving (hetsim.sim.interleave) and the
execution block's sharing fields."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hetsim.errors import CapacityError, ConfigError
from hetsim.hardware.loader import get_hardware
from hetsim.hardware.spec import Device
from hetsim.sim.config import Options, Workload
from hetsim.sim.interleave import interleave
from hetsim.sim.placed_analyze import evaluate_policy
from hetsim.sim.placed_run import Evaluated
from hetsim.workload.dtypes import Precision
from hetsim.workload.footprint import footprint
from hetsim.workload.registry import get_model

STUDY = Path(__file__).parents[2] / "src" / "hetsim" / "experiments" / "neupims"
HW = STUDY / "hardware" / "neupims.yaml"
MODEL = STUDY / "models" / "gpt3-7b.yaml"


def _run(dev: Device, batch: int = 32, prompt: int = 256, generated: int = 256, tp: int = 4) -> Evaluated:
    m, prec = get_model(MODEL), Precision.of("fp16")
    w, opts = Workload(batch, prompt, generated), Options(tp=tp)
    fp = footprint(m, prec, w.batch, prompt + generated, opts, live_len=prompt)
    ev, _ = evaluate_policy("pim-attention", m, dev, prec, w, opts, fp, True)
    return ev


def test_interleaved_step_lies_between_the_longer_side_and_the_blocked_sum() -> None:
    dev = get_hardware(HW)
    ev = _run(dev)
    it = interleave(ev, dev, 32)
    assert it.blocked_s == pytest.approx(float(ev.metrics["decode_time_s"][0]), rel=1e-9)
    assert max(it.primary_s, it.memory_s) <= it.interleaved_s <= it.blocked_s
    assert it.speedup >= 1.0


def test_one_sub_batch_is_the_blocked_step_and_contention_never_speeds_up() -> None:
    dev = get_hardware(HW)
    ev = _run(dev, batch=64, prompt=900, generated=100)  # long contexts: attention matters
    one = replace(dev, execution=replace(dev.execution, sub_batches=1))
    assert interleave(ev, one, 32).interleaved_s == interleave(ev, one, 32).blocked_s
    times = [
        interleave(ev, replace(dev, execution=replace(dev.execution, channel_contention=c)), 32).interleaved_s
        for c in (0.0, 0.25, 0.5, 1.0)
    ]
    assert times == sorted(times)


@settings(max_examples=12, deadline=None)
@given(
    st.integers(1, 128),
    st.integers(16, 900),
    st.integers(2, 120),
    st.floats(0.0, 1.0),
    st.sampled_from([1, 2, 4]),
    st.booleans(),
)
def test_interleaved_step_is_physical(
    batch: int, prompt: int, generated: int, contention: float, subs: int, sram: bool
) -> None:
    base = get_hardware(HW)
    mem = replace(base.sides[0].memory, cache_bytes=base.sides[0].memory.cache_bytes if sram else 0.0)
    dev = replace(
        base,
        sides=(replace(base.sides[0], memory=mem), base.sides[1]),
        execution=replace(base.execution, channel_contention=contention, sub_batches=subs),
    )
    it = interleave(_run(dev, batch, prompt, generated), dev, 32)
    # never faster than the longer side, never slower than blocked, finite and positive
    assert 0 < max(it.primary_s, it.memory_s) <= it.interleaved_s * (1 + 1e-12)
    assert it.interleaved_s <= it.blocked_s * (1 + 1e-12)


def test_weights_reread_per_sub_batch_without_on_chip_memory() -> None:
    dev = get_hardware(HW)
    ev = _run(dev)
    no_sram = replace(
        dev, sides=(replace(dev.sides[0], memory=replace(dev.sides[0].memory, cache_bytes=0.0)), dev.sides[1])
    )
    with_sram, without = interleave(ev, dev, 32), interleave(ev, no_sram, 32)
    assert with_sram.reread_s == 0.0 < without.reread_s
    assert without.interleaved_s > with_sram.interleaved_s


def test_shared_capacity_counts_once() -> None:
    dev = get_hardware(HW)
    small = replace(
        dev,
        sides=tuple(replace(s, memory=replace(s.memory, capacity_bytes=12e9)) for s in dev.sides),
    )
    ev = _run(small, batch=128, prompt=900, generated=100)
    with pytest.raises(CapacityError, match="one memory"):
        interleave(ev, small, 32)


def test_a_device_without_shared_memory_is_refused() -> None:
    dev = get_hardware("hbm-pim")
    ev = _run(dev, batch=8, tp=1)
    with pytest.raises(ConfigError, match="shared_memory"):
        interleave(ev, dev, 32)


@pytest.mark.parametrize(
    ("execution", "message"),
    [
        ({"sub_batches": 0}, "sub_batches"),
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
