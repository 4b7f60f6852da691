"""Data-collection pipelines (hetsim.dataflow): rates, classification counts, power, metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hetsim.dataflow import Classifier, OpsModel, Pipeline, Source, Stage, evaluate, load_pipeline
from hetsim.dataflow.evaluate import rates
from hetsim.errors import ConfigError

CMS = Path(__file__).parents[2] / "src/hetsim/experiments/hep_daq/cms-run5.yaml"


def _two_stage(skill: float, r1: float = 10.0, r2: float = 10.0) -> Pipeline:
    return Pipeline(
        "t",
        (Source("s", "a", 1000.0, 1e6, 1e-11),),
        (
            Stage("a", "b", r1, Classifier(skill), OpsModel((1e-3,)), 1e-3, 0.0, 1e-11),
            Stage("b", "c", r2, Classifier(skill), OpsModel((0.01,)), 0.1),
            Stage("c"),
        ),
    )


def test_a_stage_keeps_its_fraction_and_a_blind_one_keeps_at_random() -> None:
    r = evaluate(_two_stage(2.0))
    assert r.stage("a").output_rate_hz == pytest.approx(1e5)
    assert r.stage("b").output_rate_hz == pytest.approx(1e4)
    assert r.stored_rate_hz == pytest.approx(1e4)
    assert rates(None, 90.0, 10.0, 0.1) == (0.1, 0.1)
    assert rates(Classifier(0.0), 90.0, 10.0, 0.1) == pytest.approx((0.1, 0.1))


def test_power_is_ops_times_energy_times_rate_plus_link_bits() -> None:
    r = evaluate(_two_stage(2.0))
    a = r.stage("a")
    assert a.op_power_w == pytest.approx(1e-3 * (1e-3 * 1000) * 1e6)
    assert a.link_power_w == pytest.approx(1e-11 * 8 * 1000 * 1e6)
    assert r.power_w == pytest.approx(sum(s.op_power_w + s.link_power_w for s in r.stages))


def test_skill_buys_relevancy() -> None:
    weak, strong = evaluate(_two_stage(1.0)), evaluate(_two_stage(4.0))
    assert strong.f1 > weak.f1
    assert strong.productivity_per_kj > weak.productivity_per_kj


@given(st.floats(0.0, 8.0), st.floats(1.0, 500.0), st.floats(1.0, 500.0), st.floats(0.2, 3.0))
def test_metrics_stay_physical(skill: float, r1: float, r2: float, var: float) -> None:
    p = _two_stage(skill, r1, r2).with_stage("b", classifier=Classifier(skill, var))
    r = evaluate(p)
    for s in r.stages:
        assert 0.0 <= s.false_positive_rate <= 1.0 and 0.0 <= s.true_positive_rate <= 1.0
        if s.name == "a":  # equal variances: a skilled classifier never passes irrelevant samples more
            assert s.false_positive_rate <= s.true_positive_rate + 1e-9
        assert s.output_rate_hz <= s.input_rate_hz * (1 + 1e-9)
    assert 0.0 <= r.precision <= 1.0 and 0.0 <= r.recall <= 1.0 + 1e-9 and 0.0 <= r.f1 <= 1.0 + 1e-9
    assert r.power_w > 0


def test_bad_pipelines_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown stage"):
        Pipeline("t", (Source("s", "nowhere", 1.0, 1.0),), (Stage("a"),))
    with pytest.raises(ConfigError, match="exactly one stage must end"):
        Pipeline("t", (Source("s", "a", 1.0, 1.0),), (Stage("a"), Stage("b")))
    with pytest.raises(ConfigError, match="at least 1"):
        Stage("a", reduction_ratio=0.5)
    with pytest.raises(ConfigError, match="cycle"):
        evaluate(Pipeline("t", (Source("s", "a", 1.0, 1.0),), (Stage("a", "b"), Stage("b", "a"), Stage("c"))))


def test_the_cms_file_loads_with_the_papers_numbers() -> None:
    p = load_pipeline(CMS)
    assert len(p.sources) == 19 and sum(s.bytes_per_sample for s in p.sources) == pytest.approx(8.165e6)
    r = evaluate(p)
    # SystemFlow's L1T: ops = bytes / 2e6 of the 8.425 MB event, 3 mJ each, at 40 MHz
    assert r.stage("L1T").op_power_w == pytest.approx(0.003 * 8.425e6 / 2e6 * 40e6)
    assert r.stage("L1T").output_rate_hz == pytest.approx(40e6 / 53.3)
    assert "classifier" in " ".join(p.provenance)
