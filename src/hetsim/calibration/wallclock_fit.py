"""Fit the host-timing profile's call floors (``calibration/wallclock.py``) and score the folds.

One floor per launch path (eager ATen op, torch.compile'd function), never per op or per GPU:
least squares in log(predicted / measured) over a stated subset of the host-timed rows, with
the GPU time of each row from the cost model (unchanged) and the floor the only free number.
``folds`` fits on each GPU's rows in turn and scores the other GPU's rows with that fit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from hetsim.calibration.measurements import Measurement
from hetsim.calibration.predict import Task, predict_task
from hetsim.calibration.report import Report, score
from hetsim.calibration.wallclock import PYTORCH_MICROBENCH, HostTimingProfile, benchmarked_op, timing_profile
from hetsim.hardware.spec import Device
from hetsim.workload.ops import FloatArray

MAX_FLOOR_S = 1e-3  # search bound: a host floor above 1 ms is not a dispatch cost
XATOL_S = 1e-9  # the bounded search stops within 1 ns (its default, 1e-5, is 10 us here)


def timed_tasks(tasks: Sequence[Task]) -> list[Task]:
    """The kernel tasks whose rows carry a host-timing profile."""
    return [t for t in tasks if t.host_s is not None]


def _measured_and_gpu_s(task: Task, dev: Device) -> tuple[FloatArray, FloatArray]:
    """Per row: the measured time of one call and the GPU time the cost model gives (s)."""
    meas = np.array([r.value for r in task.rows])
    pred = predict_task(replace(task, host_s=np.zeros(len(task.rows))), dev)
    if task.kind == "rate":
        assert task.numer is not None
        return task.numer / meas, task.numer / pred
    return meas, pred


def _path(profile: HostTimingProfile, r: Measurement) -> str:
    return profile.ops[benchmarked_op(r)].path


def fit_call_floors(
    tasks: Sequence[Task], devices: Mapping[str, Device], fit_hardware: Sequence[str],
    profile: HostTimingProfile = PYTORCH_MICROBENCH,
) -> dict[str, float]:  # fmt: skip
    """Host floor per launch path (s), fitted on the host-timed rows of ``fit_hardware``.
    A path with no rows there keeps the profile's committed value."""
    pairs: dict[str, list[tuple[float, float]]] = {p: [] for p in profile.call_s}
    seen: set[tuple[object, ...]] = set()
    for t in timed_tasks(tasks):
        if t.hardware not in fit_hardware:
            continue
        meas, gpu = _measured_and_gpu_s(t, devices[t.hardware])
        for r, m, g in zip(t.rows, meas, gpu, strict=True):
            # one measurement counted once: a GEMM's latency and TFLOP/s rows give the same
            # measured time (to the CSV's 4-5 digits); a second run of a shape does not
            call = (r.hardware, benchmarked_op(r), r.gemm_m, r.gemm_n, r.gemm_k, r.model, f"{m:.3g}")
            if timing_profile(r) is profile and call not in seen:
                seen.add(call)
                pairs[_path(profile, r)].append((float(m), float(g)))
    out = dict(profile.call_s)
    for path, mg in pairs.items():
        if not mg:
            continue
        m, g = np.array(mg).T

        def loss(f: float, m: FloatArray = m, g: FloatArray = g) -> float:
            return float(np.sum(np.log((f + g) / m) ** 2))

        res = minimize_scalar(loss, bounds=(0.0, MAX_FLOOR_S), method="bounded", options={"xatol": XATOL_S})
        out[path] = float(res.x)
    return out


def with_floors(tasks: Sequence[Task], floors: Mapping[str, float],
                profile: HostTimingProfile = PYTORCH_MICROBENCH) -> list[Task]:  # fmt: skip
    """``tasks`` with every host-timed row's floor replaced by ``floors[its path]``."""
    out = []
    for t in tasks:
        if t.host_s is not None:
            h = [floors[_path(profile, r)] if timing_profile(r) is profile else 0.0 for r in t.rows]
            t = replace(t, host_s=np.array(h))
        out.append(t)
    return out


@dataclass(frozen=True, slots=True)
class Fold:
    fit_hardware: tuple[str, ...]
    floors: dict[str, float]  # path -> s
    report: Report  # the host-timed rows; role 'fitted' on the fit hardware, else 'held-out'


def folds(tasks: Sequence[Task], devices: Mapping[str, Device]) -> list[Fold]:
    """Fit on each GPU's host-timed rows alone; score every host-timed row with that fit."""
    timed = timed_tasks(tasks)
    out = []
    for hw in sorted({t.hardware for t in timed}):
        floors = fit_call_floors(timed, devices, (hw,))
        rep = score(with_floors(timed, floors), dict(devices), partial(_role, fit_hardware=(hw,)))
        out.append(Fold((hw,), floors, rep))
    return out


def _role(r: Measurement, fit_hardware: Sequence[str]) -> str:
    return "fitted" if r.hardware in fit_hardware else "held-out"


def folds_json(paths: Sequence[str | Path]) -> dict[str, Any]:
    """Both folds of the host-timed rows of ``paths`` as JSON: per fold the fitted floors
    (s) and the error per role / hardware / metric (``validate`` prints it)."""
    from hetsim.calibration.api import load  # api imports this package's profile, not this module

    _, tasks, _, devices = load(paths)
    return {
        "profile": PYTORCH_MICROBENCH.name,
        "committed_floors_s": dict(PYTORCH_MICROBENCH.call_s),
        "folds": [
            {"fit_hardware": list(f.fit_hardware), "floors_s": f.floors,
             "by_role_hardware_metric": f.report.to_json()["by_role_hardware_metric"]}
            for f in folds(tasks, devices)
        ],
    }  # fmt: skip
