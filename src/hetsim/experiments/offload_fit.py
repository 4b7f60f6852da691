"""The two global offload knobs and how they were fitted.

Offload runtimes stream weights (and KV) over PCIe and run CPU attention far below datasheet
rates. Two named knobs, one global value each, are written into the offload presets
(``flexgen-t4``, ``a6000-offload``) with ``calibrated`` provenance:

- ``link_efficiency``: the fraction of a PCIe host link's datasheet bandwidth a bulk stream
  between memory sides reaches (``Link.efficiency`` of every side link);
- ``cpu_efficiency``: the fraction of the host CPU's peak that attention on the CPU reaches
  (the CPU unit's constant efficiency).

They are fitted by grid search (:func:`fit`) on the **fitted subset**: FlexGen's own rows on its
T4 box (framework FlexGen in ``data/measurements/published/offload_flexgen_t4.csv``), minimising the mean
absolute log error of output throughput. Every other row (Accelerate and DeepSpeed on the T4,
and the second source, the ZeRO-Inference A6000 table) is held out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hetsim.calibration.api import load
from hetsim.calibration.measurements import Measurement, published
from hetsim.calibration.predict import predict_task
from hetsim.hardware.efficiency import EfficiencyCurve
from hetsim.hardware.spec import Device, SideLink

FILES = (published("offload_flexgen_t4.csv"), published("offload_zero_inference_a6000.csv"))
LINK_EFFICIENCY = 0.6  # committed in the presets (hardware/presets/flexgen-t4.yaml, a6000-offload.yaml)
CPU_EFFICIENCY = 0.01
GRID_LINK = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.8, 1.0)
GRID_CPU = (0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5)


def in_fit_subset(r: Measurement) -> bool:
    return r.file == "offload_flexgen_t4.csv" and r.framework.startswith("FlexGen")


def with_knobs(dev: Device, link_efficiency: float, cpu_efficiency: float) -> Device:
    """``dev`` with every side link at ``link_efficiency`` and every CPU unit at
    ``cpu_efficiency`` (the other numbers unchanged)."""
    links = tuple(
        SideLink(sl.a, sl.b, dataclasses.replace(sl.link, efficiency=link_efficiency)) for sl in dev.links
    )
    curve = EfficiencyCurve.constant(cpu_efficiency)
    sides = tuple(
        dataclasses.replace(s, units=tuple(dataclasses.replace(u, efficiency=curve) if u.kind == "cpu" else u
                                           for u in s.units))
        for s in dev.sides
    )  # fmt: skip
    return dataclasses.replace(dev, links=links, sides=sides)


@dataclass(frozen=True, slots=True)
class RowError:
    row: Measurement
    predicted: float
    fitted: bool

    @property
    def error(self) -> float:
        """Signed relative error of the prediction."""
        return self.predicted / self.row.value - 1.0


def errors(
    link_efficiency: float,
    cpu_efficiency: float,
    paths: Sequence[Path] = FILES,
    fitted: Callable[[Measurement], bool] = in_fit_subset,
) -> list[RowError]:
    """Every predictable row of ``paths`` under the two knobs (``fitted`` marks the subset)."""
    _, tasks, _, devices = load(list(paths))
    out: list[RowError] = []
    for t in tasks:
        pred = predict_task(t, with_knobs(devices[t.hardware], link_efficiency, cpu_efficiency))
        out.extend(RowError(r, float(v), fitted(r)) for r, v in zip(t.rows, pred, strict=True))
    return [e for e in out if np.isfinite(e.predicted)]


def objective(errs: Iterable[RowError]) -> float:
    """Mean absolute log error over the fitted subset."""
    logs = [abs(np.log1p(e.error)) for e in errs if e.fitted]
    return float(np.mean(logs)) if logs else float("inf")


def fit(
    grid_link: Sequence[float] = GRID_LINK,
    grid_cpu: Sequence[float] = GRID_CPU,
    fitted: Callable[[Measurement], bool] = in_fit_subset,
) -> tuple[float, float, float]:
    """(link_efficiency, cpu_efficiency, objective) of the best grid point on ``fitted``."""
    best = (1.0, 1.0, float("inf"))
    for le in grid_link:
        for ce in grid_cpu:
            obj = objective(errors(le, ce, fitted=fitted))
            if obj < best[2]:
                best = (le, ce, obj)
    return best
