"""`serve-sim --models`: several models of one architecture behind one engine, through the API's
one path; switch time physically consistent; bad input refused in one line."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

import pytest

from hetsim.errors import ConfigError
from hetsim.hardware.loader import get_hardware
from hetsim.placement.migration import transfer_bandwidth
from hetsim.serving import simulate_serving
from hetsim.serving.engine import EngineConfig
from hetsim.serving.model_switch import ModelMix
from hetsim.serving.requests import make_requests
from tests.conftest import CliResult

Run = Callable[..., CliResult]
HW = "h100-sxm+xeon-8480x2+dram:2TB"  # a GPU beside its host's DRAM: the models wait there
MODELS = "llama2-7b@chat:3,llama2-7b@code,llama2-7b@math"
ARGS = ("serve-sim", "-H", HW, "-n", "120", "-p", "256", "-g", "32", "--rate", "4", "--seed", "3")


def _api(slots: int = 1, rate: float = 4.0) -> object:
    reqs = make_requests(120, rate_per_s=rate, input_len="256", output_len="32", seed=3)
    return simulate_serving("llama2-7b", HW, reqs, models=ModelMix.parse(MODELS, slots, seed=3))


def test_cli_equals_api(run_cli: Run) -> None:
    r = run_cli(*ARGS, "--models", MODELS, "--json")
    assert r.code == 0, r.err
    cli, api = json.loads(r.out), _api().summary()  # type: ignore[attr-defined]
    assert cli["switching"] == api["switching"] and cli["ttft_s"] == api["ttft_s"]
    assert cli["switching"]["switches"] > 0
    shown = run_cli(*ARGS, "--models", MODELS)
    assert shown.code == 0 and f"model switching: {cli['switching']['switches']} switches" in shown.out
    assert "llama2-7b@code:" in shown.out


def test_switch_time_is_switches_times_bytes_over_the_hardware_bandwidth() -> None:
    dev = get_hardware(HW)
    r = _api()
    sw = r.switching  # type: ignore[attr-defined]
    bw = transfer_bandwidth(dev, 1, 0)  # host DRAM -> GPU HBM, the migration's rate
    assert (sw["source"], sw["target"]) == (dev.sides[1].name, dev.sides[0].name)
    assert sw["bandwidth_bytes_per_s"] == pytest.approx(bw)
    assert 13e9 < sw["model_bytes_per_device"] < 14e9  # Llama-2-7B in BF16 on one GPU
    assert sw["switch_s"] == pytest.approx(sw["switches"] * sw["model_bytes_per_device"] / bw)
    assert sum(f["requests"] for f in sw["per_model"].values()) == r.completed == 120  # type: ignore[attr-defined]
    assert sw["per_model"]["llama2-7b@chat"]["requests"] > 120 / 3  # share 3 of 5
    # the copies are time the engine spends; every model resident from the start: no copy at all
    assert r.duration_s >= sw["switch_s"]  # type: ignore[attr-defined]
    two = _api(slots=2).switching  # type: ignore[attr-defined]
    assert two["switch_s"] == pytest.approx(two["switches"] * sw["model_bytes_per_device"] / bw)
    assert 0 < two["switches"] < sw["switches"]
    assert _api(slots=3).switching["switches"] == 0  # type: ignore[attr-defined]


def test_one_model_is_the_plain_run() -> None:
    reqs = make_requests(60, rate_per_s=4.0, input_len="256", output_len="32", seed=1)
    plain = simulate_serving("llama2-7b", HW, reqs, engine=_no_prefix())
    one = simulate_serving("llama2-7b", HW, reqs, models="llama2-7b")
    assert one.switching["switches"] == 0 and one.ttft_s == plain.ttft_s


def _no_prefix() -> EngineConfig:
    from hetsim.serving import get_engine

    return get_engine("vllm").with_(prefix_caching=False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--models", "llama2-7b,lama2-7b"), "did you mean"),
        (("--models", "llama2-7b,mistral-7b"), "mistral-7b is not a llama2-7b"),
        (("--models", "llama2-7b,llama2-7b"), "distinct NAME[:SHARE]"),
        (("--models", "llama2-7b:0,llama2-7b@b"), "shares positive"),
        (("--models", "llama2-7b,llama2-7b@b", "--model-slots", "3"), "--model-slots must be from 1 to"),
        (("--models", "llama2-7b,llama2-7b@b", "-m", "llama2-7b"), "give --model or --models"),
        (("--models", "llama2-7b,llama2-7b@b", "--disaggregate", "1:1"), "drop --disaggregate"),
        (("--models", "llama2-7b,llama2-7b@b", "-H", "h100-sxm"), "needs a capacity tier"),
        (("--models", "llama2-7b,llama2-7b@b", "-H", "h100-sxm+xeon-8480x2+dram:20GB"), "holds the 2 models"),
        (("--model-slots", "2",), "--model-slots goes with --models"),
        (("--models", "llama2-7b,llama2-7b@b", "--spec", "eagle"), "--dp-attention, --spec and --policy"),
        (("--models", "llama3-8b,llama3-8b@b", "-H", "l4+xeon-8480x2+dram:2TB", "--model-slots", "2"),
         "no room for the KV cache"),
    ],
)  # fmt: skip
def test_bad_input_one_line_exit_2(run_cli: Run, args: tuple[str, ...], message: str) -> None:
    r = run_cli(*ARGS, *args)
    assert r.code == 2 and message in r.err and len(r.err.strip().splitlines()) == 1, r.err


@pytest.mark.parametrize(("dram", "source", "gb_per_s"), [("2TB", "host", 37.8), ("20GB", "ssd", 4.7)])
def test_the_capacity_tier_is_the_fastest_side_that_holds_every_model(
    dram: str, source: str, gb_per_s: float
) -> None:
    reqs = make_requests(20, rate_per_s=2.0, input_len="128", output_len="8", seed=0)
    hw = f"h100-sxm+xeon-8480x2+dram:{dram}+nvme"  # host DRAM over PCIe, and a drive below it
    sw = simulate_serving("llama2-7b", hw, reqs, models="llama2-7b,llama2-7b@b").switching
    assert sw["source"] == source and sw["bandwidth_bytes_per_s"] / 1e9 == pytest.approx(gb_per_s, abs=0.05)


def test_zero_copy_bandwidth_is_refused(run_cli: Run, tmp_path: Path) -> None:
    gh200 = files("hetsim.hardware.presets").joinpath("gh200.yaml").read_text()
    assert "bandwidth: 450 GB/s" in gh200  # the CPU-GPU link's, the path switches copy over
    hw = tmp_path / "gh200-no-link.yaml"
    hw.write_text(gh200.replace("bandwidth: 450 GB/s", "bandwidth: 0 GB/s"))
    r = run_cli(*ARGS, "--models", "llama2-7b,llama2-7b@b", "-H", str(hw))
    assert r.code == 2 and "must be positive" in r.err and len(r.err.strip().splitlines()) == 1, r.err
    from hetsim.serving.model_switch import SwitchingScheduler
    from hetsim.serving.schedulers import get_scheduler

    with pytest.raises(ConfigError, match="bandwidth and model sizes must be positive"):
        SwitchingScheduler(get_scheduler("fcfs"), ["a"], {"a": 1e9}, 0.0)
