"""``hetsim calibrate --folds``: fit the shared knobs on the project's own data, refit them per
leave-one-out fold, and commit what prediction reads: the knob values (into the overlays, with
what each was fitted on), the folds (``folds.yaml``) and the uncertainty bands (``bands.yaml``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hetsim.calibration.api import _known
from hetsim.calibration.bands import Residual, build, coverage, residual
from hetsim.calibration.bands import write as write_bands
from hetsim.calibration.defaults import DEFAULT_FIT_HARDWARE, DEFAULT_SKIP_TAGS
from hetsim.calibration.energy import fold_scores as energy_fold_scores
from hetsim.calibration.fit import FitResult
from hetsim.calibration.folds import (
    Fold,
    committed_params,
    compute_folds,
    fold_scores,
    with_params,
    write_folds,
)
from hetsim.calibration.knobs import KNOBS, fit_knob, knob_tasks
from hetsim.calibration.measurements import Measurement, find_realdata, read_measurements
from hetsim.calibration.predict import Task, plan
from hetsim.calibration.report import Scored
from hetsim.datafiles import read_mapping
from hetsim.hardware.kernels import KernelParams, overlay_path, with_values
from hetsim.hardware.loader import get_hardware
from hetsim.outfiles import atomic_write_text

# the repository's own measurement files (published rows and the project's energy / offload rows)
DATA_DIR = Path(__file__).resolve().parents[3] / "data" / "measurements"
OVERLAYS = ("a100-80gb-sxm", "a40", "h100-sxm", "h100-pcie", "h200", "mi210", "a6000-offload", "flexgen-t4")


def project_files() -> list[Path]:
    """The measurement folder's files (``$HETSIM_REALDATA``, else ``data/measurements/published``)
    and every CSV under ``data/measurements``, each once (the default folder is under it)."""
    root = find_realdata()
    shared = sorted(root.glob("*.csv")) if root is not None else []
    out: list[Path] = []
    seen: set[Path] = set()
    for f in shared + sorted(DATA_DIR.rglob("*.csv")):
        if f.resolve() not in seen:
            seen.add(f.resolve())
            out.append(f)
    return out


def fit_committed_knobs(rows: Sequence[Measurement]) -> dict[str, FitResult | None]:
    """Each knob of :data:`~hetsim.calibration.knobs.KNOBS` fitted on all its rows, in order,
    on top of the committed kernel and collective values."""
    tasks, _ = plan(rows, _known, DEFAULT_SKIP_TAGS)
    params = committed_params()
    names = {t.hardware for t in tasks}
    out: dict[str, FitResult | None] = {}
    for k in KNOBS:
        devices = {h: with_params(get_hardware(h), params) for h in names}
        res = fit_knob(k, tasks, devices, params)
        out[k.name] = res
        if res is not None:
            params = with_values(params, res.params)
    return out


def write_knob_values(fits: dict[str, FitResult | None], files: Sequence[str]) -> list[Path]:
    """Write the fitted knob values, with their provenance, into every committed overlay."""
    written = []
    for name in OVERLAYS:
        path = overlay_path(name)
        if not path.is_file():
            continue
        raw = read_mapping(path)
        kernels = raw["kernels"]
        prov = kernels.setdefault("provenance", {})
        for k in KNOBS:
            fit = fits.get(k.name)
            if fit is None:
                continue
            kernels[k.name] = float(f"{fit.params[k.name]:.6g}")
            prov[k.name] = (
                f"calibrated: {k.fitted_on} (n={fit.rows}), least squares on log error, RMS "
                f"{fit.rms_log_error:.3f}, other knobs held; transferred unchanged to every device"
            )
        head = "".join(line + "\n" for line in path.read_text().splitlines() if line.startswith("#"))
        atomic_write_text(path, head + yaml.safe_dump(dict(raw), sort_keys=False, width=110))
        written.append(path)
    return written


@dataclass(frozen=True, slots=True)
class KnobCheck:
    """One candidate knob, held out by source: the MAPE of each of its sources' rows with the
    knob fitted without that source, and without the knob at all (its default)."""

    knob: str
    with_knob: dict[str, float]
    without: dict[str, float]

    @property
    def keep(self) -> bool:
        """Kept when no source it is fitted on gets worse held out (and one exists)."""
        return bool(self.with_knob) and all(self.with_knob[s] <= self.without[s] for s in self.with_knob)


def knob_selection(rows: Sequence[Measurement]) -> list[KnobCheck]:
    """Leave one source out for every candidate knob (calibration/knobs.py::CANDIDATES) on its
    own rows, the other knobs at their committed values: the check its keep / reject rests on."""
    import numpy as np

    from hetsim.calibration.knobs import CANDIDATES
    from hetsim.calibration.predict import predict_task

    def source(r: Measurement) -> str:
        return r.source_id or r.file

    tasks, _ = plan(rows, _known, DEFAULT_SKIP_TAGS)
    params = committed_params()
    out = []
    for k in CANDIDATES:
        mine = knob_tasks(k, tasks)
        sources = sorted({source(r) for t in mine for r in t.rows})
        off = with_values(params, {k.name: float(getattr(KernelParams(), k.name))})
        with_k: dict[str, float] = {}
        without: dict[str, float] = {}
        for src in sources if len(sources) > 1 else []:
            # a task may hold rows of several sources (one per hardware and op): split by row
            rest = knob_tasks(k, plan([r for r in rows if source(r) != src], _known, DEFAULT_SKIP_TAGS)[0])
            devices = {t.hardware: with_params(get_hardware(t.hardware), off) for t in (*mine, *rest)}
            fit = fit_knob(k, rest, devices, off)
            on = with_values(off, fit.params) if fit else off

            def mape(p: KernelParams, src: str = src, mine: list[Task] = mine) -> float:
                apes = [np.abs(predict_task(t, with_params(get_hardware(t.hardware), p)) /
                               np.array([r.value for r in t.rows]) - 1)[[source(r) == src for r in t.rows]]
                        for t in mine]  # fmt: skip
                return float(np.mean(np.concatenate(apes)))

            with_k[src], without[src] = mape(on), mape(off)
        out.append(KnobCheck(k.name, with_k, without))
    return out


@dataclass(frozen=True, slots=True)
class FoldRun:
    knob_fits: dict[str, FitResult | None]
    folds: dict[str, Fold]
    loso: list[Scored]
    loho: list[Scored]
    residuals: list[Residual]
    coverage: dict[str, Any]
    written: list[Path]
    selection: list[KnobCheck]


def run_folds(files: Sequence[Path], progress: Callable[[str], None] | None = None) -> FoldRun:
    """Fit and commit the knobs, folds and bands on ``files`` (see the module text)."""
    rows, _ = read_measurements(files)
    names = [Path(f).name for f in files]
    fits = fit_committed_knobs(rows)
    written = write_knob_values(fits, names)
    folds = compute_folds(rows, progress=progress)
    written.append(write_folds(folds, names))
    loso = fold_scores(rows, "source", folds)
    loho = fold_scores(rows, "hardware", folds)
    res = [residual(s.row, s.predicted, s.level) for s in loso]
    for e in energy_fold_scores(rows, "source"):
        level = "power" if e.row.metric == "avg_power" else "energy"
        res.append(residual(e.row, e.predicted, level))
    table = build(res, DEFAULT_FIT_HARDWARE)
    written.append(write_bands(table, names))
    cov = coverage(res, DEFAULT_FIT_HARDWARE)
    return FoldRun(fits, folds, loso, loho, res, cov, written, knob_selection(rows))
