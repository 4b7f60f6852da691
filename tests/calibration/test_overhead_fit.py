"""The frameworks' per-request overhead: added once to the first token, fitted as the median
residual of batch-1 short-prompt first-token rows, and refitted without the scored GPU in
leave-one-GPU-out cross-validation."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hetsim.calibration.api import load
from hetsim.calibration.crossval import cross_validate
from hetsim.calibration.e2e import predict_e2e
from hetsim.calibration.overhead_fit import fit_request_overhead, overhead_row, with_request_overhead
from hetsim.errors import ConfigError
from hetsim.hardware.loader import get_hardware
from hetsim.sim.config import Serving
from hetsim.sim.frameworks import TRTLLM_REQUEST_OVERHEAD_S, get_profile
from hetsim.sim.inference import sweep
from hetsim.workload.dtypes import Precision
from hetsim.workload.registry import get_model
from tests.calibration.test_measurements import write_csv

TTFT = {"source_id": "t", "n_devices": 1, "precision": "FP16", "framework": "TensorRT-LLM v0.5 (low latency)",
        "batch_or_concurrency": 1, "input_len": 128, "output_len": 1, "tp": 1, "pp": 1,
        "metric": "ttft_first_token_latency", "value": 0.01, "unit": "s", "model": "Llama-2-7B"}  # fmt: skip
LONG = {**TTFT, "input_len": 2048}  # a compute-heavy row: not one the knob is fitted on


def test_overhead_is_paid_once_by_the_first_token() -> None:
    m, dev = get_model("llama2-7b"), get_hardware("a100-80gb-sxm")
    base = sweep(m, dev, [1, 8], [128, 128], [64, 64], Precision())
    more = sweep(m, dev, [1, 8], [128, 128], [64, 64], Precision(), serving=Serving(request_overhead_s=0.003))
    assert more.ttft_s == pytest.approx(base.ttft_s + 0.003, rel=1e-9)
    assert more.tpot_s == pytest.approx(base.tpot_s, rel=1e-12)
    assert more.e2e_latency_s == pytest.approx(base.e2e_latency_s + 0.003, rel=1e-9)
    with pytest.raises(ConfigError, match="request_overhead_s"):
        Serving(request_overhead_s=-1e-3)
    assert get_profile("tensorrt-llm").serving.request_overhead_s == TRTLLM_REQUEST_OVERHEAD_S
    assert get_profile("lmdeploy").serving.request_overhead_s == 0.0  # no first-token rows fitted it


def _with_residuals(tmp_path: Path, residual_s: dict[str, float]) -> Path:
    """A file whose measured values are the zero-overhead predictions plus a known residual
    per GPU on the batch-1 128-token rows, and 2x the prediction on the long-prompt rows."""
    hw = {"a100-80gb-sxm": "A100-SXM-80GB", "h100-sxm": "H100-SXM-80GB"}
    rows = [{**r, "hardware": hw[h], "model": m} for h in residual_s for m in ("Llama-2-7B", "GPT-J-6B")
            for r in (TTFT, LONG)]  # fmt: skip
    probe = write_csv(tmp_path / "probe.csv", rows)
    _, tasks, _, devices = load([probe])
    out = []
    for t in with_request_overhead(tasks, 0.0):
        assert t.e2e is not None
        for r, p in zip(t.rows, predict_e2e(t.e2e, devices[t.hardware]), strict=True):
            value = p + residual_s[t.hardware] if overhead_row(r) else 2 * p
            out.append({**TTFT, "hardware": hw[t.hardware], "model": r.model, "input_len": r.input_len,
                        "value": value})  # fmt: skip
    return write_csv(tmp_path / "e2e.csv", out)


def test_fit_is_the_median_residual_of_the_short_rows_only(tmp_path: Path) -> None:
    csv = _with_residuals(tmp_path, {"a100-80gb-sxm": 0.002, "h100-sxm": 0.002})
    _, tasks, _, devices = load([csv])
    fit = fit_request_overhead(tasks, devices)
    assert fit.rows == 4 and fit.hardware == ("a100-80gb-sxm", "h100-sxm")
    assert fit.request_overhead_s == pytest.approx(0.002, rel=1e-6)  # long rows (2x off) not used
    none = fit_request_overhead([replace(t, family="kernel") for t in tasks], devices)
    assert (none.request_overhead_s, none.rows) == (0.0, 0)


def test_leave_one_gpu_out_refits_the_overhead_on_the_other_gpu(tmp_path: Path) -> None:
    csv = _with_residuals(tmp_path, {"a100-80gb-sxm": 0.001, "h100-sxm": 0.005})
    cv = cross_validate([csv], "hardware")
    short = [s for s in cv.report.scored if overhead_row(s.row)]
    assert len(short) == 4
    for s in short:  # each GPU is priced with the other GPU's residual, never its own
        own, other = (0.001, 0.005) if s.row.hardware == "a100-80gb-sxm" else (0.005, 0.001)
        assert s.predicted == pytest.approx(s.row.value - own + other, rel=1e-6)
