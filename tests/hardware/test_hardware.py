"""Hardware presets and files: provenance on every number, units, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from hetsim.errors import ConfigError, UnknownNameError
from hetsim.hardware import get_hardware, list_hardware
from hetsim.hardware.efficiency import EfficiencyCurve

REQUIRED = [
    "a100-80gb-sxm", "h100-sxm", "h100-pcie", "h200", "b200", "gh200", "mi300x", "tpu-v5e", "l40s",
    "h2m2-hbm-chip", "h2m2-lpddr-chip",
]  # fmt: skip


def test_required_presets_exist() -> None:
    names = {d.name for d in list_hardware()}
    assert set(REQUIRED) <= names


@pytest.mark.parametrize("name", REQUIRED)
def test_every_number_has_provenance(name: str) -> None:
    dev = get_hardware(name)
    sources = dev.sources()
    for side in dev.sides:
        for key in ("capacity", "bandwidth"):
            assert f"{side.name}.{side.memory.name}.{key}" in sources
        for unit in side.units:
            assert f"{side.name}.{unit.name}.peak" in sources
    assert all(
        p.kind in ("datasheet", "paper", "measured", "calibrated", "derived", "assumed")
        for p in sources.values()
    )


def test_datasheet_numbers_h100() -> None:
    d = get_hardware("h100-sxm")
    assert d.primary.memory.capacity_bytes == 80 * 2**30  # "80 GB" boards hold 80 GiB
    assert d.primary.memory.bandwidth_bytes_per_s == 3.35e12
    assert d.peak("bf16") == pytest.approx(989.4e12)
    assert d.peak("int4") == d.peak("int8")  # no int4 rate: falls back to the narrowest wider type


def test_gh200_has_two_sides_with_own_compute() -> None:
    d = get_hardware("gh200")
    assert len(d.sides) == 2 and d.side_link is not None
    assert {s.memory.technology.upper()[:5] for s in d.sides} >= {"HBM3", "LPDDR"} or len(d.sides) == 2
    assert all(s.units for s in d.sides)


def _write(tmp_path: Path, text: str) -> str:
    p = tmp_path / "hw.yaml"
    p.write_text(text)
    return str(p)


MINIMAL = """
name: toy
default_provenance: "assumed: test"
sides:
  - name: main
    memory: {name: DDR, capacity: 16 GB, bandwidth: 100 GB/s}
    units: [{name: mx, kind: matrix, peak: {fp16: 10 TFLOP/s}}]
"""


def test_user_yaml_with_units(tmp_path: Path) -> None:
    d = get_hardware(_write(tmp_path, MINIMAL))
    assert d.primary.memory.capacity_bytes == 16e9
    assert d.primary.memory.bandwidth_bytes_per_s == 100e9
    assert d.peak("fp16") == 10e12


def test_missing_provenance_is_an_error(tmp_path: Path) -> None:
    text = MINIMAL.replace('default_provenance: "assumed: test"\n', "")
    with pytest.raises(ConfigError, match="has no provenance"):
        get_hardware(_write(tmp_path, text))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("bandwidth: 100 GB/s", "bandwidth: 100 furlongs"),
        ("capacity: 16 GB", "capacity: -16 GB"),
        ("kind: matrix", "kind: quantum"),
    ],
)
def test_bad_values_raise_config_error(tmp_path: Path, bad: str, message: str) -> None:
    with pytest.raises(ConfigError):
        get_hardware(_write(tmp_path, MINIMAL.replace(bad, message)))


def test_malformed_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        get_hardware(_write(tmp_path, "name: [unclosed"))


def test_unknown_preset_suggests() -> None:
    with pytest.raises(UnknownNameError, match="did you mean h100-sxm"):
        get_hardware("h100-sxn")


def test_efficiency_curve_interpolates_in_log_size_and_clamps() -> None:
    c = EfficiencyCurve((1e2, 1e4), (0.2, 0.8))
    assert c(1e3) == pytest.approx(0.5)
    assert c(1.0) == 0.2 and c(1e9) == 0.8
    with pytest.raises(ConfigError):
        EfficiencyCurve((1.0,), (1.5,))


def test_a_null_where_a_mapping_belongs_is_one_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Found by the CLI fuzz test: ``units: [null, ...]`` was an internal TypeError."""
    import yaml

    from hetsim.datafiles import read_mapping
    from hetsim.hardware.kernels import overlay_path

    preset = overlay_path("h100-sxm").parents[1] / "presets" / "h100-sxm.yaml"
    raw = read_mapping(preset)
    raw["sides"][0]["units"][0] = None
    path = tmp_path / "hw.yaml"
    path.write_text(yaml.safe_dump(dict(raw)))
    with pytest.raises(ConfigError, match=r"units\[0\]: must be a mapping"):
        get_hardware(str(path))
