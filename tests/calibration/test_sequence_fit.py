"""vLLM's per-sequence host time: the committed value is the fit on its stated rows, it is
fitted on dense TP-1 rows only, and the rows it was never fitted on (MoE models, the other GPU)
get better with it."""

from __future__ import annotations

import numpy as np
import pytest

from hetsim.calibration.api import _known
from hetsim.calibration.defaults import DEFAULT_SKIP_TAGS
from hetsim.calibration.e2e import model_for, predict_e2e
from hetsim.calibration.measurements import read_measurements
from hetsim.calibration.predict import Task, plan
from hetsim.calibration.sequence_fit import fit_sequence_overhead, sequence_row, with_sequence_overhead
from hetsim.engines import get
from hetsim.engines.vllm import VLLM_SEQUENCE_OVERHEAD_S
from hetsim.hardware.loader import get_hardware
from tests.calibration.test_folds_bands import PUBLISHED

FILE = PUBLISHED / "mlenergy_leaderboard_v3.csv"


@pytest.fixture(scope="module")
def tasks() -> list[Task]:
    rows, _ = read_measurements([FILE])
    out, _ = plan(rows, _known, DEFAULT_SKIP_TAGS)
    return [t for t in out if t.family == "e2e"]


def _mape(tasks: list[Task], value: float, pick: object) -> float:
    apes = []
    for t in with_sequence_overhead(tasks, value):
        assert t.e2e is not None
        pred = predict_e2e(t.e2e, get_hardware(t.hardware))
        for r, p in zip(t.rows, pred, strict=True):
            if pick(r) and np.isfinite(p) and r.metric.startswith(("itl", "output_throughput")):  # type: ignore[operator]
                apes.append(abs(p / r.value - 1))
    assert apes
    return float(np.mean(apes))


def test_the_committed_value_is_the_fit_and_the_record_carries_it(tasks: list[Task]) -> None:
    fit = fit_sequence_overhead(tasks, {t.hardware: get_hardware(t.hardware) for t in tasks})
    assert fit.rows >= 100 and set(fit.hardware) == {"h100-sxm", "b200"}
    assert fit.sequence_overhead_s == pytest.approx(VLLM_SEQUENCE_OVERHEAD_S, rel=0.01)
    assert get("vllm").serving.sequence_overhead_s == VLLM_SEQUENCE_OVERHEAD_S
    assert "ML.ENERGY" in get("vllm").knob_provenance("sequence_overhead_s")
    assert get("vllm-v0").serving.sequence_overhead_s == 0.0  # no rows: not modelled


def test_held_out_rows_improve(tasks: list[Task]) -> None:
    """Fitted on the H100's dense rows alone, it improves the B200's rows, and the MoE rows of
    both GPUs, none of which it saw."""
    h100 = [t for t in tasks if t.hardware == "h100-sxm"]
    value = fit_sequence_overhead(h100, {"h100-sxm": get_hardware("h100-sxm")}).sequence_overhead_s
    assert 20e-6 < value < 80e-6

    def moe(r: object) -> bool:
        m = model_for(r.model)  # type: ignore[attr-defined]
        return m is not None and m.n_experts > 1

    assert not any(sequence_row(r) for t in tasks for r in t.rows if moe(r))
    b200 = [t for t in tasks if t.hardware == "b200"]
    assert _mape(b200, value, lambda r: True) < 0.7 * _mape(b200, 0.0, lambda r: True)
    assert _mape(tasks, value, moe) < 0.5 * _mape(tasks, 0.0, moe)


def test_a_fold_refits_it_without_its_rows() -> None:
    """Leave one source out: ML.ENERGY is its only source, so that fold prices its rows at 0
    (no in-sample credit); leave one hardware out refits it on the other GPU's rows alone."""
    from hetsim.calibration.folds import fold_key, refit

    rows, _ = read_measurements([FILE])
    src = refit(rows, lambda r: fold_key(r, "source") == "mlenergy_leaderboard_v3", "source:mlenergy")
    assert src.sequence_overhead_s == 0.0 and src.fit_rows["sequence_overhead"] == 0
    hw = refit(rows, lambda r: r.hardware == "b200", "hardware:b200")
    assert hw.sequence_overhead_s is not None and 20e-6 < hw.sequence_overhead_s < VLLM_SEQUENCE_OVERHEAD_S
