"""Fit the shared kernel-model shape parameters on the fit set and transfer them.

One parameter set is fitted jointly on every kernel-level row of the fit hardware (A100 and
A40 by default): least squares on log(predicted / measured), each (hardware, metric) group
weighted equally so 700 GEMM rows do not drown six stream rows. The parameters are
dimensionless fractions of the device's own datasheet peak / bandwidth, a tile-edge cost and
latencies, so the same values price a GPU never seen in the fit from its datasheet alone
(its SM count, peak, bandwidth, link bandwidth): that is the held-out check.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from hetsim.calibration.predict import Task, predict_task
from hetsim.errors import MeasurementError
from hetsim.hardware.kernels import KernelParams, with_values
from hetsim.hardware.spec import Device
from hetsim.sim.placed import BoolArray
from hetsim.workload.ops import FloatArray

# (name, lower, upper, scale): fitted value = x * scale
KERNEL_PARAMS: tuple[tuple[str, float, float, float], ...] = (
    ("gemm_efficiency", 0.3, 1.0, 1.0),
    ("gemm_tile_edge", 0.0, 64.0, 1.0),
    ("overlap_p", 1.0, 12.0, 1.0),
    ("memory_efficiency", 0.3, 1.0, 1.0),
    ("elementwise_efficiency", 0.2, 1.0, 1.0),
    ("reduction_efficiency", 0.1, 1.0, 1.0),
    ("elementwise_issue", 0.0, 32.0, 1.0),
    ("reduction_issue", 0.0, 32.0, 1.0),
    ("cache_gain", 1.0, 4.0, 1.0),
    ("latency_overlap_p", 1.0, 12.0, 1.0),
    ("vector_overlap_p", 1.0, 16.0, 1.0),
    ("reduction_latency_cycles", 0.0, 30.0, 1e3),
    ("kernel_latency_s", 0.0, 30.0, 1e-6),
    ("vector_latency_cycles", 0.0, 30.0, 1e3),
    ("reduction_latency_s", 0.0, 20.0, 1e-6),
)
# the vector-kernel parameters (norms, activations, residual adds): no GEMM, stream or
# collective row depends on them, nor they on those rows' parameters, so they can be refitted
# alone with the others held (``hetsim calibrate --refit vector``)
VECTOR_PARAMS: tuple[str, ...] = (
    "elementwise_efficiency", "reduction_efficiency", "elementwise_issue", "reduction_issue",
    "cache_gain", "latency_overlap_p", "vector_overlap_p", "reduction_latency_cycles",
    "vector_latency_cycles", "reduction_latency_s",
)  # fmt: skip
COLLECTIVE_PARAMS: tuple[tuple[str, float, float, float], ...] = (
    ("allreduce_latency_s", 0.0, 100.0, 1e-6),
    ("allreduce_hop_latency_s", 0.0, 20.0, 1e-6),
    ("link_efficiency", 0.05, 1.0, 1.0),
)


@dataclass(frozen=True, slots=True)
class FitResult:
    params: dict[str, float]  # fitted name -> SI value
    rows: int  # rows used
    groups: dict[str, int]  # "hardware/metric" -> rows
    rms_log_error: float


def _residuals(
    tasks: Sequence[Task], devices: dict[str, Device], base: KernelParams, names: Sequence[str],
    x: FloatArray, scales: Sequence[float], masks: Sequence[BoolArray],
) -> FloatArray:  # fmt: skip
    kp = with_values(base, {n: float(v * s) for n, v, s in zip(names, x, scales, strict=True)})
    out = []
    for t, keep in zip(tasks, masks, strict=True):
        pred = predict_task(t, replace(devices[t.hardware], kernels=kp))[keep]
        w = np.array(_weights(t))[keep]
        out.append(w * np.log(np.maximum(pred, 1e-30) / _measured(t)[keep]))
    return np.concatenate(out) if out else np.zeros(0)


_GROUP_SIZES: dict[str, int] = {}


def _group(t: Task, i: int) -> str:
    r = t.rows[i]
    metric = r.metric.split(":")[0] if r.metric.startswith("stream") else r.metric
    return f"{r.hardware}/{metric}"


def _weights(t: Task) -> list[float]:
    return [1.0 / np.sqrt(_GROUP_SIZES.get(_group(t, i), 1)) for i in range(len(t.rows))]


def _measured(t: Task) -> FloatArray:
    return np.array([r.value for r in t.rows], dtype=float)


SENSITIVITY = 0.05  # a 50% move (from 0: to mid-range) changes no fit row by 5% (log): unconstrained


def constrained(
    tasks: Sequence[Task],
    devices: dict[str, Device],
    spec: Sequence[tuple[str, float, float, float]],
    base: KernelParams,
) -> list[tuple[str, float, float, float]]:
    """The parameters of ``spec`` the rows of ``tasks`` can constrain: moving one from its base
    value (0: to the middle of its range) changes some row's prediction by more than
    :data:`SENSITIVITY` in log. The others have no data in these rows and keep ``base``."""

    def preds(kp: KernelParams) -> FloatArray:
        return np.concatenate([np.log(np.maximum(predict_task(t, replace(devices[t.hardware], kernels=kp)),
                                                 1e-30)) for t in tasks])  # fmt: skip

    ref = preds(base)
    out = []
    for name, lo, hi, sc in spec:
        v = getattr(base, name)
        probe = min(max(v * 1.5, lo * sc), hi * sc) if v > 0 else (lo + hi) / 2 * sc
        if probe == v:
            probe = max(lo * sc, v / 1.5)
        moved = preds(with_values(base, {name: probe}))
        if np.nanmax(np.abs(moved - ref)) > SENSITIVITY:
            out.append((name, lo, hi, sc))
    return out


def fit_params(
    tasks: Sequence[Task],
    devices: dict[str, Device],
    spec: Sequence[tuple[str, float, float, float]],
    base: KernelParams,
    only_constrained: bool = False,
) -> FitResult:
    """Least-squares fit of the parameters in ``spec`` on ``tasks`` (log error); with
    ``only_constrained``, the parameters these rows cannot move are held at ``base``
    (:func:`constrained`: a fold that leaves out every row of a kind leaves its knobs alone)."""
    # the rows validate scores (report.score): a prediction not finite and positive (a batch that
    # does not fit the device) is skipped there and left out here, so no NaN reaches the fit
    preds = [predict_task(t, replace(devices[t.hardware], kernels=base)) for t in tasks]
    masks = [np.isfinite(p) & (np.nan_to_num(p) > 0) for p in preds]
    rows = sum(int(m.sum()) for m in masks)
    if rows == 0:
        raise MeasurementError("no rows to fit: check the fit hardware and files")
    if only_constrained:
        spec = constrained(tasks, devices, spec, base)
        if not spec:
            return FitResult({}, rows, {}, float("nan"))
    sizes: dict[str, int] = defaultdict(int)
    for t, keep in zip(tasks, masks, strict=True):
        for i in np.flatnonzero(keep):
            sizes[_group(t, int(i))] += 1
    _GROUP_SIZES.clear()
    _GROUP_SIZES.update(sizes)
    names = [s[0] for s in spec]
    scales = [s[3] for s in spec]
    lo = np.array([s[1] for s in spec])
    hi = np.array([s[2] for s in spec])
    x0 = np.clip(np.array([getattr(base, n) / sc for n, sc in zip(names, scales, strict=True)]), lo, hi)
    from scipy.optimize import least_squares  # imported here: SciPy's optimiser is slow to load

    sol = least_squares(
        lambda x: _residuals(tasks, devices, base, names, x, scales, masks), x0, bounds=(lo, hi),
        loss="soft_l1", f_scale=0.3, max_nfev=400,
    )  # fmt: skip
    params = {n: float(v * s) for n, v, s in zip(names, sol.x, scales, strict=True)}
    kp = with_values(base, params)
    errs = np.concatenate([np.log(predict_task(t, replace(devices[t.hardware], kernels=kp))[m]
                                  / _measured(t)[m]) for t, m in zip(tasks, masks, strict=True)])  # fmt: skip
    return FitResult(params, rows, dict(sizes), float(np.sqrt(np.mean(errs**2))))
