"""The two front doors: :func:`validate` (score the cost model on measurements) and
:func:`calibrate` (fit the shared kernel parameters, write overlays, score fitted vs held-out)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from hetsim.calibration.defaults import DEFAULT_FIT_FILES, DEFAULT_FIT_HARDWARE, DEFAULT_SKIP_TAGS
from hetsim.calibration.fit import (
    COLLECTIVE_PARAMS,
    KERNEL_PARAMS,
    VECTOR_PARAMS,
    FitResult,
    fit_params,
)
from hetsim.calibration.load_cap import measure_load_issue
from hetsim.calibration.measurements import Measurement, read_measurements
from hetsim.calibration.overhead_fit import overhead_row
from hetsim.calibration.predict import Task, across_nodes, plan
from hetsim.calibration.profile import (
    Scope,
    assumed_provenance,
    overlay_text,
    provenance_for,
    read_scope,
    write_overlays,
)
from hetsim.calibration.report import Report, score
from hetsim.calibration.wallclock import FIT_HARDWARE as WALLCLOCK_FIT_HARDWARE
from hetsim.calibration.wallclock import timing_profile
from hetsim.errors import ConfigError, HetsimError, MeasurementError
from hetsim.hardware.kernels import NUMBER_FIELDS, KernelParams, load_overlay, with_values
from hetsim.hardware.loader import HARDWARE, get_hardware
from hetsim.hardware.provenance import Provenance
from hetsim.hardware.spec import Device

# the calibrated profile's serving assumption for the C++ engines it is checked against
DEFAULT_STEP_OVERHEAD_S = 0.0


@cache
def _known(name: str) -> bool:
    """Whether a normalised hardware name prices: a preset, or a composition of presets
    (``rtx-4090+xeon-6454sx2+dram:1TB``, hardware/compose.py)."""
    try:
        if "+" in name:
            get_hardware(name)
        else:
            HARDWARE.get_item(name)
    except HetsimError:
        return False
    return True


def load(
    paths: Sequence[str | Path], skip_tags: frozenset[str] = DEFAULT_SKIP_TAGS
) -> tuple[list[Measurement], list[Task], Counter[str], dict[str, Device]]:
    rows, skipped = read_measurements(paths)
    tasks, more = plan(rows, _known, skip_tags)
    skipped.update(more)
    devices = {t.hardware: get_hardware(t.hardware) for t in tasks}
    return rows, tasks, +skipped, devices


@cache
def _scope(hardware: str) -> Scope | None:
    return read_scope(hardware)


def committed_role(row: Measurement) -> str:
    """'fitted' when the committed overlay of the row's hardware was fitted on the row's file,
    or the row is one the frameworks' request overhead or a host-timing profile's call floors
    were fitted on, else 'held-out'."""
    if overhead_row(row):  # the rows the frameworks' request overhead is fitted on
        return "fitted"
    if across_nodes(row):  # never fitted on (calibration/predict.py)
        return "held-out"
    if timing_profile(row) is not None:  # host-timed kernels: fitted where the call floors were
        return "fitted" if row.hardware in WALLCLOCK_FIT_HARDWARE else "held-out"
    scope = _scope(row.hardware)
    return "fitted" if scope is not None and scope.fitted(row.hardware, row.file) else "held-out"


def validate(
    paths: Sequence[str | Path],
    *,
    calibrated: bool = True,
    skip_tags: frozenset[str] = DEFAULT_SKIP_TAGS,
    folds: bool = False,
) -> Report:
    """Predict every row of ``paths`` it can with the committed profiles and score it; with
    ``folds``, also score every row by the knobs fitted without its source and without its
    hardware (committed folds, calibration/folds.py)."""
    rows, tasks, skipped, devices = load(paths, skip_tags)
    rep = score(tasks, devices, committed_role, skipped, calibrated=calibrated)
    if folds and calibrated:
        from hetsim.calibration.folds import fold_scores, read_folds

        committed = read_folds()
        scored = {by: fold_scores(rows, by, committed, skip_tags=skip_tags) for by in ("source", "hardware")}
        rep = replace(rep, folds=scored)
    return rep


@dataclass(frozen=True, slots=True)
class Calibration:
    params: KernelParams
    kernel_fit: FitResult
    collective_fit: FitResult | None
    overlays: dict[str, Path]  # device -> written file
    report: Report  # every row, scored with the new parameters (fitted vs held-out)


def held_values(device: str) -> KernelParams:
    """The committed overlay of ``device`` (its values and provenance), to hold fixed while
    only some parameters are refitted."""
    kp = load_overlay(device)
    if kp is None:
        raise MeasurementError(
            f"--refit vector holds the other parameters at {device}'s committed overlay, and it has "
            "none (or HETSIM_CALIBRATION=off): refit all parameters instead"
        )
    return kp


def fit_shared(
    tasks: Sequence[Task], devices: dict[str, Device], fit_hw: Sequence[str], files: Sequence[str],
    refit: str = "all", only_constrained: bool = False,
) -> tuple[KernelParams, FitResult, FitResult | None, list[Task], list[Task]]:  # fmt: skip
    """Fit the shared kernel parameters on the kernel rows (then the collective parameters on
    the collective rows) of ``fit_hw`` in ``files``: (params, kernel fit, collective fit,
    kernel tasks, collective tasks). ``refit="vector"`` fits only :data:`VECTOR_PARAMS` and holds
    every other parameter at the committed overlay of ``fit_hw[0]`` (no collective fit)."""

    def in_fit(t: Task) -> bool:  # the collective knobs are of one node's NCCL calls
        return t.hardware in fit_hw and t.rows[0].file in files and not across_nodes(t.rows[0])

    kernel_tasks = [t for t in tasks if in_fit(t) and t.family == "kernel"]
    coll_tasks = [t for t in tasks if in_fit(t) and t.family == "collective"]
    if not kernel_tasks:
        raise MeasurementError(
            f"no kernel-level rows of {', '.join(fit_hw)} in {', '.join(files)}: nothing to fit "
            "(give the files that hold them, or choose --fit-hardware)"
        )
    # the per-SM load cap is measured on the fit rows first, so the fit sees it
    cap = measure_load_issue(kernel_tasks, devices)
    if refit == "vector":
        base = replace(held_values(fit_hw[0]), load_issue=cap.load_issue)
        spec = tuple(s for s in KERNEL_PARAMS if s[0] in VECTOR_PARAMS)
    elif refit == "all":
        base = KernelParams(step_overhead_s=DEFAULT_STEP_OVERHEAD_S, load_issue=cap.load_issue)
        spec = KERNEL_PARAMS
    else:
        raise ConfigError(f"--refit {refit!r}: choose all or vector")
    kfit = fit_params(kernel_tasks, devices, spec, base, only_constrained)
    params = with_values(base, kfit.params)
    fit_coll = coll_tasks and refit == "all"
    cfit = fit_params(coll_tasks, devices, COLLECTIVE_PARAMS, params, only_constrained) if fit_coll else None
    if cfit is not None:
        params = with_values(params, cfit.params)
    return params, kfit, cfit, kernel_tasks, coll_tasks


def calibrate(
    paths: Sequence[str | Path],
    *,
    fit_hardware: Sequence[str] = DEFAULT_FIT_HARDWARE,
    fit_files: Sequence[str] = DEFAULT_FIT_FILES,
    transfer_to: Sequence[str] | None = None,
    out_dir: Path | None = None,
    write: bool = True,
    skip_tags: frozenset[str] = DEFAULT_SKIP_TAGS,
    force: bool = True,
    refit: str = "all",
) -> Calibration:
    """Fit one shared parameter set on the kernel-level rows of ``fit_hardware`` in
    ``fit_files``; write overlays for the fit hardware (role ``fitted``) and for
    ``transfer_to`` (default: every other known hardware in the files; role ``transferred``)
    into ``out_dir`` (default: the package's ``hardware/calibrated/``); with ``force=False`` an
    existing overlay file is an error and nothing is written. ``refit="vector"``: only the
    vector-kernel parameters are fitted; the others keep each device's committed values and
    provenance."""
    _, tasks, skipped, devices = load(paths, skip_tags)
    fit_hw = tuple(get_hardware(h).name for h in fit_hardware)
    files = tuple(Path(f).name for f in fit_files)
    params, kfit, cfit, kernel_tasks, coll_tasks = fit_shared(tasks, devices, fit_hw, files, refit)
    targets = list(dict.fromkeys([*fit_hw, *(transfer_to if transfer_to is not None else sorted(devices))]))
    overlays: dict[str, Path] = {}
    texts: dict[str, str] = {}
    kfiles = sorted({t.rows[0].file for t in kernel_tasks})
    cfiles = sorted({t.rows[0].file for t in coll_tasks})
    for name in targets:
        dev = get_hardware(name, calibrated=False)
        if dev.primary.unit_for("matrix").n_parallel <= 0:
            continue  # no SM/tile description: the shared GEMM shape does not apply
        prov = {**assumed_provenance()}
        if refit != "all":  # the held values stay this device's committed ones, with their sources
            held = load_overlay(dev.name) or params
            params_dev = with_values(held, kfit.params)
            prov.update(held.provenance)
        else:
            params_dev = params
        prov.update(
            provenance_for(list(kfit.params), kfiles, fit_hw, kfit.rows, kfit.rms_log_error, dev.name)
        )
        if cfit is not None:
            prov.update(
                provenance_for(list(cfit.params), cfiles, fit_hw, cfit.rows, cfit.rms_log_error, dev.name)
            )
        prov["load_issue"] = Provenance("measured", measure_load_issue(kernel_tasks, devices).source)
        for name in NUMBER_FIELDS:  # a parameter no fit touched keeps its default, and says so
            prov.setdefault(name, Provenance("assumed", "default value; the fit files held no rows for it"))
        p = replace(params_dev, load_issue=params.load_issue, provenance=prov)
        devices[dev.name] = replace(dev, kernels=p)
        if write:
            kind = "fitted" if dev.name in fit_hw else "transferred"
            held_rows = sum(len(t.rows) for t in coll_tasks)  # collective values held (--refit vector)
            rows = {"kernel": kfit.rows, "collective": cfit.rows if cfit else held_rows}
            rms = {"kernel": kfit.rms_log_error, **({"collective": cfit.rms_log_error} if cfit else {})}
            text = overlay_text(dev.name, p, role=kind, fit_hardware=fit_hw, fit_files=[*kfiles, *cfiles],
                                fit_rows=rows, rms_log_error=rms)  # fmt: skip
            texts[dev.name] = text
    if write:
        overlays = write_overlays(texts, out_dir, force=force)
    used = set(kfiles) | set(cfiles)

    def role(r: Measurement) -> str:
        if timing_profile(r) is not None:  # host-timed kernels: their call floors' fit decides
            return committed_role(r)
        return "fitted" if r.hardware in fit_hw and r.file in used else "held-out"

    report = score([t for t in tasks if t.hardware in devices], devices, role, skipped)
    return Calibration(params, kfit, cfit, overlays, report)
