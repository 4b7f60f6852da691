"""Calibration by family (hetsim.hardware.family): which knobs price each preset and user
file, with the rule printed; nothing priced at datasheet peak without saying so."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hetsim.hardware.family import ARCHITECTURES
from hetsim.hardware.loader import get_hardware, list_hardware
from hetsim.sim.inference import Workload, analyze

PRESET_DIR = Path(__file__).resolve().parents[2] / "src" / "hetsim" / "hardware" / "presets"
PRESETS = list_hardware()


def _user_copy(tmp_path: Path, preset: str, name: str, drop: tuple[str, ...], **top: object) -> Path:
    raw = yaml.safe_load((PRESET_DIR / f"{preset}.yaml").read_text())
    raw["name"] = name
    raw.pop("aliases", None)
    for key in ("family", *(k for k in top if top[k] is None)):
        raw.pop(key, None)
    raw.update({k: v for k, v in top.items() if v is not None})
    for side in raw["sides"]:
        side["memory"].pop("efficiency", None)
        for unit in side["units"]:
            for k in drop:
                unit.pop(k, None)
                unit.get("provenance", {}).pop(k, None)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.mark.parametrize("dev", PRESETS, ids=lambda d: d.name)
def test_every_preset_has_a_family_and_says_what_prices_it(dev) -> None:  # type: ignore[no-untyped-def]
    assert dev.architecture in ARCHITECTURES
    assert dev.calibration_notes and dev.calibration_notes[0].startswith("calibration: ")
    kinds = {"gpu": "overlay", "systolic": "memory knobs", "cpu": "cpu fit"}
    want = kinds.get(ARCHITECTURES[dev.architecture][1])
    if want is not None:
        assert want in dev.calibration, (dev.name, dev.calibration)
    # no preset at datasheet peak without saying so
    side = dev.primary
    full = [u.name for u in side.units if u.efficiency.values == (1.0,)]
    full += [side.memory.name] if side.memory.efficiency.values == (1.0,) else []
    if dev.kernels is None and full:
        assert any("datasheet peak" in n for n in dev.calibration_notes), dev.name


def test_user_gpu_file_without_sms_or_tiles_gets_the_gpu_knobs(tmp_path: Path) -> None:
    """The issue's case: a user YAML without n_parallel / tile_mn silently got calibration 'none'
    and a 97.9% MFU prefill. The family (here inferred from the description) transfers the
    knobs, and the output says which fields would switch the wave model on."""
    path = _user_copy(tmp_path, "h100-sxm", "my-gpu", ("n_parallel", "tile_mn", "efficiency", "clock"),
                      description="NVIDIA H100 SXM5 80 GB, my numbers")  # fmt: skip
    dev = get_hardware(str(path))
    assert dev.calibration == "transferred from a100-80gb-sxm overlay" and dev.kernels is not None
    assert any("inferred" in n and "h100-sxm" in n for n in dev.calibration_notes)
    assert any("add n_parallel" in n for n in dev.calibration_notes)
    r = analyze("llama3-8b", dev, Workload(8, 2048, 64))
    assert r.mfu < 0.8 and any("gemm_efficiency" in n for n in r.notes)


def test_unknown_family_says_why_and_what_to_add(tmp_path: Path) -> None:
    path = _user_copy(tmp_path, "h100-sxm", "zzz", ("n_parallel", "tile_mn", "efficiency", "clock"),
                      description="my accelerator")  # fmt: skip
    dev = get_hardware(str(path))
    assert dev.calibration == "none" and dev.kernels is None
    notes = " ".join(dev.calibration_notes)
    assert "family unknown" in notes and "add family:" in notes and "datasheet peak" in notes
    # the same file with a family gets the knobs
    raw = yaml.safe_load(path.read_text())
    raw["family"] = {"vendor": "nvidia", "architecture": "hopper"}
    path.write_text(yaml.safe_dump(raw))
    assert get_hardware(str(path)).calibration == "transferred from a100-80gb-sxm overlay"


def test_a_file_named_like_a_preset_shadows_it(tmp_path: Path) -> None:
    path = tmp_path / "h200.yaml"
    path.write_text((PRESET_DIR / "h200.yaml").read_text())
    dev = get_hardware(str(path))
    assert any("shadows that preset" in n for n in dev.calibration_notes)
    # the preset's own overlay is not taken by a user file: the family's transfer prices it
    assert dev.calibration == "transferred from a100-80gb-sxm overlay"


def test_bad_family_is_refused(tmp_path: Path) -> None:
    from hetsim.errors import ConfigError

    path = _user_copy(tmp_path, "h100-sxm", "x", (), family={"vendor": "nvidia", "architecture": "hoper"})
    with pytest.raises(ConfigError, match="did you mean hopper"):
        get_hardware(str(path))
    path = _user_copy(tmp_path, "h100-sxm", "y", (), family={"vendor": "amd", "architecture": "hopper"})
    with pytest.raises(ConfigError, match="nvidia's"):
        get_hardware(str(path))


def test_in_network_reduction_on_every_nvswitch_generation_that_has_it() -> None:
    """Third- (Hopper) and fourth/fifth-generation (Blackwell) NVSwitch reduce in the network
    (NVLink SHARP); A100's second-generation NVSwitch does not. Every switched NVLink 4/5
    preset says so, with a citation."""
    for dev in PRESETS:
        link = dev.interconnect
        if link is None or not link.name.startswith(("NVLink4", "NVLink5")) or "bridge" in link.name:
            continue
        assert link.in_network_reduction, dev.name
        assert link.provenance["in_network_reduction"].kind == "datasheet", dev.name
    assert not get_hardware("a100-80gb-sxm").interconnect.in_network_reduction  # type: ignore[union-attr]
