"""Every registered study (H2M2 has its own file) against its published targets, and its figures
pinned: a change that moves any figure by more than 2% fails here and updates
tests/validation/study_reference.json on purpose. Known misses are strict xfails with their
cause, so a fix shows up as a test to update."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from hetsim.experiments.registry import get_study
from hetsim.experiments.study import Outcome

STUDIES = ("pim-gpt", "accllm", "hep-daq", "melange")
REFERENCE = json.loads((Path(__file__).parent / "study_reference.json").read_text())
KNOWN_MISSES = {
    ("accllm", "throughput over FlightLLM"): "W2 vs W4 bytes give ~1.9x; AccLLM's pruning is not modelled",
    (
        "accllm",
        "energy efficiency over FlightLLM",
    ): "one board power for both designs: the ratio tracks throughput",
    ("melange", "saving vs the cheapest single type, mixed"): "16.9% vs 13% +30%: just outside the band",
}


@pytest.fixture(scope="module")
def outcomes() -> dict[str, Outcome]:
    return {name: get_study(name).runner()() for name in STUDIES}


CASES = [(s, t.name) for s in STUDIES for t in importlib.import_module(get_study(s).module).TARGETS]


@pytest.mark.parametrize(("study", "target"), CASES, ids=[f"{s}: {t}" for s, t in CASES])
def test_target(
    study: str, target: str, outcomes: dict[str, Outcome], request: pytest.FixtureRequest
) -> None:
    if (study, target) in KNOWN_MISSES:
        request.applymarker(pytest.mark.xfail(reason=KNOWN_MISSES[(study, target)], strict=True))
    row = next(r for r in outcomes[study].evaluated() if r["target"] == target)
    assert row["met"], f"{target}: {row['value']:.4g} outside [{row['lo']:.4g}, {row['hi']:.4g}]"


@pytest.mark.parametrize("study", STUDIES)
def test_figures_unchanged_within_two_percent(study: str, outcomes: dict[str, Outcome]) -> None:
    got = {r["target"]: r["value"] for r in outcomes[study].evaluated()}
    assert set(got) == set(REFERENCE[study])
    for name, value in got.items():
        assert value == pytest.approx(REFERENCE[study][name], rel=0.02), name


@pytest.mark.parametrize("study", STUDIES)
def test_every_miss_has_a_cause_and_every_figure_is_declared(
    study: str, outcomes: dict[str, Outcome]
) -> None:
    o = outcomes[study]
    for row in o.evaluated():
        assert row["met"] or (row["cause"] and row["cause"] != "not analysed"), row["target"]
    assert {f.name for f in o.figures} <= set(importlib.import_module(get_study(study).module).FIGURES)
    for knob in o.knobs:
        assert knob.provenance.split(":")[0] in (
            "paper",
            "datasheet",
            "derived",
            "assumed",
            "calibrated",
        ) or knob.provenance.startswith(("LMSYS", "PubMed")), knob.name


def test_study_details(outcomes: dict[str, Outcome]) -> None:
    """Checks beyond the headlines: the physics each study rests on."""
    pim = outcomes["pim-gpt"].results
    assert pim["pim_stream_bandwidth_tb_per_s"] < pim["pim_column_bandwidth_tb_per_s"]
    assert all(v["pim_ms"] < v["gpu_ms"] for v in pim["models"].values())
    # more channels stream more: the speedups grow with the channel count
    assert (
        pim["sensitivity"]["channels=8"]["max"]
        < pim["speedup_max"]
        < pim["sensitivity"]["channels=32"]["max"]
    )
    hep = outcomes["hep-daq"].results
    assert hep["improved_on_pareto_front"]
    assert (
        hep["improved"]["power_mw"]
        < hep["single_improvements"]["gpu_hlt"]["power_mw"]
        < hep["baseline"]["power_mw"]
    )
    mel = outcomes["melange"].results
    for ds, check in mel["mix_check"].items():
        assert check["attainment"] >= 0.995, ds  # the chosen mix meets the SLO when simulated
    for ds, rows in mel["fleets"].items():
        for row in rows:
            assert row["mix_usd_per_hour"] <= min(row["single_usd_per_hour"].values()) + 1e-9, (
                ds,
                row["rate"],
            )
