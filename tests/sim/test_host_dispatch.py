"""The host CPU's time per kernel: an engine's calibrated dispatch time scaled by the device's
``host_dispatch_scale`` (a Grace-hosted GH200 against the x86 hosts the engines were fitted on)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from hetsim.engines.host import Serving
from hetsim.errors import ConfigError
from hetsim.hardware.loader import get_hardware
from hetsim.hardware.presets import __file__ as presets_init
from hetsim.sim.config import Workload
from hetsim.sim.inference import analyze
from hetsim.workload.dtypes import Precision

EAGER = Serving(kernel_dispatch_s=23e-6, extra_kernels_per_layer=40)


def _ttft(scale: float, batch: int) -> float:
    dev = replace(get_hardware("gh200"), host_dispatch_scale=scale)
    r = analyze(
        "llama3.2-1b", dev, Workload(batch, 512, 1), Precision.of("bf16"), policy="primary", serving=EAGER
    )
    return r.ttft_s


def test_a_slower_host_stretches_host_bound_passes_only() -> None:
    small, large = _ttft(1.0, 1), _ttft(1.0, 256)
    # batch 1 is host-bound: its pass is the kernels' dispatch, so it doubles with the scale
    assert _ttft(2.0, 1) == pytest.approx(2 * small, rel=0.05)
    # batch 256 is GPU-bound at both scales
    assert _ttft(2.0, 256) == pytest.approx(large, rel=1e-9)


def test_host_bound_region_never_shrinks_with_a_slower_host() -> None:
    for b in (1, 4, 16, 64):
        assert _ttft(1.5, b) >= _ttft(1.0, b)


@pytest.mark.parametrize("value", [0, -1, "fast"])
def test_bad_host_dispatch_scale_is_refused(tmp_path: Path, value: object) -> None:
    raw = yaml.safe_load((Path(presets_init).parent / "gh200.yaml").read_text())
    raw["name"] = "my-gh200"
    raw["host_dispatch_scale"] = value
    raw.setdefault("provenance", {})["host_dispatch_scale"] = "assumed: test"
    path = tmp_path / "hw.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="host_dispatch_scale"):
        get_hardware(path)
