"""Systems composed from parts (hetsim.hardware.compose): GPU + host CPU + DRAM + NVMe, the
links that join them, and the errors for parts that do not exist or cannot be joined."""

from __future__ import annotations

from pathlib import Path

import pytest

from hetsim.calibration.cpu_fit import STREAM_EFFICIENCY
from hetsim.errors import ConfigError
from hetsim.hardware.compose import PCIE_EFFICIENCY
from hetsim.hardware.loader import get_hardware
from hetsim.sim.inference import Workload, analyze


def test_gpu_with_a_dual_socket_host() -> None:
    dev = get_hardware("rtx4090+xeon-8480x2")
    assert [s.name for s in dev.sides] == ["gpu", "host"]
    host = dev.sides[1]
    cpu = get_hardware("xeon-8480")
    assert host.memory.capacity_bytes == pytest.approx(2 * cpu.primary.memory.capacity_bytes)
    assert host.memory.bandwidth_bytes_per_s == pytest.approx(2 * 307.2e9)
    amx = host.unit_for("matrix")
    assert amx.peak("bf16") == pytest.approx(2 * cpu.primary.unit_for("matrix").peak("bf16"))
    (link,) = dev.links
    # an RTX 4090 is a PCIe 4.0 x16 card: the link runs at the lower generation of the two parts
    assert link.link.name == "PCIe4-x16" and link.link.bandwidth_bytes_per_s == pytest.approx(
        31.5e9, rel=0.01
    )
    assert link.link.efficiency == PCIE_EFFICIENCY
    assert dev.calibration == get_hardware("rtx-4090").calibration and dev.kernels is not None
    assert any(n.startswith("composed:") for n in dev.calibration_notes)


def test_dram_pcie_and_drive_can_be_given() -> None:
    dev = get_hardware("rtx-5090+epyc-9755+dram:256GB+pcie4+nvme:crucial-t705")
    assert [s.name for s in dev.sides] == ["gpu", "host", "ssd"]
    assert dev.sides[1].memory.capacity_bytes == pytest.approx(256e9)
    assert dev.links[0].link.name == "PCIe4-x16"  # the 5090 is a Gen5 card, held to Gen4 here
    assert dev.sides[2].memory.bandwidth_bytes_per_s == pytest.approx(14.5e9)
    assert {(sl.a, sl.b) for sl in dev.links} == {("gpu", "host"), ("host", "ssd")}


def test_a_composition_file_is_the_same_system(tmp_path: Path) -> None:
    path = tmp_path / "box.yaml"
    path.write_text(
        "name: box\ncompose: {gpu: rtx-4090, gpus: 2, host: xeon-8480, sockets: 2, dram: 1 TB, pcie: 4,"
        " nvme: samsung-990-pro}\n"
    )
    a = get_hardware(str(path))
    b = get_hardware("rtx-4090x2+xeon-8480x2+dram:1TB+pcie4+nvme:samsung-990-pro")
    assert a.name == "box" and a.n_devices == b.n_devices == 2
    assert a.sides == b.sides and a.links == b.links
    # two GPUs share the host: each is priced with half its DRAM, bandwidth and cores
    assert a.sides[1].memory.capacity_bytes == pytest.approx(0.5e12)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("rtx-4090+xeon-8481", "did you mean xeon-8480"),
        ("rtx-4090+xeon-8480+nvme:samsung-99", "did you mean samsung-990-pro"),
        ("h100-sxm+mi300x", "both accelerators; no link joins two of them"),
        ("xeon-8480+epyc-9654", "both host CPUs"),
        ("gh200+xeon-8480", "no link joins gh200 to a host"),
        ("tpu-v5e+xeon-8480", "no link joins tpu-v5e to xeon-8480: tpu-v5e has no host_link"),
        ("rtx-4090+xeon-8480+pcie7", "PCIe generations are"),
        ("rtx-4090++xeon-8480", "empty part"),
    ],
)
def test_bad_compositions_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        get_hardware(spec)


def test_bad_composition_exits_2_from_the_cli(run_cli) -> None:  # type: ignore[no-untyped-def]
    res = run_cli("analyze", "-m", "llama3-8b", "-H", "h100-sxm+mi300x")
    text = res.out + res.err
    assert res.code == 2 and "no link joins two of them" in text and "Traceback" not in text


def test_cpu_only_decode_is_memory_bound_at_the_fitted_stream_rate() -> None:
    """A dual-socket Xeon decoding a 70B model in bf16: every weight streams from DDR5 once per
    token at the CPU fit's fraction of the datasheet bandwidth."""
    dev = get_hardware("xeon-8480x2")
    r = analyze("llama3-70b", dev, Workload(1, 128, 16), policy="primary")
    floor = r.weight_bytes / (dev.primary.memory.bandwidth_bytes_per_s * STREAM_EFFICIENCY)
    # the token embedding (about 1.5% of the weights) is looked up, not streamed
    assert 0.97 * floor <= r.tpot_s <= 1.15 * floor
    assert r.calibration == "cpu fit"


def test_many_nodes_of_one_accelerator() -> None:
    dev = get_hardware("h100-sxmx16")
    assert dev.n_devices == 16 and dev.node_devices == 8 and dev.scale_out is not None
    assert "in 2 nodes of 8" in dev.description
