"""Units that cannot be misread: bits vs bytes, SI vs binary, case, bare numbers refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hetsim.errors import ConfigError
from hetsim.hardware.loader import device_from_mapping, get_hardware, list_hardware
from hetsim.units import GB, GiB, parse_number, parse_quantity

PRESET = Path(__file__).parents[1] / "src/hetsim/hardware/presets/h100-sxm.yaml"


@pytest.mark.parametrize(
    ("text", "kind", "si"),
    [
        ("400 Gb/s", "bytes_per_s", 50 * GB),
        ("400 GB/s", "bytes_per_s", 400 * GB),
        ("80 GB", "bytes", 80 * GB),
        ("80 GiB", "bytes", 80 * GiB),
        ("80 Gb", "bytes", 10 * GB),
        ("500 ms", "s", 0.5),
        ("989.4 TFLOP/s", "flop_per_s", 989.4e12),
        ("1980 MHz", "hz", 1.98e9),
    ],
)
def test_units_are_read_exactly(text: str, kind: str, si: float) -> None:
    assert parse_quantity(text, kind, where="x") == pytest.approx(si, rel=1e-12)


@pytest.mark.parametrize(
    ("value", "kind", "needle"),
    [
        (6.7, "bytes_per_s", "has no unit"),
        ("6.7", "bytes_per_s", "has no unit"),
        ("500 Ms", "s", "case matters"),
        ("80 gb", "bytes", "case matters"),
        ("1e400 GB", "bytes", "finite"),
        ("-3 ns", "s", "non-negative"),
        ("3 TB/s", "bytes", "not a unit of bytes"),
        (None, "s", "expected a quantity"),
    ],
)
def test_bad_quantities_name_the_key(value: object, kind: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=r"hw\.memory\.bandwidth") as info:
        parse_quantity(value, kind, where="hw.memory.bandwidth")
    assert needle in str(info.value)


def test_unit_in_the_key_name_allows_a_bare_number() -> None:
    assert parse_quantity(4e-6, "s", where="k", unit_in_name=True) == 4e-6
    for bad in (float("nan"), float("inf"), -1.0, True, 10**400):
        with pytest.raises(ConfigError):
            parse_number(bad, where="static_power_w")


@pytest.mark.parametrize(
    ("path", "value", "needle"),
    [
        (("sides", 0, "memory", "bandwidth"), 6.7, "bandwidth: 6.7 has no unit"),
        (("sides", 0, "memory", "capacity"), ".inf GB", "cannot read"),
        (("sides", 0, "memory", "latency"), "-5 ns", "latency"),
        (("sides", 0, "units", 0, "peak", "fp16"), 989, "peak.fp16"),
        (("sides", 0, "units", 0, "tile_mn"), "0 B", "tile_mn"),
        (("sides", 0, "units", 0, "energy_pj_per_flop"), -0.3, "energy_pj_per_flop"),
        (("static_power_w",), float("nan"), "static_power_w"),
        (("n_devices",), 1.5, "n_devices"),
        (("kernel_overhead",), "500 Ms", "kernel_overhead"),
        (("interconnect", "bandwidth"), "1e999 GB/s", "interconnect.bandwidth"),
        (("sides", 0, "units", 0), 1.5, "must be a mapping"),  # found by a 6,000-case fuzz run
    ],
)
def test_hardware_file_values_are_checked(path: tuple[object, ...], value: object, needle: str) -> None:
    raw = yaml.safe_load(PRESET.read_text())
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ConfigError) as info:
        device_from_mapping(raw, "h100-sxm.yaml")
    assert needle in str(info.value)


def test_every_committed_preset_loads_with_strict_units() -> None:
    assert len(list_hardware()) >= 10  # every preset and calibrated overlay parses
    dev = get_hardware("h100-sxm")
    assert dev.primary.memory.bandwidth_bytes_per_s == 3.35e12
    assert dev.primary.memory.cache_bytes == 50 * 2**20
