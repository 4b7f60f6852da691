"""Cross-validation of the shared calibration: leave one GPU out, leave one model out.

Fold ``k`` scores every row whose key (its hardware, or its model) is ``k`` with parameters
fitted by the committed recipe (kernel rows of the fit hardware in the fit files, then
collective rows) on every row whose key is *not* ``k``. Where the recipe never saw ``k``
(H100, H200, L40S are not fit hardware; GPT-J is in no fit file) the fold's fit is the
committed one, so no refit is needed: those rows were held out already. The frameworks'
per-request overhead (fitted on batch-1 first-token rows) is refitted on the other folds'
rows in every fold that holds such rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from hetsim.calibration.api import _known, fit_shared
from hetsim.calibration.defaults import DEFAULT_FIT_FILES, DEFAULT_FIT_HARDWARE, DEFAULT_SKIP_TAGS
from hetsim.calibration.e2e import model_for
from hetsim.calibration.measurements import Measurement, read_measurements
from hetsim.calibration.overhead_fit import fit_request_overhead, overhead_row, with_request_overhead
from hetsim.calibration.predict import Task, plan
from hetsim.calibration.report import Report, Scored, score
from hetsim.calibration.sequence_fit import fit_sequence_overhead, sequence_row, with_sequence_overhead
from hetsim.hardware.kernels import KernelParams
from hetsim.hardware.loader import get_hardware
from hetsim.hardware.spec import Device

FoldBy = Literal["hardware", "model"]
Fit = Callable[[Sequence[Task], dict[str, Device], Sequence[str], Sequence[str]], tuple[KernelParams, ...]]


def fold_key(r: Measurement, by: FoldBy) -> str:
    """The fold a row belongs to: its preset hardware name, or its model's preset name ('' for
    a row of no known model: a stream kernel, a collective, a bare GEMM)."""
    if by == "hardware":
        return r.hardware
    spec = model_for(r.model)
    return spec.name if spec is not None else ""


@dataclass(frozen=True, slots=True)
class CrossValidation:
    by: FoldBy
    report: Report  # every row, role "cv:<by>", scored by its fold's parameters
    refit: tuple[str, ...]  # folds whose parameters were refitted without them


def cross_validate(
    paths: Sequence[str | Path],
    by: FoldBy,
    *,
    fit: Fit = fit_shared,  # type: ignore[assignment]
    fit_hardware: Sequence[str] = DEFAULT_FIT_HARDWARE,
    fit_files: Sequence[str] = DEFAULT_FIT_FILES,
    skip_tags: frozenset[str] = DEFAULT_SKIP_TAGS,
    families: Sequence[str] = ("e2e",),
) -> CrossValidation:
    """Score the rows of ``families`` (default: end-to-end) fold by fold."""
    rows, skipped = read_measurements(paths)
    tasks, more = plan(rows, _known, skip_tags)
    skipped.update(more)
    fit_hw = tuple(get_hardware(h).name for h in fit_hardware)
    files = tuple(Path(f).name for f in fit_files)
    in_recipe = {
        fold_key(r, by)
        for t in tasks
        if t.family in ("kernel", "collective") and t.hardware in fit_hw and t.rows[0].file in files
        for r in t.rows
    }
    scored: list[Scored] = []
    refit: list[str] = []
    role = f"cv:{by}"
    keys = {fold_key(r, by) for t in tasks if t.family in families for r in t.rows}
    for k in sorted(keys - {""}):
        mine, _ = plan([r for r in rows if fold_key(r, by) == k], _known, skip_tags)
        mine = [t for t in mine if t.family in families]
        hardware = {t.hardware for t in mine}
        if k in in_recipe:
            rest, _ = plan([r for r in rows if fold_key(r, by) != k], _known, skip_tags)
            bare = {t.hardware: get_hardware(t.hardware, calibrated=False) for t in rest}
            params = fit(rest, bare, [h for h in fit_hw if h != k], files)[0]
            devices = {h: _with(get_hardware(h), params) for h in hardware}
            refit.append(k)
        else:
            devices = {h: get_hardware(h) for h in hardware}
        if any(overhead_row(r) for t in mine for r in t.rows):
            # the frameworks' request overhead was fitted on rows like these: refit it on the
            # end-to-end rows of the other folds (a fold without such rows keeps the committed one)
            others = [t for t in tasks if t.family == "e2e" and fold_key(t.rows[0], by) != k]
            overhead = fit_request_overhead(others, {t.hardware: get_hardware(t.hardware) for t in others})
            mine = with_request_overhead(mine, overhead.request_overhead_s)
        if any(sequence_row(r) for t in mine for r in t.rows):
            # vLLM's per-sequence host time, the same way (calibration/sequence_fit.py)
            others = [t for t in tasks if t.family == "e2e" and fold_key(t.rows[0], by) != k]
            seq = fit_sequence_overhead(others, {t.hardware: get_hardware(t.hardware) for t in others})
            mine = with_sequence_overhead(mine, seq.sequence_overhead_s)
        rep = score(mine, devices, lambda r: role)
        scored.extend(rep.scored)
        skipped.update(rep.skipped)
    if "" in keys:
        skipped["cv:no_model"] += sum(
            1 for t in tasks if t.family in families for r in t.rows if not fold_key(r, by)
        )
    return CrossValidation(by, Report(scored, +skipped), tuple(refit))


def _with(dev: Device, params: KernelParams) -> Device:
    """``dev`` priced by the fold's parameters wherever the committed profile is calibrated."""
    return replace(dev, kernels=params) if dev.kernels is not None else dev
