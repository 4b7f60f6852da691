"""Board power (cost/power.py) over every preset, calibrated and not, and perturbed user-style
devices (hypothesis): average power within [idle, ceiling], energy finite and positive, more
work never less energy, and a power-hungry device throttles instead of drawing above its limit."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hetsim
from hetsim.cost.power import ACTIVE_POWER_FRACTION, active_w, ceiling_w, headroom_w, throttled_s
from hetsim.errors import CapacityError, ConfigError
from hetsim.hardware import get_hardware
from hetsim.hardware.spec import Device

HARDWARE = sorted(d.name for d in hetsim.list_hardware())
MODELS = ["llama2-7b", "mixtral-8x7b", "llama2-13b", "opt-6.7b"]


def _device(name: str, calibrated: bool, mem_scale: float = 1.0, flop_scale: float = 1.0) -> Device:
    """A preset, optionally with its memory and compute energies scaled (a user's YAML)."""
    dev = get_hardware(name, calibrated=calibrated)
    sides = tuple(
        dataclasses.replace(
            s,
            memory=dataclasses.replace(s.memory, energy_j_per_bit=s.memory.energy_j_per_bit * mem_scale),
            units=tuple(
                dataclasses.replace(u, energy_j_per_flop=u.energy_j_per_flop * flop_scale) for u in s.units
            ),
        )
        for s in dev.sides
    )
    return dataclasses.replace(dev, sides=sides)


def _run(
    dev: Device, model: str, b: int, p: int, g: int, tp: int = 1, pp: int = 1
) -> hetsim.AnalysisResult | None:
    try:
        return hetsim.analyze(model, dev, hetsim.Workload(b, p, g), tp=tp, pp=pp)
    except (ConfigError, CapacityError):
        return None  # refused (does not fit, a data type the device lacks, ...)


@settings(max_examples=50, deadline=None)
@given(
    st.sampled_from(HARDWARE), st.booleans(), st.sampled_from(MODELS), st.integers(1, 128),
    st.integers(1, 4096), st.integers(1, 1024), st.floats(0.25, 20.0), st.floats(0.25, 20.0),
    st.sampled_from([(1, 1), (2, 1), (4, 1), (8, 1), (1, 2), (2, 2)]),
)  # fmt: skip
def test_power_lies_between_idle_and_the_ceiling(
    hw: str, calibrated: bool, model: str, b: int, p: int, g: int, mem: float, flop: float,
    par: tuple[int, int],
) -> None:  # fmt: skip
    """Per device (tp x pp of them): at least idle, at most the ceiling."""
    dev = _device(hw, calibrated, mem, flop)
    r = _run(dev, model, b, p, g, *par)
    if r is None:
        return
    n = par[0] * par[1]
    assert math.isfinite(r.energy_j) and r.energy_j > 0
    assert math.isfinite(r.energy_j_per_token) and r.energy_j_per_token > 0
    assert r.avg_power_w / n >= dev.static_power_w * (1 - 1e-9), (hw, r.avg_power_w, n)
    assert r.avg_power_w / n <= ceiling_w(dev) * (1 + 1e-9), (hw, r.avg_power_w, n, ceiling_w(dev))


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(HARDWARE), st.booleans(), st.sampled_from(MODELS), st.integers(1, 64),
    st.integers(1, 2048), st.integers(2, 512), st.sampled_from(["batch", "input", "output"]),
)  # fmt: skip
def test_more_work_never_takes_less_energy(
    hw: str, calibrated: bool, model: str, b: int, p: int, g: int, axis: str
) -> None:
    """A larger batch, a longer prompt or more output tokens move more bytes and run more
    flop: the run's energy never drops."""
    dev = get_hardware(hw, calibrated=calibrated)
    bigger = {"batch": (2 * b, p, g), "input": (b, 2 * p, g), "output": (b, p, 2 * g)}[axis]
    small, large = _run(dev, model, b, p, g), _run(dev, model, *bigger)
    if small is None or large is None:
        return
    assert large.energy_j >= small.energy_j * (1 - 1e-9), (hw, axis, small.energy_j, large.energy_j)


@pytest.mark.parametrize("hw", HARDWARE)
def test_active_floor_and_headroom_partition_the_board(hw: str) -> None:
    dev = get_hardware(hw)
    top = ceiling_w(dev)
    assert dev.static_power_w <= top
    assert active_w(dev) == pytest.approx(ACTIVE_POWER_FRACTION * (top - dev.static_power_w))
    assert dev.static_power_w + active_w(dev) + headroom_w(dev) == pytest.approx(top)


def test_a_host_idle_figure_above_the_gpu_tdp_adds_to_it() -> None:
    dev = get_hardware("flexgen-t4")  # idle 120 W is the whole VM host; TDP 70 W is the T4's
    assert ceiling_w(dev) == pytest.approx(dev.static_power_w + dev.tdp_w)


def test_a_power_hungry_device_throttles_at_its_ceiling() -> None:
    """100x the memory and compute energy: the run slows to the power limit, never above it."""
    base = get_hardware("h100-sxm")
    hungry = _device("h100-sxm", True, 100.0, 100.0)
    w = hetsim.Workload(8, 1024, 128)
    r0, r1 = hetsim.analyze("llama2-7b", base, w), hetsim.analyze("llama2-7b", hungry, w)
    assert r1.e2e_latency_s > 2 * r0.e2e_latency_s
    assert r1.avg_power_w <= ceiling_w(hungry) * (1 + 1e-9)
    assert r1.avg_power_w > 0.9 * ceiling_w(hungry)  # it runs at the limit


def test_throttle_is_the_identity_within_the_headroom() -> None:
    dev = get_hardware("a100-80gb-sxm")
    room = headroom_w(dev)
    assert throttled_s(1.0, 0.5 * room, dev) == 1.0
    assert throttled_s(1.0, 2.0 * room, dev) == pytest.approx(2.0)


@pytest.mark.parametrize("watts", [-1.0, 345.0, 1e4])
def test_an_active_power_outside_the_headroom_is_refused(watts: float) -> None:
    """Below 0, or at/above TDP - idle (no power left for any work): refused in one line."""
    with pytest.raises(ConfigError, match="active_power_w"):
        dataclasses.replace(get_hardware("a100-80gb-sxm"), active_power_w=watts)  # 400 W - 55 W idle


def test_a_hardware_file_may_state_its_active_power(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``active_power_w`` in a YAML replaces the calibrated share; absent, the share applies."""
    from pathlib import Path

    import yaml

    import hetsim.hardware.presets as presets

    raw = yaml.safe_load((Path(presets.__file__).parent / "h100-sxm.yaml").read_text())
    raw["name"] = "h100-own-floor"
    raw["active_power_w"] = 250
    raw.setdefault("provenance", {})["active_power_w"] = "assumed: a test's figure"
    path = tmp_path / "h100-own-floor.yaml"
    path.write_text(yaml.safe_dump(raw))
    dev = get_hardware(path)
    assert active_w(dev) == 250.0
    assert active_w(get_hardware("h100-sxm")) == pytest.approx(ACTIVE_POWER_FRACTION * 600.0)
