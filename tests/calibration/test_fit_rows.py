"""The rows a fit uses are the rows ``validate`` scores: a static batch that does not fit the
device (a NaN prediction) is skipped by both, and every published model resolves to a preset."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from hetsim.calibration.e2e import model_for
from hetsim.calibration.knobs import fit_knob, knob
from hetsim.calibration.measurements import read_measurements
from hetsim.calibration.predict import plan, predict_task
from hetsim.hardware.loader import get_hardware
from tests.calibration.test_measurements import write_csv

PUBLISHED = Path(__file__).resolve().parents[2] / "data" / "measurements" / "published"
ROW = {"source_id": "t", "hardware": "A100 80GB", "n_devices": 1, "model": "Llama-2-7B",
       "precision": "int8 weight-only", "framework": "gpt-fast", "batch_or_concurrency": 1, "input_len": 128,
       "output_len": 128, "tp": 1, "pp": 1, "metric": "tokens_per_second", "value": 150,
       "unit": "tokens/s"}  # fmt: skip


def test_the_weight_only_fit_leaves_out_rows_that_do_not_fit_the_device(tmp_path: Path) -> None:
    """A batch of 4,096 x 4,096 tokens does not fit an A100's memory: its prediction is NaN,
    validate skips it, and the knob fit (which raised 'Residuals are not finite') fits the
    other two rows, to the value those two alone give."""
    fits = [ROW, {**ROW, "value": 140, "output_len": 256}]
    huge = {**ROW, "batch_or_concurrency": 4096, "input_len": 4096, "value": 1000}
    k = knob("weight_only_stream_efficiency")
    results = []
    for name, rows in (("all.csv", [*fits, huge]), ("fits.csv", fits)):
        tasks, _ = plan(read_measurements([write_csv(tmp_path / name, rows)])[0], lambda h: True, frozenset())
        devices = {t.hardware: get_hardware(t.hardware) for t in tasks}
        base = devices[tasks[0].hardware].kernels
        assert base is not None
        results.append(fit_knob(k, tasks, devices, base))
    assert np.isnan(predict_task(tasks[0], devices[tasks[0].hardware])).sum() == 0
    with_huge, alone = results
    assert with_huge is not None and alone is not None
    assert with_huge.rows == 2 and np.isfinite(with_huge.rms_log_error)
    assert with_huge.params[k.name] == pytest.approx(alone.params[k.name], rel=1e-9)


def test_every_qwen25_speed_benchmark_model_has_a_preset() -> None:
    """Qwen's speed benchmark names 0.5B to 72B Instruct checkpoints: each resolves to its
    preset, whose parameter count matches the model card's."""
    with (PUBLISHED / "qwen25_speed_benchmark.csv").open(newline="") as f:
        names = {r["model"] for r in csv.DictReader(f)}
    assert len(names) == 7
    for name in names:
        m = model_for(name)
        assert m is not None, name
        assert m.params == pytest.approx(m.published_params, rel=0.01), name
