"""Scoring serving measurements through the simulator, and fitting the engine's host overheads.

Rows come from the shared schema (``../shared/realdata/*.csv``): a serving row names a request
rate (``QPS=N``: Poisson at N req/s, the arrival process the source does not state is assumed
Poisson; ``QPS=INF``: every request at t = 0), fixed prompt and output lengths, and one of
request throughput, total / output token throughput, mean TTFT and mean ITL. Each distinct
configuration is simulated once (500 requests, the count the source used, seed 0) and
every metric of it scored.

Fit and transfer: the two host-overhead knobs of an engine (``step_overhead_s`` per
iteration, ``seq_overhead_s`` per sequence per iteration) are chosen on a grid to minimise
the mean absolute percentage error over the *fit* hardware's rows and scored on the other
hardware's rows; nothing else is tuned.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hetsim.errors import MeasurementError
from hetsim.serving.api import simulate_serving
from hetsim.serving.engine import EngineConfig, get_engine
from hetsim.serving.requests import make_requests

METRICS = {
    "request_throughput": ("request_throughput_per_s", 1.0),
    "total_token_throughput": ("total_throughput_tok_per_s", 1.0),
    "output_throughput_total": ("output_throughput_tok_per_s", 1.0),
    "ttft_mean": ("ttft_mean", 1e-3),  # ms in the source
    "itl_mean": ("itl_mean", 1e-3),
}
HARDWARE = (("H200", "h200"), ("H100", "h100-sxm"))
MODELS = (("3.1 70B", "llama3-70b"), ("3.1 8B", "llama3-8b"), ("3 70B", "llama3-70b"), ("3 8B", "llama3-8b"))
STEP_GRID_S = (0.0, 1e-3, 2e-3, 3e-3)
SEQ_GRID_S = (0.0, 10e-6, 20e-6)


@dataclass(frozen=True, slots=True)
class ServingRow:
    hardware: str  # preset name
    model: str  # preset name
    tp: int
    rate: float  # req/s; inf = all at once
    input_len: int
    output_len: int
    metric: str
    value: float  # SI (s, req/s, tok/s)
    framework: str


@dataclass(frozen=True, slots=True)
class Score:
    row: ServingRow
    predicted: float

    @property
    def ape(self) -> float:
        return abs(self.predicted - self.row.value) / abs(self.row.value)


def _match(text: str, table: tuple[tuple[str, str], ...]) -> str | None:
    return next((name for key, name in table if key.lower() in text.lower()), None)


def load_serving_rows(path: Path) -> list[ServingRow]:
    """The serving rows of a measurement CSV that the simulator can predict (others skipped)."""
    if not path.is_file():
        raise MeasurementError(f"{path}: no such measurement file")
    out: list[ServingRow] = []
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            m = re.fullmatch(r"QPS=(\d+(?:\.\d+)?|INF)", (row.get("batch_or_concurrency") or "").strip())
            metric = row.get("metric", "")
            hw, model = _match(row.get("hardware", ""), HARDWARE), _match(row.get("model", ""), MODELS)
            if not m or metric not in METRICS or hw is None or model is None:
                continue
            try:
                p, g, tp = int(row["input_len"]), int(row["output_len"]), int(row["tp"] or 1)
                value = float(row["value"]) * METRICS[metric][1]
            except (TypeError, ValueError):
                continue
            rate = float("inf") if m.group(1) == "INF" else float(m.group(1))
            out.append(ServingRow(hw, model, tp, rate, p, g, metric, value, row.get("framework", "")))
    return out


def predict_rows(rows: list[ServingRow], eng: EngineConfig, n_requests: int = 500) -> list[Score]:
    configs: dict[tuple[str, str, int, float, int, int], list[ServingRow]] = {}
    for r in rows:
        configs.setdefault((r.hardware, r.model, r.tp, r.rate, r.input_len, r.output_len), []).append(r)
    scores: list[Score] = []
    for (hw, model, tp, rate, p, g), group in configs.items():
        if np.isinf(rate):
            reqs = make_requests(n_requests, arrival="offline", input_len=p, output_len=g)
        else:
            reqs = make_requests(n_requests, rate_per_s=rate, input_len=p, output_len=g, seed=0)
        res = simulate_serving(model, hw, reqs, engine=eng, tp=tp)
        got = {
            "request_throughput_per_s": res.request_throughput_per_s,
            "total_throughput_tok_per_s": res.total_throughput_tok_per_s,
            "output_throughput_tok_per_s": res.output_throughput_tok_per_s,
            "ttft_mean": res.ttft_s.mean,
            "itl_mean": res.itl_s.mean,
        }
        scores += [Score(r, got[METRICS[r.metric][0]]) for r in group]
    return scores


def mape_by_metric(scores: list[Score]) -> dict[str, float]:
    out: dict[str, list[float]] = {}
    for s in scores:
        out.setdefault(s.row.metric, []).append(s.ape)
    return {k: float(np.mean(v)) for k, v in sorted(out.items())}


def fit_overheads(rows: list[ServingRow], base: EngineConfig) -> tuple[EngineConfig, float]:
    """Grid-fit (step_overhead_s, seq_overhead_s) on ``rows``; returns the engine and its MAPE
    (mean over metrics of the per-metric MAPE)."""
    best: tuple[float, EngineConfig] | None = None
    for step in STEP_GRID_S:
        for seq in SEQ_GRID_S:
            eng = base.with_(step_overhead_s=step, seq_overhead_s=seq)
            err = float(np.mean(list(mape_by_metric(predict_rows(rows, eng)).values())))
            if best is None or err < best[0]:
                best = (err, eng)
    assert best is not None
    return best[1], best[0]


@dataclass(frozen=True, slots=True)
class CrossValidation:
    fit_hardware: str
    score_hardware: str
    step_overhead_s: float
    seq_overhead_s: float
    fit_mape: dict[str, float]
    held_out_mape: dict[str, float]


def cross_validate(path: Path, engine: str = "trtllm") -> list[CrossValidation]:
    """Fit on each hardware's rows in turn and score on the other's (two hardware types)."""
    rows = load_serving_rows(path)
    hws = sorted({r.hardware for r in rows})
    out = []
    for fit_hw in hws:
        fit_rows = [r for r in rows if r.hardware == fit_hw]
        eng, _ = fit_overheads(fit_rows, get_engine(engine))
        for score_hw in hws:
            if score_hw == fit_hw:
                continue
            held = [r for r in rows if r.hardware == score_hw]
            out.append(
                CrossValidation(
                    fit_hw,
                    score_hw,
                    eng.step_overhead_s,
                    eng.seq_overhead_s,
                    mape_by_metric(predict_rows(fit_rows, eng)),
                    mape_by_metric(predict_rows(held, eng)),
                )
            )
    return out
