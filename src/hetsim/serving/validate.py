"""Scoring serving measurements through the simulator, and fitting the engine's host overheads.

Rows come from the shared schema, read by :mod:`hetsim.serving.rows`: a serving row names a
request rate (``QPS=N`` / ``RPS=N``: Poisson at N req/s, the arrival process sources do not
state is assumed Poisson; ``QPS=INF``, ``max-load``, ``MLPerf Offline``: every request at
t = 0; ``concurrency=N``: a closed loop of N users), prompt and output lengths, and a metric
(throughputs, TTFT / TPOT / ITL / end-to-end mean, median or p99). Each distinct configuration
is simulated once (the source's request count, 500 when it gives none, seed 0) on the engine
preset of its framework, and every metric of it scored.

Fit and transfer: the two host-overhead knobs of an engine (``step_overhead_s`` per
iteration, ``seq_overhead_s`` per sequence per iteration) and its batch cap
(``max_num_seqs``, the TensorRT-LLM ``max_batch_size`` the source does not state) are chosen
on a grid to minimise
the mean absolute percentage error over the *fit* hardware's rows and scored on the other
hardware's rows; nothing else is tuned.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hetsim.serving.api import simulate_serving
from hetsim.serving.engine import EngineConfig, get_engine
from hetsim.serving.metrics import ServingResult
from hetsim.serving.requests import make_requests
from hetsim.serving.rows import ServingRow, load_serving_rows
from hetsim.workload.dtypes import Precision

STEP_GRID_S = (0.5e-3, 1e-3, 1.5e-3)
SEQ_GRID_S = (0.0, 10e-6)
BATCH_GRID = (256, 512, 1024)  # max_batch_size: the source does not state the engine's


@dataclass(frozen=True, slots=True)
class Score:
    row: ServingRow
    predicted: float

    @property
    def ape(self) -> float:
        return abs(self.predicted - self.row.value) / abs(self.row.value)


def predicted(res: ServingResult, field: str, n_devices: int) -> float:
    """The result's value for a row's ``field`` (SI)."""
    if field == "output_throughput_per_gpu":
        return res.output_throughput_tok_per_s / max(n_devices, 1)
    simple = {
        "request_throughput": res.request_throughput_per_s,
        "total_throughput": res.total_throughput_tok_per_s,
        "output_throughput": res.output_throughput_tok_per_s,
    }
    if field in simple:
        return simple[field]
    stat, _, q = field.partition("_")
    s = {"ttft": res.ttft_s, "tpot": res.tpot_s, "itl": res.itl_s, "e2e": res.e2e_latency_s}[stat]
    return float(getattr(s, q))


def predict_rows(rows: list[ServingRow], eng: EngineConfig | None = None) -> list[Score]:
    """Simulate each distinct configuration once and score its rows. ``eng``: one engine for
    every row (a fit); None: the preset of each row's framework."""
    configs: dict[tuple[object, ...], list[ServingRow]] = {}
    for r in rows:
        key = (r.hardware, r.model, r.tp, r.arrival, r.rate, r.concurrency, r.n_requests, r.input_len,
               r.output_len, r.precision, r.engine)  # fmt: skip
        configs.setdefault(key, []).append(r)
    scores: list[Score] = []
    for group in configs.values():
        r0 = group[0]
        reqs = make_requests(
            r0.n_requests, arrival=r0.arrival, rate_per_s=r0.rate if r0.arrival == "poisson" else None,  # type: ignore[arg-type]
            concurrency=r0.concurrency or None, input_len=r0.input_len, output_len=r0.output_len, seed=0,
        )  # fmt: skip
        res = simulate_serving(
            r0.model, r0.hardware, reqs, engine=eng or get_engine(r0.engine), tp=r0.tp,
            precision=Precision.of(r0.precision),
        )  # fmt: skip
        scores += [Score(r, predicted(res, r.field, r.n_devices)) for r in group]
    return scores


def mape_by_metric(scores: list[Score]) -> dict[str, float]:
    out: dict[str, list[float]] = {}
    for s in scores:
        out.setdefault(s.row.metric, []).append(s.ape)
    return {k: float(np.mean(v)) for k, v in sorted(out.items())}


def fit_overheads(rows: list[ServingRow], base: EngineConfig) -> tuple[EngineConfig, float]:
    """Grid-fit (step_overhead_s, seq_overhead_s, max_num_seqs) on ``rows``; returns the engine
    and its MAPE (mean over metrics of the per-metric MAPE)."""
    best: tuple[float, EngineConfig] | None = None
    for batch in BATCH_GRID:
        for step in STEP_GRID_S:
            for seq in SEQ_GRID_S:
                eng = base.with_(step_overhead_s=step, seq_overhead_s=seq, max_num_seqs=batch)
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
    max_num_seqs: int
    fit_mape: dict[str, float]
    held_out_mape: dict[str, float]


def cross_validate(path: Path, engine: str = "trtllm") -> list[CrossValidation]:
    """Fit on each hardware's rows in turn and score on the other's (two hardware types)."""
    rows, _ = load_serving_rows(path)
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
                    eng.max_num_seqs,
                    mape_by_metric(predict_rows(fit_rows, eng)),
                    mape_by_metric(predict_rows(held, eng)),
                )
            )
    return out
