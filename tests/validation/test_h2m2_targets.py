"""The calibrated H2M2 reading against the published numbers (issue 4, §8), with the stated
tolerances. Known misses are strict xfails: each carries its reason, and the test fails the
day the model starts meeting it (so the report is updated)."""

from __future__ import annotations

from typing import Any

import pytest

from hetsim.experiments.h2m2_targets import TARGETS

KNOWN_MISSES = {
    "gpt3-175b h2m2 mean": "capacity bound F/(F-96GB) at the stated S already averages above 1.46",
    "chinchilla-70b h2m2 mean": "capacity bound at stated S; an S shift would exceed 608 GB",
    "llama2-70b hierarchical mean": "staged misses bound it near 2.1x; a hit model reaching 2.75x "
    "puts GPT3 near 1.5x",
    "dynamic h2m2 / static-lp": "the worst-case LP places weights (never outgrow the plan); "
    "every HBM-filling mapping ties in the capacity-bound regime",
    "h2m2 memory energy / token": "no non-negative static power per device gives 0.76x and 1.31x "
    "with HBM3/LPDDR5X per-bit energies nearly equal",
}


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    from hetsim.experiments.h2m2_run import reproduce

    return reproduce().results


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_target(target: Any, results: dict[str, Any], request: pytest.FixtureRequest) -> None:
    if target.name in KNOWN_MISSES:
        request.applymarker(pytest.mark.xfail(reason=KNOWN_MISSES[target.name], strict=True))
    value, ok = target.check(results)
    assert ok, f"{target.name}: {value:.3f} outside [{target.lo:.3f}, {target.hi:.3f}]"


def test_json_shape(results: dict[str, Any]) -> None:
    for m in ("gpt3-175b", "chinchilla-70b", "llama2-70b"):
        assert set(results["models"][m]) >= {"h2m2", "oracle", "hierarchical", "lpddr-only"}
        assert "256" in results["literal"]["gpt3-175b"]["h2m2"]["speedup_by_seq_len"]
    assert set(results["dynamic_lengths"]) == {"h2m2", "static-lp", "oracle"}
    assert set(results["energy_per_token_vs_lpddr"]) == {"h2m2", "hbm-8x"}
    for v in results["calibration"].values():
        assert {"value", "fitted_on"} <= set(v)
    assert len(results["residuals"]) >= 27
    assert {r["number"] for r in results["residuals"]} >= {"8xHBM speedup", "dynamic static-lp"}
    assert len(results["compute_scale_scan"]) == 8


def test_energy_arithmetic_says_no_physical_static_term(results: dict[str, Any]) -> None:
    """The 2x2 solve for per-device static power hitting 0.76x and 1.31x exactly is negative."""
    p_h, p_l = results["energy_arithmetic"]["per_device_w"]
    assert p_h < 0 or p_l < 0


def test_reproduction_unchanged_within_one_percent(results: dict[str, Any]) -> None:
    """Every target's value as the reproduction computed it before the placement layer (commit
    ec9192b, tests/validation/h2m2_reference.json): moving H2M2 onto the shared placement path
    must keep each within 1% (issue 7)."""
    import json
    from pathlib import Path

    ref = json.loads((Path(__file__).parent / "h2m2_reference.json").read_text())
    assert set(ref) == {t.name for t in TARGETS}
    for t in TARGETS:
        value = float(t.check(results)[0])
        assert value == pytest.approx(ref[t.name], rel=0.01), t.name


def _leaves(obj: Any, path: str = "") -> dict[str, Any]:
    """Every number, None and flag of a JSON object, keyed by its path."""
    if isinstance(obj, dict):
        return {k: v for key, val in obj.items() for k, v in _leaves(val, f"{path}/{key}").items()}
    if isinstance(obj, list):
        return {k: v for i, val in enumerate(obj) for k, v in _leaves(val, f"{path}/{i}").items()}
    return {path: obj}


def test_reproduce_json_unchanged_within_one_percent(results: dict[str, Any]) -> None:
    """Every number of ``hetsim reproduce h2m2 --json`` as it was before the placed run was
    unified (one auto, one migration formula, execution knobs in the device; saved in
    h2m2_reproduce_json.json): each within 1%, every policy that did not fit still does not
    (null), and the same targets met (13 of 18)."""
    import json
    from pathlib import Path

    from hetsim.cli.reproduce import json_view
    from hetsim.outfiles import strict_json

    ref = _leaves(json.loads((Path(__file__).parent / "h2m2_reproduce_json.json").read_text()))
    now = _leaves(json.loads(strict_json(json_view(results))))  # as --json prints it
    assert set(now) == set(ref)
    for key, want in ref.items():
        got = now[key]
        if isinstance(want, bool) or want is None or isinstance(want, str):
            assert got == want, key
        else:
            assert got == pytest.approx(want, rel=0.01), key
    assert sum(t["met"] for t in results["targets"]) == 13
