"""The H2M2 experiment: the literal reading reproduces h2m2.md §8's check, the runtime."""

from __future__ import annotations

import numpy as np
import pytest

from hetsim.experiments.h2m2 import DYNAMIC, PREC, mean_speedups, options, step, sweep, systems, tlb
from hetsim.experiments.h2m2_knobs import CALIBRATED, LITERAL
from hetsim.sim.runtime import random_trace, run_dynamic
from hetsim.workload.registry import get_model

# h2m2.md §8: a literal two-side roofline with the greedy mapping
SECTION_8 = {"gpt3-175b": 1.67, "chinchilla-70b": 2.30, "llama2-70b": 2.06}


def test_literal_reading_matches_the_reference_check() -> None:
    ms = mean_speedups(LITERAL, sweep(LITERAL))
    for m, v in SECTION_8.items():
        assert ms[m]["h2m2"]["mean_speedup"] == pytest.approx(v, rel=0.03)


def test_calibration_knobs_are_global_and_documented() -> None:
    assert len({k.name for k in CALIBRATED.knobs}) == len(CALIBRATED.knobs)
    for k in CALIBRATED.knobs:
        assert k.justification and k.fitted_on
        assert not any(m in k.name for m in SECTION_8)


def test_trace_is_seeded() -> None:
    a = random_trace(8, 20, 100, 200, 0.1, seed=1)
    b = random_trace(8, 20, 100, 200, 0.1, seed=1)
    assert np.array_equal(a.lengths, b.lengths)


def test_dynamic_runtime_records() -> None:
    sys = systems(CALIBRATED)
    trace = random_trace(32, 12, 512, 2048, 0.2, seed=DYNAMIC.seed)
    model = get_model("gpt3-175b")
    recs, base = run_dynamic(model, PREC, sys.h2m2, sys.baseline, options(CALIBRATED),
                             "h2m2", trace, tlb=tlb(CALIBRATED))  # fmt: skip
    assert len(recs) == len(base) == 12
    cap = [s.memory.capacity_bytes for s in sys.h2m2.sides]
    for r in recs:
        assert r.used_bytes[0] <= cap[0] and r.used_bytes[1] <= cap[1]
        assert r.time_s > 0 and r.migrated_bytes >= 0
    assert all(r.remapped for r in recs)  # the footprint changes every iteration here


def test_hierarchy_hit_model_and_two_chips() -> None:
    from hetsim.sim.iteration import cached, hit_fraction_resident

    cap = 96e9
    assert hit_fraction_resident(90e9, cap, 0.4) == 1.0  # fits: all hits
    assert hit_fraction_resident(192e9, cap, 0.4) == pytest.approx(0.2)
    sys = systems(CALIBRATED)
    work = step("llama2-70b", 128, 1024, sys.h2m2, CALIBRATED)
    knobs = options(CALIBRATED)
    one = cached(work, 1.0, chips=1, knobs=knobs)
    two = cached(work, 1.0, chips=2, knobs=knobs)
    assert two.time_s < one.time_s  # the capacity side's chip helps, fed from HBM over the link
    assert two.side_bytes[1] == 0.0  # all hits: nothing staged from LPDDR5X
    half = cached(work, 0.5, chips=2, knobs=knobs)
    assert half.time_s > two.time_s and half.side_bytes[1] > 0
    with pytest.raises(Exception, match="1 or 2 chips"):
        cached(work, 1.0, chips=3, knobs=knobs)
