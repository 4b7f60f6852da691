"""Serving rows of trtllm_serving.csv through serve-sim: the engine overheads of the trtllm
preset and its batch cap were fitted on the H100 rows (1 ms per iteration, 10 us per sequence,
max_batch_size 512; the H200 rows pick the same values), so the H200 rows are held out. The
per-request front-end time (2.72 ms) is transferred from the static path's TensorRT-LLM fit,
not fitted on these rows. The 202/214 pair states mean lengths (Little's law on its QPS=INF
rows, serving/spread.py): its output lengths are lognormal with CV 0.7, fitted on the H100
rows (the H200 rows pick the same). Target: MAPE <= 12% per metric. Met for the throughputs and mean
TTFT before h200 got the NVLS all-reduce of h100-sxm; now met for the throughputs, missed for mean
ITL and TTFT (strict xfails with the reason); the recorded levels are guarded so they cannot
silently get worse."""

from __future__ import annotations

import pytest

from hetsim.calibration.measurements import PUBLISHED_DIR
from hetsim.serving.engine import get_engine
from hetsim.serving.rows import load_serving_rows
from hetsim.serving.validate import LENGTH_SPREAD, fit_length_spread, mape_by_metric, predict_rows

ROOT = PUBLISHED_DIR
TARGET = 0.12
# held-out H200 MAPE, plus a small margin. Re-recorded when h200 got the NVLink SHARP (NVLS)
# all-reduce that h100-sxm already had (same third-generation NVSwitch; issue 21): ITL 16.2% ->
# 13.8%, TTFT 11.2% -> 13.4%, throughputs 6.7-7.8% -> 7.1-8.4%. H200 now sits at the level of
# the H100 rows the engine was fitted on (TTFT 13.9%, ITL 12.9%, throughputs 7.0-8.4%).
# Re-recorded when TensorRT-LLM's own all-reduce kernels were priced at their measured cost
# (4.07 us a step, 0.604 of NVLink; sgl-project/sglang pull request 2904) instead of a step latency
# fitted on these rows (24 us): ITL 14.0% -> 12.9%, TTFT 12.2% -> 14.2% (the fitted latency had
# carried a Llama-70B TP-4 step cost the model lacks, docs/serving.md).
RECORDED = {
    "request_throughput": 0.085,
    "total_token_throughput": 0.072,
    "output_throughput_total": 0.072,
    "itl_mean": 0.132,
    "ttft_mean": 0.145,
}
MISSES = {
    "itl_mean": "12.9% held out: Llama-70B at TP 4 under-predicted at moderate load (-10..-27% at QPS "
    "2-16, a step cost the model lacks, docs/serving.md), 467/16 rows at QPS=INF/32 whose ITL is a "
    "full-prefill iteration (0.48-0.55 s for 70B) while the simulated 70B prefill keeps up in short "
    "ones, and 8B rows of 5-9 ms written in whole ms",
    "ttft_mean": "14.2% held out (fitted H100 rows 14.6%): Llama-70B at TP 4 under-predicted at "
    "moderate load (-18..-32% at QPS 8-16) and 202-token prompts on both models at every load",
}


@pytest.fixture(scope="module")
def held_out() -> dict[str, float]:
    rows, skipped = load_serving_rows(ROOT / "trtllm_serving.csv")
    rows = [r for r in rows if r.hardware == "h200"]
    assert len(rows) == 180 and not skipped and {r.engine for r in rows} == {"tensorrt-llm"}
    return mape_by_metric(predict_rows(rows))


@pytest.mark.parametrize("metric", sorted(RECORDED))
def test_held_out_error_not_above_recorded(held_out: dict[str, float], metric: str) -> None:
    assert held_out[metric] <= RECORDED[metric]


@pytest.mark.parametrize("metric", sorted(RECORDED))
def test_held_out_target(held_out: dict[str, float], metric: str, request: pytest.FixtureRequest) -> None:
    if metric in MISSES:
        request.applymarker(pytest.mark.xfail(reason=MISSES[metric], strict=True))
    assert held_out[metric] <= TARGET


def test_committed_length_spread_is_the_h100_fit() -> None:
    """LENGTH_SPREAD is what fit_length_spread picks on the H100 rows (the pairs whose QPS=INF
    rows show varied lengths, each CV on the grid scored on that pair's H100 rows)."""
    rows, _ = load_serving_rows(ROOT / "trtllm_serving.csv")
    h100 = [r for r in rows if r.hardware == "h100-sxm"]
    assert fit_length_spread(h100, get_engine("trtllm")) == LENGTH_SPREAD
