"""Offload inference against published measurements (data/measurements/published/offload_*.csv): the
committed global knobs are the fit's optimum, and the error levels recorded in docs/placement.md
hold (a model change that worsens them fails here)."""

from __future__ import annotations

import numpy as np
import pytest

import hetsim
from hetsim.experiments import offload_fit as fit


@pytest.fixture(scope="module")
def errs() -> list[fit.RowError]:
    return fit.errors(fit.LINK_EFFICIENCY, fit.CPU_EFFICIENCY)


def test_presets_carry_the_committed_knobs() -> None:
    for name in ("flexgen-t4", "a6000-offload"):
        dev = hetsim.get_hardware(name)
        assert {sl.link.efficiency for sl in dev.links} == {fit.LINK_EFFICIENCY}
        cpus = [u for s in dev.sides for u in s.units if u.kind == "cpu"]
        assert cpus and all(u.efficiency(1e9) == fit.CPU_EFFICIENCY for u in cpus)
        assert all(sl.link.provenance["efficiency"].kind == "calibrated" for sl in dev.links)


def test_committed_knobs_are_the_grid_optimum_nearby() -> None:
    le, ce, obj = fit.fit((0.5, fit.LINK_EFFICIENCY, 0.8), (0.005, fit.CPU_EFFICIENCY, 0.015))
    assert (le, ce) == (fit.LINK_EFFICIENCY, fit.CPU_EFFICIENCY)
    assert obj < 0.32  # mean |log error| on the fitted subset


def test_recorded_error_levels(errs: list[fit.RowError]) -> None:
    fitted = [abs(e.error) for e in errs if e.fitted]
    held = [abs(e.error) for e in errs if not e.fitted]
    assert len(fitted) == 6 and len(held) == 30
    # issue 7d: engine profiles (ZeRO-Inference and Accelerate offload every layer and do not
    # prefetch; FlexGen does) took the held-out MAPE of the 13 rows then held out from 1.135 to
    # 0.622; with the README's 14 4-bit rows and a BLOOM-176B preset (3 rows) added, 30
    # held-out rows score 0.659. The fitted subset (FlexGen's own rows, unchanged by the
    # profiles) stays at 0.265
    assert np.mean(fitted) <= 0.27 and np.mean(held) <= 0.66


def test_offload_target_met(errs: list[fit.RowError]) -> None:
    """Issue 7's target: within +-25% on at least 6 published offload points from at least two
    sources with one set of global knobs (reached: 14 of 36 points, 11 of them held out, from
    2 sources; the held-out ones alone also span both sources)."""
    within = [e for e in errs if abs(e.error) <= 0.25]
    assert len(within) >= 14 and len({e.row.file for e in within}) >= 2
    held = [e for e in within if not e.fitted]
    assert len(held) >= 11 and len({e.row.file for e in held}) >= 2


def test_bloom_preset_matches_its_published_size() -> None:
    # BLOOM paper (arXiv 2211.05100): 176,247M parameters
    assert hetsim.get_model("bloom-176b").params == pytest.approx(176.247e9, rel=0.005)
