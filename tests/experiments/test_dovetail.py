"""`hetsim reproduce dovetail`: its targets (misses as strict xfails with their cause), its
figures pinned within 2% (a change that moves one fails here and updates PINNED on purpose),
and what the study's own physics must show whatever the knobs."""

from __future__ import annotations

import itertools

import pytest

from hetsim.experiments import dovetail
from hetsim.experiments.registry import get_study
from hetsim.experiments.study import Outcome

PINNED = {
    "speedup over CPU-only, 3 GB of VRAM": 3.291377,
    "7 GB over 3 GB of VRAM": 1.153935,
    "tokens/s with 3 GB of VRAM": 14.411884,
    "tokens/s with 7 GB of VRAM": 16.630377,
}
CPU_CAUSE = "the assumed Xeon 6454S verifies ~2.1x faster than the CPU the abstract implies"
KNOWN_MISSES = {"tokens/s with 3 GB of VRAM": CPU_CAUSE, "tokens/s with 7 GB of VRAM": CPU_CAUSE}


@pytest.fixture(scope="module")
def outcome() -> Outcome:
    out: Outcome = get_study("dovetail").runner()()
    return out


@pytest.mark.parametrize("target", [t.name for t in dovetail.TARGETS])
def test_target(target: str, outcome: Outcome, request: pytest.FixtureRequest) -> None:
    if target in KNOWN_MISSES:
        request.applymarker(pytest.mark.xfail(reason=KNOWN_MISSES[target], strict=True))
    row = next(r for r in outcome.evaluated() if r["target"] == target)
    assert row["met"], f"{target}: {row['value']:.4g} outside [{row['lo']:.4g}, {row['hi']:.4g}]"


def test_figures_unchanged_within_two_percent(outcome: Outcome) -> None:
    got = {r["target"]: r["value"] for r in outcome.evaluated()}
    assert set(got) == set(PINNED)
    for name, value in got.items():
        assert value == pytest.approx(PINNED[name], rel=0.02), name


def test_every_miss_has_a_cause_and_every_knob_a_source(outcome: Outcome) -> None:
    for row in outcome.evaluated():
        assert row["met"] or (row["cause"] and row["cause"] != "not analysed"), row["target"]
    assert {f.name for f in outcome.figures} <= set(dovetail.FIGURES)
    for knob in outcome.knobs:
        assert knob.provenance.split(":")[0] in ("paper", "assumed", "calibrated", "derived", "datasheet"), (
            knob.name
        )


def test_the_study_physics(outcome: Outcome) -> None:
    """Drafting on the GPU beats drafting beside the CPU verify, which beats no drafting; more
    VRAM, more acceptance and (here) more drafted tokens never lower tokens/s; the hand-off is
    paid and is small next to the verify; the GPU holds more of the target at 7 GB."""
    r = outcome.results
    assert r["tok_per_s"]["3"] > r["draft_on_cpu_tok_per_s"] > r["cpu_only_tok_per_s"]
    for key in ("by_budget_tok_per_s", "by_acceptance_tok_per_s"):
        values = list(r[key].values())
        assert all(b >= a for a, b in itertools.pairwise(values)), key
    step = r["step_3gb"]
    assert 0 < step["handoff_ms"] < 0.01 * step["verify_ms"]
    assert step["draft_ms"] > 0 and step["verify_ms"] > step["draft_ms"]
    assert r["gpu_resident_gb"]["7"] > r["gpu_resident_gb"]["3"]
