"""The drafter on another compute side of a multi-side device (``--spec ...,side=NAME``):
draft passes priced on that side, the hand-off over the link never free, a faster draft side
never slower, more acceptance never fewer tokens per second, a sweep giving what analyze
gives, and bad combinations refused in one line."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hetsim.experiments.dovetail as dovetail_pkg
from hetsim.errors import CapacityError, ConfigError, HetsimError
from hetsim.hardware.loader import get_hardware
from hetsim.hardware.spec import Device
from hetsim.sim.inference import Options, Workload, analyze, sweep
from hetsim.sim.speculative import draft_side, handoff_bytes, side_link, step_drafts
from hetsim.workload.dtypes import Precision
from hetsim.workload.registry import get_model
from hetsim.workload.speculation import Speculation

FP16, FP32 = Precision.of("fp16"), Precision.of("fp32")
DOVETAIL = Path(dovetail_pkg.__file__).parent / "hardware" / "dovetail-host.yaml"
# (hardware, target precision, speculation text with the drafter on a non-primary side, policy)
CASES = [
    (str(DOVETAIL), FP32, "eagle,k=5,layers=3,dtype=fp16,side=gpu", "primary"),
    ("rtx-4090+xeon-8480", FP16, "eagle,k=3,side=host", "primary"),
    ("rtx-4090+xeon-8480", FP16, "draft,k=4,draft=llama3.2-1b,side=host", "primary"),
    ("hbm-pim", FP16, "eagle,k=2,side=pim", "primary"),
]
W = Workload(1, 256, 64)


def _target(spec: str | None) -> str:
    """llama2-7b, or llama3.1-8b for a llama3.2-1b draft model (the same tokenizer)."""
    return "llama3.1-8b" if spec and "llama3.2" in spec else "llama2-7b"


def _run(hw: str | Device, prec: Precision, spec: str | None, policy: str, w: Workload = W) -> Any:
    return analyze(_target(spec), hw, w, prec, policy=policy,
                   speculation=Speculation.parse(spec) if spec else None)  # fmt: skip


def _scaled_side(dev: Device, name: str, k: float) -> Device:
    """``dev`` with side ``name``'s memory bandwidth and every unit's peak times ``k``."""
    sides = []
    for s in dev.sides:
        if s.name == name:
            mem = dataclasses.replace(s.memory, bandwidth_bytes_per_s=s.memory.bandwidth_bytes_per_s * k)
            units = tuple(
                dataclasses.replace(u, peak_flop_per_s={d: r * k for d, r in u.peak_flop_per_s.items()})
                for u in s.units
            )
            s = dataclasses.replace(s, memory=mem, units=units)
        sides.append(s)
    return dataclasses.replace(dev, sides=tuple(sides))


def _scaled_link(dev: Device, k: float) -> Device:
    links = tuple(dataclasses.replace(sl, link=dataclasses.replace(
        sl.link, bandwidth_bytes_per_s=sl.link.bandwidth_bytes_per_s * k, latency_s=sl.link.latency_s / k))
        for sl in dev.side_links())  # fmt: skip
    return dataclasses.replace(dev, links=links, side_link=None)


def test_the_spec_text_carries_side_layers_and_dtype() -> None:
    s = Speculation.parse("eagle,k=5,layers=3,dtype=fp16,side=gpu")
    assert s == Speculation("eagle", 5, 0.8, "", "gpu", 3, "fp16")
    assert Speculation.parse("eagle") == Speculation("eagle", 3, 0.8)  # the old record, unchanged
    assert "on side gpu" in s.label and "3 layers" in s.label and "fp16" in s.label
    assert s.drafter(get_model("llama2-7b")).n_layers == 3


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0].rsplit('/', 1)[-1]}:{c[2]}" for c in CASES])
def test_the_drafter_runs_on_its_side_and_pays_the_link(case: tuple[Any, ...]) -> None:
    hw, prec, text, policy = case
    dev, spec, m = get_hardware(hw), Speculation.parse(text), get_model(_target(text))
    assert spec is not None
    s = draft_side(spec, dev)
    assert s > 0
    link = side_link(dev, s)
    out, back = handoff_bytes(spec, m, prec, 1.0)
    assert out > 0 and back > out  # the verdict carries the accepted tokens (and features for a head)
    opts = Options(speculation=spec)
    from hetsim.engines import Serving

    sd = step_drafts(spec, m, dev, prec, 1.0, np.array([[300.0]]), opts, Serving())
    assert float(np.min(sd.handoff_s)) >= 2 * link.latency_s > 0  # two messages a step, never free
    r = _run(hw, prec, text, policy)
    assert np.isfinite(r.tpot_s) and r.tpot_s > 0
    assert 0 < r.mbu <= 1 and 0 < r.decode.mfu <= 1
    # a slower link slows the step, a faster one never slows it
    slow = _run(_scaled_link(dev, 0.1), prec, text, policy)
    fast = _run(_scaled_link(dev, 10.0), prec, text, policy)
    assert slow.tpot_s > r.tpot_s >= fast.tpot_s
    assert slow.ttft_s > r.ttft_s  # the prompt's hand-off after the prefill


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0].rsplit('/', 1)[-1]}:{c[2]}" for c in CASES])
def test_a_faster_draft_side_never_slows_a_step(case: tuple[Any, ...]) -> None:
    hw, prec, text, policy = case
    dev, spec = get_hardware(hw), Speculation.parse(text)
    assert spec is not None
    base = _run(dev, prec, text, policy).tpot_s
    for k in (1.5, 4.0):
        assert _run(_scaled_side(dev, spec.side, k), prec, text, policy).tpot_s <= base * (1 + 1e-12)


def test_a_drafter_on_the_gpu_beats_one_on_the_cpu_when_the_cpu_verifies() -> None:
    """Dovetail's point: with the target verified on the host CPU, drafting on the GPU is faster
    than drafting on the CPU beside the verify (same drafter, same acceptance)."""
    gpu = _run(str(DOVETAIL), FP32, "eagle,k=5,layers=3,dtype=fp16,side=gpu", "primary")
    cpu = _run(str(DOVETAIL), FP32, "eagle,k=5,layers=3,dtype=fp16", "primary")
    plain = _run(str(DOVETAIL), FP32, None, "primary")
    assert gpu.tpot_s < cpu.tpot_s and gpu.tpot_s < plain.tpot_s


@settings(max_examples=12, deadline=None)
@given(st.sampled_from(CASES), st.lists(st.floats(0.0, 1.0), min_size=2, max_size=3, unique=True))
def test_more_acceptance_never_lowers_tokens_per_second(case: tuple[Any, ...], alphas: list[float]) -> None:
    hw, prec, text, policy = case
    rates = []
    for a in sorted(alphas):
        r = _run(hw, prec, f"{text},accept={a}", policy)
        rates.append(r.output_throughput_tok_per_s)
        assert 0 <= r.mbu <= 1 and 0 <= r.decode.mfu <= 1
    assert all(b >= a * (1 - 1e-12) for a, b in itertools.pairwise(rates))


@pytest.mark.parametrize("case", CASES[:2], ids=["dovetail", "rtx-4090+xeon"])
def test_a_sweep_gives_what_analyze_gives(case: tuple[Any, ...]) -> None:
    hw, prec, text, policy = case
    spec = Speculation.parse(text)
    s = sweep(_target(text), hw, np.array([1, 2, 4]), np.array([128, 512, 256]), 64, prec, policy=policy,
              speculation=spec)  # fmt: skip
    for i, (b, p) in enumerate(((1, 128), (2, 512), (4, 256))):
        one = _run(hw, prec, text, policy, Workload(b, p, 64))
        assert s.tpot_s[i] == pytest.approx(one.tpot_s, rel=1e-12)
        assert s.ttft_s[i] == pytest.approx(one.ttft_s, rel=1e-12)


def test_the_drafter_is_held_on_its_side() -> None:
    """Off the primary, the drafter's weights leave the target's footprint and take room on
    their side; a drafter larger than its side is refused with both sizes."""
    on = _run("rtx-4090+xeon-8480", FP16, "draft,k=4,draft=llama3.2-1b", "primary")
    off = _run("rtx-4090+xeon-8480", FP16, "draft,k=4,draft=llama3.2-1b,side=host", "primary")
    assert off.footprint_bytes < on.footprint_bytes
    dev = get_hardware(str(DOVETAIL))
    tiny = dataclasses.replace(dev, sides=(dev.sides[0], dataclasses.replace(
        dev.sides[1], memory=dataclasses.replace(dev.sides[1].memory, capacity_bytes=1e9))))  # fmt: skip
    with pytest.raises(CapacityError, match="do not fit side 'gpu'"):
        _run(tiny, FP32, "eagle,k=5,layers=3,dtype=fp16,side=gpu", "primary")


@pytest.mark.parametrize(
    ("hw", "text", "needle"),
    [
        ("h100-sxm", "eagle,side=gpu", "has no side 'gpu'"),
        ("rtx-4090+xeon-8480+nvme", "eagle,side=ssd", "no compute units"),
        ("rtx-4090+xeon-8480", "eagle,side=hostt", "its sides are gpu, host"),
    ],
)
def test_a_side_that_cannot_draft_is_refused(hw: str, text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        _run(hw, FP16, text, "auto")


@pytest.mark.parametrize("bad", ["mtp,layers=2", "eagle,layers=0", "eagle,dtype=fp7", "eagle,layers=x"])
def test_bad_drafter_options_are_refused(bad: str) -> None:
    with pytest.raises(HetsimError):
        Speculation.parse(bad)


def test_the_cli_refuses_a_missing_side_in_one_line(run_cli: Any) -> None:
    r = run_cli("analyze", "-m", "llama2-7b", "-H", "h100-sxm", "--spec", "eagle,side=cpu")
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1 and "side" in r.err
    ok = run_cli("analyze", "-m", "llama2-7b", "-H", "rtx-4090+xeon-8480", "--spec", "eagle,side=host")
    assert ok.code == 0 and "on side host" in ok.out


def test_mtp_heads_on_another_side_carry_the_targets_features() -> None:
    """MTP heads on the PIM side of hbm-pim: the verdict carries the target's last hidden state
    per verified position (the embedding half of the head's input is looked up on its side),
    the drafts k token ids, and the run's figures stay physical."""
    m, prec = get_model("qwen3-next-80b-a3b"), Precision.of("fp8")
    spec = Speculation.parse("mtp,side=pim")
    assert spec is not None
    out, back = handoff_bytes(spec, m, prec, 2.0)
    ab = prec.activation.bytes_per_element
    assert back - 2 * (spec.tokens + 1) * 4.0 == pytest.approx(2 * (spec.tokens + 1) * m.d_model * ab)
    assert out == 2 * spec.tokens * 4.0
    w = Workload(1, 256, 32)
    r = analyze(m, "hbm-pim", w, prec, policy="primary", speculation=spec)
    assert np.isfinite(r.tpot_s) and 0 < r.mbu <= 1


def test_the_one_option_set_carries_the_side() -> None:
    """AnalysisOptions (the CLI's, the dashboard's and the API's one door) gives what analyze
    gives, and says where the drafter's weights are."""
    from hetsim.options import AnalysisOptions, run_analysis

    o = AnalysisOptions(model="llama2-7b", hardware="rtx-4090+xeon-8480", spec="eagle,k=3,side=host",
                        batch=1, input_len=256, output_len=64, policy="primary")  # fmt: skip
    r = run_analysis(o)
    assert r.tpot_s == _run("rtx-4090+xeon-8480", FP16, "eagle,k=3,side=host", "primary").tpot_s
    assert any("held on host" in n for n in r.notes)
    with pytest.raises(ConfigError, match="no side 'npu'"):
        run_analysis(o.replace(spec="eagle,side=npu"))
