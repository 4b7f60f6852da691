"""Score predictions against measurements: absolute percentage error per row, then MAPE and
median APE per source, metric, hardware and role (fitted vs held-out), and the worst rows."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from hetsim.calibration.defaults import GROUP_FIELDS
from hetsim.calibration.measurements import Measurement
from hetsim.calibration.predict import Task, predict_task
from hetsim.calibration.wallclock import timing_profile
from hetsim.errors import ConfigError
from hetsim.hardware.spec import Device
from hetsim.sim.frameworks import profile_for

Role = str  # "fitted" | "held-out"


@dataclass(frozen=True, slots=True)
class Scored:
    row: Measurement
    predicted: float  # SI, the row's unit
    role: Role
    level: str  # "kernel", "collective" or "e2e"

    @property
    def ape(self) -> float:
        """Absolute percentage error as a fraction (0.1 = 10%)."""
        return abs(self.predicted / self.row.value - 1.0)

    @property
    def timing(self) -> str:
        """'device' (the kernel alone, CUDA time or end to end) or 'host-wall-clock'."""
        return "host-wall-clock" if self.level == "kernel" and timing_profile(self.row) else "device"

    @property
    def metric(self) -> str:
        m = self.row.metric
        return m.split(":")[0] if m.startswith("stream_bandwidth") else m


@dataclass(frozen=True, slots=True)
class Report:
    scored: list[Scored]
    skipped: Counter[str] = field(default_factory=Counter)
    calibrated: bool = True
    # every row scored again by the knobs fitted without its fold: "source" (leave one source
    # out) and "hardware" (leave one hardware out); calibration/folds.py
    folds: dict[str, list[Scored]] = field(default_factory=dict)

    def fold_json(self, by: str) -> dict[str, Any]:
        """Leave-one-out error of fold kind ``by``: overall, per level, per source, per
        hardware, per precision (weight-only groups included) and per hardware family."""
        scored = self.folds.get(by, [])
        rep = Report(scored)
        return {
            "overall": rep.stats(),
            "by_level": rep.by(lambda s: s.level),
            "by_source": rep.by(lambda s: f"{s.level}/{s.row.source_id or s.row.file}"),
            "by_hardware": rep.by(lambda s: f"{s.level}/{s.row.hardware}"),
            "by_precision": rep.by(lambda s: f"{s.level}/{s.row.precision or 'not stated'}"),
        }

    def stats(self, pick: Callable[[Scored], bool] = lambda s: True) -> dict[str, float]:
        return stats(s.ape for s in self.scored if pick(s))

    def by(self, key: Callable[[Scored], str]) -> dict[str, dict[str, float]]:
        groups: dict[str, list[float]] = defaultdict(list)
        for s in self.scored:
            groups[key(s)].append(s.ape)
        return {k: stats(v) for k, v in sorted(groups.items())}

    def by_fields(self, fields: Sequence[str]) -> dict[str, dict[str, float]]:
        """Error per group of the named fields (``GROUPS``), keys joined with '/'."""
        return self.by(group_key(fields))

    def worst(self, n: int = 10) -> list[Scored]:
        return sorted(self.scored, key=lambda s: -s.ape)[:n]

    def to_json(self, worst: int = 10) -> dict[str, Any]:
        total = self.stats()
        folds = {
            f"leave_one_{by}_out": self.fold_json(by) for by in ("source", "hardware") if by in self.folds
        }
        return {
            **folds,
            "rows_scored": len(self.scored),
            "rows_skipped": dict(sorted(self.skipped.items())),
            "calibrated": self.calibrated,
            "mape": total["mape"],
            "median_ape": total["median_ape"],
            "by_metric": self.by(lambda s: s.metric),
            "by_hardware": self.by(lambda s: s.row.hardware),
            "by_source": self.by(lambda s: s.row.source_id or s.row.file),
            "by_role": self.by(lambda s: s.role),
            "by_role_level": self.by(lambda s: f"{s.role}/{s.level}"),
            "by_role_level_timing": self.by(lambda s: f"{s.role}/{s.level}/{s.timing}"),
            "by_role_hardware_metric": self.by(lambda s: f"{s.role}/{s.row.hardware}/{s.metric}"),
            "by_hardware_precision": self.by_fields(["hardware", "precision"]),
            "by_framework": self.by_fields(["framework"]),
            "worst": [
                {"row": s.row.key, "hardware": s.row.hardware, "metric": s.metric,
                 "model": s.row.model, "precision": s.row.precision, "role": s.role,
                 "measured": s.row.value, "unit": s.row.unit, "predicted": s.predicted, "ape": s.ape}
                for s in self.worst(worst)
            ],
        }  # fmt: skip


GROUPS: dict[str, Callable[[Scored], str]] = {
    "hardware": lambda s: s.row.hardware,
    "precision": lambda s: s.row.precision or "not stated",
    "model": lambda s: s.row.model,
    "framework": lambda s: profile_for(s.row.framework).name,
    "metric": lambda s: s.metric,
    "source": lambda s: s.row.source_id or s.row.file,
    "file": lambda s: s.row.file,
    "tp": lambda s: f"tp{s.row.tp}",
    "role": lambda s: s.role,
    "level": lambda s: s.level,
    "timing": lambda s: s.timing,
    "tag": lambda s: ";".join(sorted(s.row.tags)) or "-",
}


assert tuple(GROUPS) == GROUP_FIELDS  # the CLI's help lists them without importing this module


def group_key(fields: Sequence[str]) -> Callable[[Scored], str]:
    """A key over the named ``GROUPS`` fields; an unknown field is invalid input."""
    bad = [f for f in fields if f not in GROUPS]
    if bad or not fields:
        raise ConfigError(f"--by {','.join(fields)}: choose comma-separated fields from {', '.join(GROUPS)}")
    picks = [GROUPS[f] for f in fields]
    return lambda s: "/".join(p(s) for p in picks)


def stats(apes: Iterable[float]) -> dict[str, float]:
    a = np.fromiter(apes, dtype=float)
    if a.size == 0:
        return {"n": 0, "mape": float("nan"), "median_ape": float("nan")}
    return {"n": int(a.size), "mape": float(a.mean()), "median_ape": float(np.median(a))}


def score(
    tasks: Sequence[Task],
    devices: dict[str, Device],
    role_of: Callable[[Measurement], Role],
    skipped: Counter[str] | None = None,
    *,
    calibrated: bool = True,
) -> Report:
    """Predict every task and score it. A NaN prediction (a static batch that does not fit)
    is counted as skipped with the reason ``exceeds_device_memory``."""
    out: list[Scored] = []
    skip: Counter[str] = Counter(skipped or {})
    for t in tasks:
        dev = devices[t.hardware]
        if not calibrated:
            dev = replace(dev, kernels=None)
        pred = predict_task(t, dev)
        for r, p in zip(t.rows, pred, strict=True):
            # a kernel timed with a host wall clock (LLMCompass) is priced with its timing profile
            # (calibration/wallclock.py), so it counts at the kernel level; Scored.timing tells them apart
            level = t.family
            if not np.isfinite(p) or p <= 0:
                skip["exceeds_device_memory" if t.family == "e2e" else "not_predictable"] += 1
                continue
            out.append(Scored(r, float(p), role_of(r), level))
    return Report(out, skip, calibrated)
