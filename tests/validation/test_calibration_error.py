"""Regression guard: the cost model's error on the shared development set must not rise above
the recorded level. Reads the committed data/measurements/published/ in place.

Recorded levels (validate with the committed overlays; MAPE, fraction) plus a small margin.
Lower them when the model improves; never raise them to make a change pass.
"""

from __future__ import annotations

import numpy as np
import pytest

from hetsim.calibration.api import validate
from hetsim.calibration.measurements import PUBLISHED_DIR
from hetsim.calibration.predict import across_nodes
from hetsim.calibration.report import Report

ROOT = PUBLISHED_DIR

MARGIN = 0.01
# The files the levels below were recorded on. Files added to data/measurements/published/ later
# (trtllm_static.csv, trtllm_serving.csv) are scored by their own tests once validate reads
# their vocabulary (issue 8); they must not shift these recorded levels silently.
RECORDED_FILES = (
    "gpu_stream.csv",
    "llmcompass_ops.csv",
    "lmdeploy.csv",
    "vidur_allreduce.csv",
    "vidur_ops.csv",
)
# (role/level or role/hardware/metric key, recorded MAPE)
RECORDED = {
    # 0.118 before the tile choice weighed split-K partials (issue 8); 0.111 before norms and
    # SiLU*mul were priced as row kernels (one block per token) with the vector knobs refitted;
    # every kernel row since 8g: the LLMCompass host-timed rows are priced with their timing
    # profile and count here; the CUDA-time rows alone keep their recorded levels below
    # (RECORDED_TIMING)
    "fitted/kernel": 0.080,
    "held-out/kernel": 0.118,  # 0.096 on the CUDA-time rows; + the 108 MI210 host-timed rows (8g)
    # 0.110 before row kernels; 0.107 before the FP8 GEMM knob on Hopper; 0.104 before the small-M
    # GEMM kernel (GEMV class, cost/kernels.py)
    "held-out/e2e": 0.101,
    "fitted/collective": 0.178,
    "held-out/collective": 0.256,  # 0.381 before NVLS all-reduces paid 2 hops, not 2(p - 1) (issue 8)
}
# (role/level/timing, recorded MAPE): CUDA-time kernels ('device') at the levels recorded before
# 8g counted the host-timed rows; LLMCompass host-wall-clock rows (A100 fitted, MI210 held out;
# 5.31 / 3.16 MAPE when they were priced as CUDA time on the row-kernel model, level 'wallclock')
RECORDED_TIMING = {
    "fitted/kernel/device": 0.080,
    # 0.150 before the split-K change; 0.135 before the per-SM load cap; 0.134 before row kernels
    "held-out/kernel/device": 0.096,
    "fitted/kernel/host-wall-clock": 0.108,
    "held-out/kernel/host-wall-clock": 0.717,
}
RECORDED_GEMM_H100 = 0.14  # worst held-out H100 GEMM metric (attn_post_proj)
# held-out H100 vector kernels (per-SM streaming cap, cycle latency, L2 residency)
# (0.157 and 0.353 before row kernels and the reduction's latency in seconds)
RECORDED_VECTOR_H100 = {"input_layernorm": 0.134, "mlp_act": 0.147}
# gpu-stream rows per GPU; H200 was 0.317 before the per-SM load cap (issue 8)
RECORDED_STREAM = {"a100-80gb-sxm": 0.029, "a40": 0.058, "h100-pcie": 0.065, "h200": 0.095, "mi210": 0.155}
# (0.178, 0.067, 0.075 before the small-M GEMM kernel)
RECORDED_E2E = {"ftl_mean": 0.176, "token_latency_p50": 0.058, "output_throughput": 0.070}


@pytest.fixture(scope="module")
def report() -> Report:
    return validate([ROOT / name for name in RECORDED_FILES])


# Vidur's all-reduces over 2 A100 nodes (16 GPUs, 8 a node), scored since the predictor prices
# the second tier (the preset's scale-out NIC, cost/collectives.py): a class of their own, first
# recorded here; the collective levels above are of all-reduces inside one node, as recorded
RECORDED_ACROSS_NODES = 0.786


def _mape(report: Report, key: str, across: bool) -> float:
    role, level = key.split("/")
    a = [s.ape for s in report.scored
         if s.role == role and s.level == level and across_nodes(s.row) == across]  # fmt: skip
    return float(np.mean(a))


@pytest.mark.parametrize(("key", "level"), sorted(RECORDED.items()))
def test_error_by_role_and_level_stays_at_recorded_level(report: Report, key: str, level: float) -> None:
    got = _mape(report, key, across=False)
    assert got <= level + MARGIN, f"{key}: MAPE {got:.3f} rose above the recorded {level:.3f}"


def test_all_reduce_across_nodes_stays_at_recorded_level(report: Report) -> None:
    got = _mape(report, "held-out/collective", across=True)
    assert len([s for s in report.scored if across_nodes(s.row)]) == 9
    assert got <= RECORDED_ACROSS_NODES + MARGIN, f"across nodes: MAPE {got:.3f}"


@pytest.mark.parametrize(("key", "level"), sorted(RECORDED_TIMING.items()))
def test_error_by_timing_stays_at_recorded_level(report: Report, key: str, level: float) -> None:
    got = report.to_json()["by_role_level_timing"][key]["mape"]
    assert got <= level + MARGIN, f"{key}: MAPE {got:.3f} rose above the recorded {level:.3f}"


def test_held_out_h100_gemms(report: Report) -> None:
    j = report.to_json()["by_role_hardware_metric"]
    for op in ("attn_pre_proj", "attn_post_proj", "mlp_up_proj", "mlp_down_proj"):
        got = j[f"held-out/h100-sxm/op_time_median:{op}"]["mape"]
        assert got <= RECORDED_GEMM_H100 + MARGIN, f"H100 {op}: MAPE {got:.3f}"


@pytest.mark.parametrize(("op", "level"), sorted(RECORDED_VECTOR_H100.items()))
def test_held_out_h100_vector_kernels(report: Report, op: str, level: float) -> None:
    got = report.to_json()["by_role_hardware_metric"][f"held-out/h100-sxm/op_time_median:{op}"]["mape"]
    assert got <= level + MARGIN, f"H100 {op}: MAPE {got:.3f} rose above the recorded {level:.3f}"


@pytest.mark.parametrize(("hw", "level"), sorted(RECORDED_STREAM.items()))
def test_stream_bandwidth(report: Report, hw: str, level: float) -> None:
    j = report.to_json()["by_role_hardware_metric"]
    (got,) = [v["mape"] for k, v in j.items() if k.endswith(f"/{hw}/stream_bandwidth")]
    assert got <= level + MARGIN, f"{hw} stream: MAPE {got:.3f} rose above the recorded {level:.3f}"


def test_held_out_kernel_target(report: Report) -> None:
    """Issue 8's target, kernel MAPE <= 12% on held-out rows (met since row kernels: 9.6%; 11.8%
    with the LLMCompass host-timed rows counted, 8g)."""
    assert report.to_json()["by_role_level"]["held-out/kernel"]["mape"] <= 0.12


@pytest.mark.parametrize(("metric", "level"), sorted(RECORDED_E2E.items()))
def test_lmdeploy_end_to_end(report: Report, metric: str, level: float) -> None:
    got = report.to_json()["by_role_hardware_metric"][f"held-out/a100-80gb-sxm/{metric}"]["mape"]
    assert got <= min(level + MARGIN, 0.20), f"lmdeploy {metric}: MAPE {got:.3f}"


def test_no_h100_row_was_fitted(report: Report) -> None:
    assert all(s.role == "held-out" for s in report.scored if s.row.hardware.startswith("h100"))


def test_validate_is_fast_and_counts_skips(report: Report) -> None:
    assert len(report.scored) > 10000
    assert set(report.skipped) <= {
        "unknown_hardware", "partial_occupancy", "multi_node_collective", "exceeds_device_memory",
        "ambiguous_tag:per_gpu_vs_total",
    }  # fmt: skip
