"""vLLM's host time per running sequence (``Serving.sequence_overhead_s``), fitted on
steady-state serving rows of dense models on one GPU.

At a steady state of N running sequences a vLLM V1 step is the GPU's forward pass plus the
engine's Python work on every sequence (scheduling, input preparation, sampling, detokenising
and streaming the output), which runs between passes. ML.ENERGY's v3 leaderboard rows show it
as an inter-token time that grows with N faster than the GPU's: on one H100 the residual is
30-60 us per running sequence for every dense model from 8B to 32B. One number per engine, never
per GPU or model.

Fitted rows (:func:`sequence_row`): vLLM steady-state inter-token and output-throughput rows of
dense models at TP 1. Held out by construction: every MoE row (the residual there is what an
expert-imbalance knob would also claim, so MoE rows say whether the host time explains it) and
every TP > 1 row; leave one hardware out refits it on the other GPU's rows alone
(:mod:`hetsim.calibration.folds`). Least squares on log error, one parameter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from hetsim.calibration.e2e import model_for, predict_e2e
from hetsim.calibration.measurements import Measurement
from hetsim.calibration.predict import Task
from hetsim.calibration.steady import STEADY
from hetsim.hardware.spec import Device
from hetsim.sim.frameworks import profile_for

FITTED_ENGINES = ("vllm",)
METRICS = ("itl", "output_throughput")
UPPER_S = 5e-4  # search bound (0.5 ms per sequence: far above any engine's)


def sequence_row(r: Measurement) -> bool:
    """A vLLM steady-state ITL / output-throughput row of a dense model on one GPU."""
    if r.serving != STEADY or not r.metric.startswith(METRICS) or r.tp != 1:
        return False
    if profile_for(r.framework).name not in FITTED_ENGINES:
        return False
    model = model_for(r.model)
    return model is not None and model.n_experts <= 1


def fitted_engine(t: Task) -> bool:
    return t.e2e is not None and profile_for(t.rows[0].framework).name in FITTED_ENGINES


def with_sequence_overhead(tasks: Sequence[Task], value_s: float) -> list[Task]:
    """``tasks`` with the fitted engines' per-sequence host time set to ``value_s``."""
    out: list[Task] = []
    for t in tasks:
        if fitted_engine(t):
            assert t.e2e is not None
            t = replace(t, e2e=replace(t.e2e, serving=replace(t.e2e.serving, sequence_overhead_s=value_s)))
        out.append(t)
    return out


@dataclass(frozen=True, slots=True)
class SequenceFit:
    sequence_overhead_s: float
    rows: int
    hardware: tuple[str, ...]


def fit_sequence_overhead(tasks: Sequence[Task], devices: Mapping[str, Device]) -> SequenceFit:
    """The per-sequence host time that minimises the squared log error of the
    :func:`sequence_row` rows of ``tasks`` (0 over no rows)."""
    from scipy.optimize import minimize_scalar  # imported here: slow to load

    picked: list[tuple[Task, np.ndarray]] = []
    for t in tasks:
        if t.family != "e2e" or not fitted_engine(t):
            continue
        sel = np.array([sequence_row(r) for r in t.rows])
        if sel.any():
            picked.append((t, sel))
    if not picked:
        return SequenceFit(0.0, 0, ())

    def loss(x: float) -> float:
        errs = []
        for t, sel in picked:
            (task,) = with_sequence_overhead([t], x)
            assert task.e2e is not None
            pred = predict_e2e(task.e2e, devices[t.hardware])
            meas = np.array([r.value for r in t.rows])
            ok = sel & np.isfinite(pred)
            errs.append(np.log(pred[ok] / meas[ok]))
        return float(np.mean(np.concatenate(errs) ** 2))

    res = minimize_scalar(loss, bounds=(0.0, UPPER_S), method="bounded", options={"xatol": 1e-7})
    rows = int(sum(int(sel.sum()) for _, sel in picked))
    return SequenceFit(float(res.x), rows, tuple(sorted({t.hardware for t, _ in picked})))
