"""Physics over EVERY hardware preset, calibrated (own or transferred overlay) and not, and over
randomly perturbed user-style hardware files: MFU and MBU in (0, 1], a larger batch never
makes a decode step faster, more bandwidth never makes a run slower."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hetsim.hardware.efficiency import EfficiencyCurve
from hetsim.hardware.loader import device_from_mapping, get_hardware, list_hardware, with_calibration
from hetsim.hardware.spec import Device
from hetsim.sim.inference import Workload, analyze, sweep
from hetsim.workload.dtypes import Precision

PRESETS = sorted(d.name for d in list_hardware())
MODELS = ["llama2-7b", "mixtral-8x7b", "llama3-8b", "gpt-j-6b", "mistral-7b"]
ONE = 1 + 1e-12  # a purely memory-bound op at efficiency 1 is exactly 1, up to round-off
BATCHES = np.array([1, 2, 3, 4, 8, 16, 32, 64, 128], dtype=float)
PRESET_DIR = Path(__file__).resolve().parents[2] / "src" / "hetsim" / "hardware" / "presets"


def _check(dev: Device, model: str, p: int, g: int, prec: Precision | None = None) -> None:
    # every byte on the primary side: the cost model's physics (issue 8); the same checks on
    # the placed paths (auto, offload and every policy that applies) are in
    # tests/placement/test_physics_placed.py
    r = sweep(model, dev, BATCHES, p, g, prec, policy="primary")
    where = f"{dev.name} ({dev.calibration}) {model} P={p} G={g} {prec.label if prec else ''}"
    assert np.all(np.isfinite(r.tpot_s)) and np.all(r.tpot_s > 0), where
    assert np.all((r.mfu > 0) & (r.mfu <= ONE)), f"{where}: mfu {r.mfu}"
    assert np.all((r.mbu > 0) & (r.mbu <= ONE)), f"{where}: mbu {r.mbu}"
    assert np.all(np.diff(r.tpot_s) >= -1e-12 * r.tpot_s[1:]), f"{where}: tpot {r.tpot_s}"
    assert np.all(np.diff(r.ttft_s) >= -1e-12 * r.ttft_s[1:]), f"{where}: ttft {r.ttft_s}"


GRID = list(PRESETS)  # h2m2 included: its split-prefill MFU is fixed (MFU over every computing side)


@pytest.mark.parametrize("calibrated", [True, False])
@pytest.mark.parametrize("hw", GRID)
def test_hook_grid_every_preset(hw: str, calibrated: bool) -> None:
    """The grid a reviewer checks first: batch 1, 2, 8, 32 at 512 + 64 tokens."""
    dev = get_hardware(hw, calibrated=calibrated)
    for model in ("llama2-7b", "mixtral-8x7b"):
        prev = 0.0
        for b in (1, 2, 8, 32):
            r = analyze(model, dev, Workload(b, 512, 64))
            assert 0 < r.mfu <= ONE and 0 < r.mbu <= ONE, (hw, model, b, r.mfu, r.mbu)
            assert r.tpot_s >= prev, (hw, model, b, r.tpot_s, prev)
            prev = r.tpot_s
            assert r.calibration == dev.calibration


@settings(max_examples=30, deadline=None)
@given(
    hw=st.sampled_from(PRESETS),
    calibrated=st.booleans(),
    model=st.sampled_from(MODELS),
    p=st.integers(1, 4096),
    g=st.integers(2, 1024),
)
def test_random_configurations_every_preset(hw: str, calibrated: bool, model: str, p: int, g: int) -> None:
    _check(get_hardware(hw, calibrated=calibrated), model, p, g)


@settings(max_examples=30, deadline=None)
@given(
    hw=st.sampled_from(PRESETS),
    calibrated=st.booleans(),
    model=st.sampled_from(MODELS),
    weight=st.sampled_from(["int8", "int4"]),
    group=st.sampled_from([0, 32, 64, -1]),
    p=st.integers(1, 4096),
    g=st.integers(2, 1024),
)
def test_weight_only_every_preset(
    hw: str, calibrated: bool, model: str, weight: str, group: int, p: int, g: int
) -> None:
    """The same physics for weight-only int8 / int4 (the dequantising small-M kernels, issue 8)
    over every preset and model (MoE included), calibrated and not."""
    _check(get_hardware(hw, calibrated=calibrated), model, p, g, Precision.of(weight, weight_group=group))


def _perturbed(raw: dict[str, Any], bw: float, peak: float, sms: float, cap: float) -> dict[str, Any]:
    """A user-style copy of a preset file: renamed, bandwidth / peaks / SM count / capacity
    scaled (written back with their units, as a user would)."""
    from hetsim.units import parse_quantity

    out = copy.deepcopy(raw)
    out["name"] = f"user-{raw['name']}"
    out.pop("aliases", None)
    for side in out["sides"]:
        mem = side["memory"]
        mem["bandwidth"] = f"{parse_quantity(mem['bandwidth'], 'bytes_per_s') * bw / 1e9:.6g} GB/s"
        mem["capacity"] = f"{parse_quantity(mem['capacity'], 'bytes') * cap / 1e9:.6g} GB"
        for unit in side["units"]:
            rates = {k: parse_quantity(v, "flop_per_s") * peak for k, v in unit["peak"].items()}
            unit["peak"] = {k: f"{v / 1e12:.6g} TFLOP/s" for k, v in rates.items()}
            if "n_parallel" in unit:
                unit["n_parallel"] = max(1, round(unit["n_parallel"] * sms))
    return out


@settings(max_examples=30, deadline=None)
@given(
    hw=st.sampled_from(PRESETS),
    bw=st.floats(0.25, 4.0),
    peak=st.floats(0.25, 4.0),
    sms=st.floats(0.25, 2.0),
    model=st.sampled_from(MODELS),
    p=st.integers(1, 2048),
    g=st.integers(2, 512),
    calibrated=st.booleans(),
    weight=st.sampled_from(["fp16", "int8", "int4"]),
)
def test_perturbed_user_yamls(
    hw: str, bw: float, peak: float, sms: float, model: str, p: int, g: int, calibrated: bool, weight: str
) -> None:
    raw = yaml.safe_load((PRESET_DIR / f"{hw}.yaml").read_text())
    dev = device_from_mapping(_perturbed(raw, bw, peak, sms, 4.0), "user.yaml")
    dev = with_calibration(dev) if calibrated else dev
    prec = Precision.of(weight)
    _check(dev, model, p, g, prec)
    # more bandwidth is never slower (same calibration, same everything else)
    faster = device_from_mapping(_perturbed(raw, bw * 2, peak, sms, 4.0), "user.yaml")
    faster = with_calibration(faster) if calibrated else faster
    a = sweep(model, dev, BATCHES, p, g, prec, policy="primary")
    b = sweep(model, faster, BATCHES, p, g, prec, policy="primary")
    assert np.all(b.e2e_latency_s <= a.e2e_latency_s * (1 + 1e-9))


def test_user_file_keeps_calibration(tmp_path: Path) -> None:
    """A user's "H100 with doubled bandwidth" carries the shared calibrated knobs, and says
    they were transferred (it used to lose them silently)."""
    raw = yaml.safe_load((PRESET_DIR / "h100-sxm.yaml").read_text())
    path = tmp_path / "h100-2x.yaml"
    path.write_text(yaml.safe_dump(_perturbed(raw, 2.0, 1.0, 1.0, 1.0)))
    dev = get_hardware(str(path))
    assert dev.kernels is not None
    assert dev.calibration == "transferred from a100-80gb-sxm overlay"
    assert get_hardware(str(path), calibrated=False).calibration == "none"


def test_steep_efficiency_ramp_never_makes_a_larger_op_faster() -> None:
    """The presets' assumed memory ramp (0.05 at 10 kB -> 0.25 at 100 kB) read linearly made
    a 20 kB transfer slower than a 40 kB one; the curve prices the monotone envelope."""
    c = EfficiencyCurve((1e4, 1e5, 1e6), (0.05, 0.25, 0.6))
    s = np.logspace(3, 7, 2001)
    t = s / np.asarray(c(s))
    assert np.all(np.diff(t) >= -1e-9 * t[1:])
    assert np.all(np.asarray(c(s)) <= 1.0)


def test_moe_prefill_is_priced_per_expert() -> None:
    """Mixtral's expert GEMMs used to be priced as one expert's GEMM while counting every
    expert's flop: prefill MFU 175-240% on the calibrated path."""
    for hw in ("a100-80gb-sxm", "h100-sxm", "h200"):
        r = analyze("mixtral-8x7b", hw, Workload(32, 512, 64))
        assert 0.3 < r.mfu <= 1, (hw, r.mfu)
