"""Serving rows of trtllm_serving.csv through serve-sim: the engine overheads of the trtllm
preset were fitted on the H100 rows (1 ms per iteration, 0 per sequence; the H200 rows pick
the same value), so the H200 rows are held out. Target: MAPE <= 12% per metric. Met for the
throughputs; missed for mean ITL and mean TTFT (strict xfails with the reason); the recorded
levels are guarded so they cannot silently get worse."""

from __future__ import annotations

import pytest

from hetsim.calibration.measurements import find_realdata
from hetsim.serving.engine import get_engine
from hetsim.serving.validate import load_serving_rows, mape_by_metric, predict_rows

ROOT = find_realdata()
pytestmark = pytest.mark.skipif(ROOT is None, reason="../shared/realdata not found (set HETSIM_REALDATA)")
TARGET = 0.12
RECORDED = {  # held-out H200 MAPE when the fit was committed, plus a small margin
    "request_throughput": 0.12,
    "total_token_throughput": 0.11,
    "output_throughput_total": 0.11,
    "itl_mean": 0.19,
    "ttft_mean": 0.40,
}
MISSES = {
    "itl_mean": "QPS=32 and QPS=INF rows: the real engine's ITL includes context-phase stalls "
    "of a batch size the source does not state (e.g. 0.48 s measured vs 0.15 s predicted, 70B 467/16)",
    "ttft_mean": "QPS=32 rows: the client's queueing is not in the measured TTFT "
    "(70B 202/214: 0.12 s measured while only 14 of 32 req/s are served; we count the queue)",
}


@pytest.fixture(scope="module")
def held_out() -> dict[str, float]:
    assert ROOT is not None
    rows = [r for r in load_serving_rows(ROOT / "trtllm_serving.csv") if r.hardware == "h200"]
    assert len(rows) == 180
    return mape_by_metric(predict_rows(rows, get_engine("trtllm")))


@pytest.mark.parametrize("metric", sorted(RECORDED))
def test_held_out_error_not_above_recorded(held_out: dict[str, float], metric: str) -> None:
    assert held_out[metric] <= RECORDED[metric]


@pytest.mark.parametrize("metric", sorted(RECORDED))
def test_held_out_target(held_out: dict[str, float], metric: str, request: pytest.FixtureRequest) -> None:
    if metric in MISSES:
        request.applymarker(pytest.mark.xfail(reason=MISSES[metric], strict=True))
    assert held_out[metric] <= TARGET
