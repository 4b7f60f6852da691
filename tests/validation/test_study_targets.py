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

STUDIES = ("pim-gpt", "accllm", "hep-daq", "melange", "neupims", "gh200", "sn40l")
REFERENCE = json.loads((Path(__file__).parent / "study_reference.json").read_text())
KNOWN_MISSES = {
    ("accllm", "throughput over FlightLLM"): "2.05x, just under 2.09: 2:4-pruned W2 with a 2-bit index per "
    "kept weight reads 2.125 bits per weight; the published 164 token/s implies under 1.7",
    ("accllm", "energy efficiency over FlightLLM"): "2.80x, just under 2.85: the throughput ratio times the "
    "published 45 W / 33 W",
    ("melange", "smallest saving over a single-type fleet, Arena"): "1.5% (A10G at 16 req/s) vs 15%: "
    "hetsim's A10G is the cheapest per request on 98% of Arena's requests, so an A10G-only fleet is "
    "within rounding of the mix",
    ("melange", "smallest saving over a single-type fleet, PubMed"): "0.2% (A100 at 32 req/s) vs 15%: the "
    "A100 is the cheapest per request on 98% of PubMed's requests",
    ("melange", "largest saving over a single-type fleet, mixed"): "68% (H100 at 1 req/s) vs 51%: 2 L4 + "
    "1 A10G serve the mixed set at 1 req/s here, one A100 in the paper",
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
            "measured",
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
    # the chosen mixes re-simulated under steady Poisson load: Arena's and the mixed set's meet the SLO;
    # PubMed's falls just short, its L4 loaded to a profile of 10-request runs that never holds as many
    # 3,584-token prompts in the KV cache as a steady stream does (known, in the report)
    for ds in ("arena", "mixed"):
        assert mel["mix_check"][ds]["attainment"] >= 0.995, ds
    assert 0.97 <= mel["mix_check"]["pubmed"]["attainment"] < 0.995
    for ds, rows in mel["fleets"].items():
        for row in rows:
            assert row["mix_usd_per_hour"] <= min(row["single_usd_per_hour"].values()) + 1e-9, (
                ds,
                row["rate"],
            )


def test_pim_and_coupled_study_details(outcomes: dict[str, Outcome]) -> None:
    """NeuPIMs, GH200 and SN40L: the mechanisms their figures rest on."""
    neu = outcomes["neupims"].results
    for ds in neu["datasets"].values():
        # NPU-only <= naive NPU+PIM <= NeuPIMs: PIM attention helps, overlap never hurts
        assert ds["npu_tok_per_s"] <= ds["naive_tok_per_s"] <= ds["neupims_tok_per_s"]
        # more contention never makes the interleaved step faster
        gains = [ds[f"over_naive_c{c:g}"] for c in (0.0, 0.1, 0.5, 1.0)]
        assert gains == sorted(gains, reverse=True)
    assert neu["pim_stream_tb_per_s"] > neu["external_tb_per_s"]
    gh = outcomes["gh200"].results
    bound = gh["cpu_bound_batch"]
    assert bound["gh200"] >= bound["h100-pcie"] >= bound["a100-pcie"]  # faster GPU, longer CPU-bound
    # kernel fusion shrinks the CPU-bound region on every system
    assert all(gh["cpu_bound_batch_fused"][k] < v for k, v in bound.items())
    ratios = [v["ratio"] for v in gh["cpu_bound_by_grace_scale"].values()]
    assert ratios == sorted(ratios)  # a slower host launch extends the region
    sn = outcomes["sn40l"].results["systems"]
    assert sn["sn40l"]["switch_s"] < sn["dgx-h100"]["switch_s"] < sn["dgx-a100"]["switch_s"]
    # the DGX copy the paper assumes (one link at its datasheet rate) is the fastest single-link copy,
    # and eight links at once beat it; more experts never lower a system's miss rate
    for dgx in ("dgx-h100", "dgx-a100"):
        assert sn[dgx]["switch_parallel_s"] < sn[dgx]["switch_s"] < sn[dgx]["switch_stream_s"]
    for v in sn.values():
        rates = [v["miss_rate"][k] for k in ("50", "100", "150")]
        assert rates == sorted(rates)
    assert sn["sn40l"]["experts_in_capacity_tier"] >= 150 // 8  # every socket's DDR holds its experts


def test_gh200_published_ratio_is_the_tables() -> None:
    """The GH200 study's TensorRT-LLM target is the geometric mean of the committed rows."""
    import math

    from hetsim.calibration.measurements import published
    from hetsim.experiments import gh200
    from hetsim.serving.rows import load_serving_rows

    rows, _ = load_serving_rows(published(gh200.TRTLLM))

    def pick(hw: str) -> dict[tuple[int, int], float]:
        return {
            (r.input_len, r.output_len): r.value
            for r in rows
            if r.hardware == hw and r.model == gh200.TRTLLM_MODEL and r.tp == 1
        }

    g, h = pick("gh200"), pick("h100-sxm")
    keys = sorted(set(g) & set(h) - set(gh200.TRTLLM_SKIP))
    assert len(keys) == 8
    geo = math.prod(g[k] / h[k] for k in keys) ** (1 / len(keys))
    assert geo == pytest.approx(gh200.TRTLLM_PUBLISHED, rel=1e-4)
