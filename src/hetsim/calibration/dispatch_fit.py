"""Fit and score the eager host-dispatch knob (``EAGER_KERNEL_DISPATCH_S``, sim/frameworks.py) on
the ML.ENERGY v1 latency rows (FastChat + Hugging Face transformers, PyTorch eager).

Fitted on the A100 ``e2e_latency_avg`` rows (:data:`FIT_HARDWARE`); held out: the A40 latency
rows (a GPU the knob never saw) and every ``energy_per_request`` row (scored through the power
model, whose own knob was fitted on ``avg_power`` only). Rows are predicted at the row's batch
and stated mean output length, with the prompt length assumed (``DATASET_LENGTHS``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import minimize_scalar

from hetsim.calibration.energy import DEFAULT_FILES, _device, _reason, predict_row, with_fraction
from hetsim.calibration.measurements import Measurement, read_measurements
from hetsim.cost.power import ACTIVE_POWER_FRACTION
from hetsim.errors import HetsimError
from hetsim.hardware.spec import Device
from hetsim.sim.frameworks import EAGER_KERNEL_DISPATCH_S, get_profile, profile_for
from hetsim.sim.inference import Serving

METRICS = ("e2e_latency_avg", "energy_per_request")
FIT_METRIC = "e2e_latency_avg"
FIT_HARDWARE = "a100"  # prefix of the fit rows' hardware preset
PROFILE = "hf-transformers"


@dataclass(frozen=True, slots=True)
class DispatchScore:
    row: Measurement
    predicted: float
    role: str

    @property
    def ape(self) -> float:
        return abs(self.predicted - self.row.value) / abs(self.row.value)


def role_of(r: Measurement) -> str:
    return "fitted" if r.metric == FIT_METRIC and r.hardware.startswith(FIT_HARDWARE) else "held-out"


def rows_for(paths: Sequence[str | Path] = DEFAULT_FILES) -> list[Measurement]:
    """The ML.ENERGY eager rows (the hf-transformers profile) of ``METRICS``."""
    rows, _ = read_measurements(paths, frozenset(METRICS))
    return [r for r in rows if r.metric in METRICS and profile_for(r.framework).name == PROFILE]


def score_dispatch(
    rows: Sequence[Measurement], dispatch_s: float = EAGER_KERNEL_DISPATCH_S
) -> list[DispatchScore]:
    """Predict each row with the hf-transformers profile at ``dispatch_s`` per kernel."""
    serving = dataclasses.replace(get_profile(PROFILE).serving, kernel_dispatch_s=dispatch_s)
    devices: dict[str, Device | None] = {}
    out: list[DispatchScore] = []
    for r in rows:
        if r.hardware not in devices:
            base = _device(r.hardware)
            devices[r.hardware] = None if base is None else with_fraction(base, ACTIVE_POWER_FRACTION)
        dev = devices[r.hardware]
        if _reason(r, dev) or dev is None:
            continue
        value, _ = predict_row(r, dev, serving)
        if np.isfinite(value):
            out.append(DispatchScore(r, value, role_of(r)))
    return out


def mape(scores: Sequence[DispatchScore], role: str | None = None, metric: str | None = None,
         hardware: str | None = None) -> float:  # fmt: skip
    a = [s.ape for s in scores if role in (None, s.role) and metric in (None, s.row.metric)
         and (hardware is None or s.row.hardware.startswith(hardware))]  # fmt: skip
    return float(np.mean(a)) if a else float("nan")


def fit_kernel_dispatch(rows: Sequence[Measurement]) -> float:
    """The per-kernel dispatch time in [0, 200 us] minimising the mean squared relative error of
    the fit rows (A100 latency)."""
    subset = [r for r in rows if role_of(r) == "fitted"]
    if not score_dispatch(subset, 0.0):
        raise HetsimError("no A100 ML.ENERGY latency row can be predicted: nothing to fit the dispatch on")
    return _least_squares(subset)


def dispatch_without(
    rows: Sequence[Measurement], key: Callable[[Measurement], str], fold: str
) -> float | None:
    """The dispatch refitted on the eager latency rows outside ``fold`` (its source or GPU, by
    ``key``) where the fold holds its fit rows (ML.ENERGY v1's A100 latency rows: on the A40's
    alone, 20.6 us against 23.0; 0 with no row left, as a call floor); None where it holds none."""
    latency = [r for r in rows if r.metric == FIT_METRIC and profile_for(r.framework).name == PROFILE]
    if not any(key(r) == fold and role_of(r) == "fitted" for r in latency):
        return None
    rest = [r for r in latency if key(r) != fold]
    return _least_squares(rest) if score_dispatch(rest, 0.0) else 0.0


def with_dispatch(serving: Serving, dispatch_s: float) -> Serving:
    """``serving`` at ``dispatch_s`` where its engine prices eager launches with this knob."""
    same = serving.kernel_dispatch_s == EAGER_KERNEL_DISPATCH_S
    return dataclasses.replace(serving, kernel_dispatch_s=dispatch_s) if same else serving


def _least_squares(subset: Sequence[Measurement]) -> float:
    def loss(t: float) -> float:
        return float(np.mean([(s.predicted / s.row.value - 1) ** 2 for s in score_dispatch(subset, t)]))

    res = minimize_scalar(loss, bounds=(0.0, 200e-6), method="bounded", options={"xatol": 1e-8})
    return float(res.x)
