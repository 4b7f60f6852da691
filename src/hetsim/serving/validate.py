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
hardware's rows. Where the fit hardware's QPS=INF rows show that a length pair states means
(:mod:`hetsim.serving.spread`), the spread of its output lengths is chosen first, on the same
rows; nothing else is tuned.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hetsim.engines import get as get_engine_record
from hetsim.errors import ConfigError, HetsimError
from hetsim.serving.api import simulate_serving
from hetsim.serving.engine import EngineConfig, get_engine
from hetsim.serving.metrics import ServingResult
from hetsim.serving.requests import make_requests
from hetsim.serving.rows import ServingRow, load_serving_rows
from hetsim.serving.spread import CV_GRID, Pair, pair_of, varied_pairs, with_output_spread
from hetsim.workload.dtypes import Precision

STEP_GRID_S = (0.5e-3, 1e-3, 1.5e-3)
SEQ_GRID_S = (0.0, 10e-6)
BATCH_GRID = (256, 512, 1024)  # max_batch_size: the source does not state the engine's
# lognormal coefficient of variation of the output lengths of a pair that states means: fitted
# on the H100 rows of trtllm_serving.csv (fit_length_spread; the H200 rows pick the same)
LENGTH_SPREAD: dict[Pair, float] = {("trtllm_v014_serving", 202, 214): 0.7}


@dataclass(frozen=True, slots=True)
class Score:
    row: ServingRow
    predicted: float

    @property
    def ape(self) -> float:
        return abs(self.predicted - self.row.value) / abs(self.row.value)


def predicted(res: ServingResult, field: str, n_devices: int, rate: float = float("nan")) -> float:
    """The result's value for a row's ``field`` (SI). ``rate``: an MLPerf Server row's rate found
    by the search (its throughputs are that rate's, in steady state)."""
    if rate == rate:
        per_req = {"request_throughput": 1.0, "output_throughput": float(np.mean(res.output_len)),
                   "total_throughput": float(np.mean(res.output_len + res.input_len))}  # fmt: skip
        per_req["output_throughput_per_gpu"] = per_req["output_throughput"] / max(n_devices, 1)
        if field in per_req:
            return rate * per_req[field]
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


def _reason(exc: Exception) -> str:
    """A skip reason: the error's message with its numbers replaced, so equal causes count together."""
    return re.sub(r"\d[\d,.]*", "N", f"{type(exc).__name__}: {exc}")[:200]


def _context(r: ServingRow) -> int:
    from hetsim.workload.registry import get_model

    return get_model(r.model).max_seq_len if r.mix else 0


def _simulate(r0: ServingRow, eng: EngineConfig | None, cv: float) -> tuple[ServingResult, float]:
    """One configuration's run, and for an MLPerf Server row the rate the search found."""
    engine = eng or get_engine(r0.engine)
    prec = Precision.of(r0.precision)
    if r0.arrival == "mlperf-server":
        from hetsim.serving.mlperf import benchmark_for
        from hetsim.serving.search import max_rate, percentile_judge

        bench = benchmark_for(r0.model)
        lengths: dict[str, Any] = {"mix": r0.mix or bench.mix or None, "input_len": r0.input_len or 512,
                   "output_len": r0.output_len or 128}  # fmt: skip
        s = max_rate(r0.model, r0.hardware, percentile_judge(bench.constraints), n_requests=r0.n_requests,
                     engine=engine, tp=r0.tp, precision=prec, **lengths)  # fmt: skip
        rate = s.max_rate_per_s
        reqs = make_requests(r0.n_requests, rate_per_s=max(rate, 1e-6), seed=0, **lengths)
    else:
        rate = float("nan")
        poisson = r0.arrival == "poisson"
        reqs = make_requests(
            r0.n_requests, arrival=r0.arrival, rate_per_s=r0.rate if poisson else None,  # type: ignore[arg-type]
            concurrency=r0.concurrency or None, input_len=r0.input_len or 512,
            output_len=r0.output_len or 128, seed=0, mix=r0.mix or None, max_context=_context(r0),
        )  # fmt: skip
        reqs = with_output_spread(reqs, cv, seed=0, hi=16 * max(r0.output_len, 1))
    res = simulate_serving(r0.model, r0.hardware, reqs, engine=engine, tp=r0.tp, precision=prec)
    return res, rate


def score_rows(
    rows: list[ServingRow], eng: EngineConfig | None = None, spread: dict[Pair, float] | None = None
) -> tuple[list[Score], Counter[str]]:
    """Simulate each distinct configuration once and score its rows; a configuration the
    simulator refuses (a prompt over the engine's budget, a model that does not fit, an MLPerf
    benchmark without limits for the model) is skipped with its reason, never aborting the rest.
    ``eng``: one engine for every row (a fit); None: the record of each row's framework.
    ``spread``: output-length coefficient of variation per length pair (default
    :data:`LENGTH_SPREAD`)."""
    spread = LENGTH_SPREAD if spread is None else spread
    configs: dict[tuple[object, ...], list[ServingRow]] = {}
    for r in rows:
        key = (r.hardware, r.model, r.tp, r.arrival, r.rate, r.concurrency, r.n_requests, r.input_len,
               r.output_len, r.precision, r.engine, r.mix, spread.get(pair_of(r), 0.0))  # fmt: skip
        configs.setdefault(key, []).append(r)
    scores: list[Score] = []
    skipped: Counter[str] = Counter()
    for group in configs.values():
        try:
            res, rate = _simulate(group[0], eng, spread.get(pair_of(group[0]), 0.0))
        except HetsimError as exc:
            skipped[_reason(exc)] += len(group)
            continue
        scores += [Score(r, predicted(res, r.field, r.n_devices, rate)) for r in group]
    return scores, skipped


def predict_rows(
    rows: list[ServingRow], eng: EngineConfig | None = None, spread: dict[Pair, float] | None = None
) -> list[Score]:
    """The scores of :func:`score_rows` (skipped configurations left out)."""
    return score_rows(rows, eng, spread)[0]


def mape_by_metric(scores: list[Score]) -> dict[str, float]:
    out: dict[str, list[float]] = {}
    for s in scores:
        out.setdefault(s.row.metric, []).append(s.ape)
    return {k: float(np.mean(v)) for k, v in sorted(out.items())}


def _error(rows: list[ServingRow], eng: EngineConfig, spread: dict[Pair, float]) -> float:
    """Mean over metrics of the per-metric MAPE."""
    return float(np.mean(list(mape_by_metric(predict_rows(rows, eng, spread)).values())))


def fit_length_spread(rows: list[ServingRow], base: EngineConfig) -> dict[Pair, float]:
    """The output-length spread of each length pair of ``rows`` that states means (its QPS=INF
    rows say so): the CV_GRID value with the least error on that pair's rows."""
    out = {}
    for pair in sorted(varied_pairs(rows)):
        sub = [r for r in rows if pair_of(r) == pair]
        out[pair] = min(CV_GRID, key=lambda cv: _error(sub, base, {pair: cv}))
    return out


def fit_overheads(
    rows: list[ServingRow], base: EngineConfig, spread: dict[Pair, float] | None = None
) -> tuple[EngineConfig, float]:
    """Grid-fit (step_overhead_s, seq_overhead_s, max_num_seqs) on ``rows``; returns the engine
    and its MAPE (mean over metrics of the per-metric MAPE)."""
    spread = LENGTH_SPREAD if spread is None else spread
    best: tuple[float, EngineConfig] | None = None
    for batch in BATCH_GRID:
        for step in STEP_GRID_S:
            for seq in SEQ_GRID_S:
                eng = base.with_(step_overhead_s=step, seq_overhead_s=seq, max_num_seqs=batch)
                err = _error(rows, eng, spread)
                if best is None or err < best[0]:
                    best = (err, eng)
    assert best is not None
    return best[1], best[0]


@dataclass(frozen=True, slots=True)
class CrossValidation:
    by: str  # the row field the folds split on: hardware or model
    fit_on: str  # that field's value whose rows the knobs are fitted on
    scored_on: str  # and the value whose rows are scored
    step_overhead_s: float
    seq_overhead_s: float
    max_num_seqs: int
    allreduce_latency_s: float
    length_spread: dict[Pair, float]
    fit_mape: dict[str, float]
    held_out_mape: dict[str, float]


FOLDS = ("hardware", "model")


def cross_validate(path: Path, engine: str = "tensorrt-llm", by: str = "hardware") -> list[CrossValidation]:
    """Fit on each hardware's (``by="model"``: each model's) rows in turn and score on each
    other's."""
    if by not in FOLDS:
        raise ConfigError(f"serving cross-validation by {by!r}: choose hardware or model")
    rows, _ = load_serving_rows(path)
    name = get_engine_record(engine).name
    rows = [r for r in rows if r.engine == name]  # the knobs are one engine's
    values = sorted({str(getattr(r, by)) for r in rows})
    out = []
    for fit_v in values:
        fit_rows = [r for r in rows if getattr(r, by) == fit_v]
        spread = fit_length_spread(fit_rows, get_engine(engine))
        eng, _ = fit_overheads(fit_rows, get_engine(engine), spread)
        for score_v in values:
            if score_v == fit_v:
                continue
            held = [r for r in rows if getattr(r, by) == score_v]
            out.append(
                CrossValidation(
                    by,
                    fit_v,
                    score_v,
                    eng.step_overhead_s,
                    eng.seq_overhead_s,
                    eng.max_num_seqs,
                    eng.allreduce.step_latency_s,
                    spread,
                    mape_by_metric(predict_rows(fit_rows, eng, spread)),
                    mape_by_metric(predict_rows(held, eng, spread)),
                )
            )
    return out
