"""The study registry and `hetsim reproduce NAME / list / all`."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hetsim.errors import UnknownNameError
from hetsim.experiments.registry import get_study, met_count, study_names


def test_every_study_is_registered_with_its_targets() -> None:
    assert study_names() == [
        "h2m2",
        "pim-gpt",
        "accllm",
        "hep-daq",
        "melange",
        "neupims",
        "gh200",
        "sn40l",
        "cloudmatrix",
        "dovetail",
    ]
    assert len(get_study("h2m2").target_names()) == 18  # read through H2M2's own API
    for name in study_names()[1:]:
        mod = importlib.import_module(get_study(name).module)
        assert mod.TARGETS and callable(mod.run)
        assert len({t.name for t in mod.TARGETS}) == len(mod.TARGETS)


def test_an_unknown_study_names_the_closest() -> None:
    with pytest.raises(UnknownNameError, match="pim-gpt"):
        get_study("pimgpt")


def test_met_count_reads_the_targets_rows() -> None:
    assert met_count({"targets": [{"met": True}, {"met": False}, {"met": True}]}) == (2, 3)
    assert met_count({}) == (0, 0)


def test_reproduce_writes_the_report_and_list_reads_it(run_cli: Callable[..., Any], tmp_path: Path) -> None:
    out = tmp_path / "accllm"
    r = run_cli("reproduce", "accllm", "--out", str(out), "--json")
    assert r.code == 0, r.err
    obj = json.loads(r.out)
    assert {t["target"] for t in obj["targets"]} == {
        "throughput over FlightLLM",
        "energy efficiency over FlightLLM",
    }
    text = (out / "report.md").read_text()
    for heading in ("## Targets", "## Assumptions", "## Knobs and their provenance", "## Hardware files"):
        assert heading in text
    assert (out / "ratios.png").stat().st_size > 1000
    listed = run_cli("reproduce", "list", "--out", str(tmp_path))
    assert listed.code == 0
    assert "0/2" in listed.out or "1/2" in listed.out or "2/2" in listed.out
    assert "not run" in listed.out  # the other studies
    again = run_cli("reproduce", "accllm", "--out", str(out))
    assert again.code == 2 and "--force" in again.err


def test_reproduce_refuses_a_folder_holding_other_files(run_cli: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    r = run_cli("reproduce", "pim-gpt", "--out", str(tmp_path))
    assert r.code == 2 and "Traceback" not in r.err
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_the_docs_example_is_a_hardware_file_alone(run_cli: Callable[..., Any]) -> None:
    """docs/reproducing.md: a PIM design no study covers, run with no code; the page's figures."""
    from hetsim.hardware.loader import get_hardware

    path = Path(__file__).parents[2] / "docs/examples/lpddr5-pim.yaml"
    dev = get_hardware(path)
    assert dev.sides[0].memory.bandwidth_bytes_per_s == pytest.approx(0.736e12, rel=0.01)
    r = run_cli("analyze", "-m", "llama3.2-1b", "-H", str(path), "-p", "128", "-g", "256",
                "--weight-dtype", "bf16", "--json")  # fmt: skip
    assert r.code == 0, r.err
    obj = json.loads(r.out)
    assert obj["tpot_s"] == pytest.approx(3.47e-3, rel=0.05)
    assert obj["fits"]
