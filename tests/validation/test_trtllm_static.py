"""``trtllm_static.csv`` (TensorRT-LLM's static-batch tables, A100 / H100 / H200 / L40S, FP8
and FP16, TP 1-8) scored in full: every row is predicted or skipped for a reason that is true,
and the error stays at its recorded level. Reads data/measurements/published/ in place.

Recorded levels (MAPE, fraction, committed profiles) plus a small margin. Lower them when
the model improves; never raise them to make a change pass. The issue's targets (12% in
leave-one-GPU-out cross-validation, no hardware x precision group above 20%) are met in
cross-validation (11.3%, worst group H200 FP8 13.4%; docs/calibration.md), which is too slow
for this suite (a refit per fold); these pins hold the committed profiles' levels.
"""

from __future__ import annotations

import pytest

from hetsim.calibration.api import validate
from hetsim.calibration.measurements import published
from hetsim.calibration.report import Report

FILE = published("trtllm_static.csv")
MARGIN = 0.01
ROWS = 78
# the only rows not scored, with their reasons: three '8xH200 = max TP/PP/DP config' rows
# (parallel configuration not stated) and two batch-1 throughput rows whose output length the
# table leaves blank
SKIPPED = {"ambiguous_tag:parallel_config_unknown": 3, "missing_workload": 2}
# Raised twice by physics fixes that independent measurements support, never to make a change
# pass: NVLS all-reduces pay 2 hops, not 2(p - 1) (vidur_allreduce H100, 8 GPUs: 43% -> 12%
# MAPE), and the GEMM tile / split-K choice weighs its fp32 partial traffic (it had made a
# 96-token prefill slower than a 192-token one; kernel rows: held-out 14.9% -> 13.5%). Both
# shorten H100 FP8 prefill, which was already under-predicted on every first-token row
# (0.61-0.85x). Lowered by TensorRT-LLM's per-request host overhead (2.72 ms, fitted on the
# 12 batch-1 128-token first-token rows; 0.145 -> 0.118, H100 first token 0.312 -> 0.163),
# then by the per-SM load cap on attention KV reads (H200 0.246 -> 0.134; 0.118 -> 0.102), then by
# the FP8 GEMM main-loop knob on Hopper (narrow_gemm_efficiency 0.644, fitted on DeepGEMM and
# Azure's GEMM rows, none of these: 0.103 -> 0.092; H100 first token 0.165 -> 0.118, H100
# throughput 0.076 -> 0.065, H200 0.133 -> 0.113).
RECORDED_MAPE = 0.092
# (hardware/metric) -> recorded MAPE
RECORDED = {
    "a100-80gb-sxm/output_throughput_per_gpu": 0.087,
    "a100-80gb-sxm/ttft_first_token_latency": 0.058,
    "h100-sxm/output_throughput_per_gpu": 0.066,
    "h100-sxm/ttft_first_token_latency": 0.119,
    "h200/output_throughput_per_gpu": 0.114,
    "l40s/output_throughput_per_gpu": 0.135,
    "l40s/ttft_first_token_latency": 0.062,
}


@pytest.fixture(scope="module")
def report() -> Report:
    return validate([FILE])


def test_every_row_is_scored_or_skipped_for_its_reason(report: Report) -> None:
    assert dict(report.skipped) == SKIPPED
    assert len(report.scored) == ROWS - sum(SKIPPED.values())
    assert {s.row.precision for s in report.scored} == {"fp8", "fp16"}
    assert {s.row.hardware for s in report.scored} == {"a100-80gb-sxm", "h100-sxm", "h200", "l40s"}
    assert {s.row.tp for s in report.scored} == {1, 2, 4, 8}


def test_total_error_stays_at_recorded_level(report: Report) -> None:
    got = report.stats()["mape"]
    assert got <= RECORDED_MAPE + MARGIN, f"trtllm_static MAPE {got:.3f} rose above {RECORDED_MAPE:.3f}"


@pytest.mark.parametrize(("key", "level"), sorted(RECORDED.items()))
def test_error_by_hardware_and_metric(report: Report, key: str, level: float) -> None:
    got = report.by(lambda s: f"{s.row.hardware}/{s.metric}")[key]["mape"]
    assert got <= level + MARGIN, f"{key}: MAPE {got:.3f} rose above the recorded {level:.3f}"
