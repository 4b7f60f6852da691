"""The per-request host overhead of a framework profile, fitted on first-token rows.

A batch-1 first-token row with a short prompt is the smallest request an engine times: its
forward pass is a few milliseconds, so the time the engine's host spends on one generate call
(session set-up, input copy, first sampling, the copy of the token back) shows as a residual
the kernel model cannot produce. On TensorRT-LLM's published first-token tables
(``trtllm_static.csv``) that residual is about the same on A100, H100 and L40S and for 6B to
180B models (1–3 ms; the kernel model under-predicts every such row), so it is one knob of
the framework, never per GPU or per model.

The fit is the median residual (measured − predicted without the knob) over the rows that
:func:`overhead_row` selects, clipped at zero: robust to the one or two rows another effect
dominates. Cross-validation (:mod:`hetsim.calibration.crossval`) refits it per fold without
the fold's rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from hetsim.calibration.e2e import FIRST_TOKEN, predict_e2e
from hetsim.calibration.measurements import Measurement
from hetsim.calibration.predict import Task
from hetsim.hardware.spec import Device
from hetsim.sim.frameworks import profile_for

# the framework profiles whose request overhead is fitted here (those with published
# first-token rows in the development files)
FITTED_PROFILES = ("tensorrt-llm", "tensorrt-llm-pre-xqa")
MAX_PROMPT_TOKENS = 128  # "short prompt": the shortest prompt of the published tables


def overhead_row(r: Measurement) -> bool:
    """A batch-1, short-prompt first-token row of a fitted profile: the rows the knob is fitted on."""
    return (
        r.metric in FIRST_TOKEN
        and r.batch == 1
        and 0 < (r.input_len or 0) <= MAX_PROMPT_TOKENS
        and profile_for(r.framework).name in FITTED_PROFILES
    )


@dataclass(frozen=True, slots=True)
class OverheadFit:
    request_overhead_s: float
    rows: int  # rows the median was taken over
    hardware: tuple[str, ...]  # the GPUs those rows ran on


def fit_request_overhead(tasks: Sequence[Task], devices: Mapping[str, Device]) -> OverheadFit:
    """Median first-token residual of the :func:`overhead_row` rows of ``tasks`` (s), priced
    without any request overhead; 0 over no rows."""
    residuals: list[float] = []
    hardware: set[str] = set()
    for t in tasks:
        if t.family != "e2e" or t.e2e is None or not any(overhead_row(r) for r in t.rows):
            continue
        e2e = replace(t.e2e, serving=replace(t.e2e.serving, request_overhead_s=0.0))
        pred = predict_e2e(e2e, devices[t.hardware])
        for r, p in zip(t.rows, pred, strict=True):
            if overhead_row(r) and np.isfinite(p):
                residuals.append(r.value - float(p))
                hardware.add(t.hardware)
    value = max(float(np.median(residuals)), 0.0) if residuals else 0.0
    return OverheadFit(value, len(residuals), tuple(sorted(hardware)))


def with_request_overhead(tasks: Sequence[Task], value_s: float) -> list[Task]:
    """``tasks`` with the fitted profiles' request overhead set to ``value_s``."""
    out: list[Task] = []
    for t in tasks:
        if t.e2e is not None and profile_for(t.rows[0].framework).name in FITTED_PROFILES:
            serving = replace(t.e2e.serving, request_overhead_s=value_s)
            t = replace(t, e2e=replace(t.e2e, serving=serving))
        out.append(t)
    return out
