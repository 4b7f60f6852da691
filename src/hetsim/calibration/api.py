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
    FitResult,
    fit_params,
)
from hetsim.calibration.load_cap import measure_load_issue
from hetsim.calibration.measurements import Measurement, read_measurements
from hetsim.calibration.overhead_fit import overhead_row
from hetsim.calibration.predict import Task, plan
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
from hetsim.errors import HetsimError, MeasurementError
from hetsim.hardware.kernels import NUMBER_FIELDS, KernelParams, with_values
from hetsim.hardware.loader import HARDWARE, get_hardware
from hetsim.hardware.provenance import Provenance
from hetsim.hardware.spec import Device

# the calibrated profile's serving assumption for the C++ engines it is checked against
DEFAULT_STEP_OVERHEAD_S = 0.0


@cache
def _known(name: str) -> bool:
    try:
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
    if timing_profile(row) is not None:  # host-timed kernels: fitted where the call floors were
        return "fitted" if row.hardware in WALLCLOCK_FIT_HARDWARE else "held-out"
    scope = _scope(row.hardware)
    return "fitted" if scope is not None and scope.fitted(row.hardware, row.file) else "held-out"


def validate(
    paths: Sequence[str | Path], *, calibrated: bool = True, skip_tags: frozenset[str] = DEFAULT_SKIP_TAGS
) -> Report:
    """Predict every row of ``paths`` it can with the committed profiles and score it."""
    _, tasks, skipped, devices = load(paths, skip_tags)
    return score(tasks, devices, committed_role, skipped, calibrated=calibrated)


@dataclass(frozen=True, slots=True)
class Calibration:
    params: KernelParams
    kernel_fit: FitResult
    collective_fit: FitResult | None
    overlays: dict[str, Path]  # device -> written file
    report: Report  # every row, scored with the new parameters (fitted vs held-out)


def fit_shared(
    tasks: Sequence[Task], devices: dict[str, Device], fit_hw: Sequence[str], files: Sequence[str]
) -> tuple[KernelParams, FitResult, FitResult | None, list[Task], list[Task]]:
    """Fit the shared kernel parameters on the kernel rows (then the collective parameters on
    the collective rows) of ``fit_hw`` in ``files``: (params, kernel fit, collective fit,
    kernel tasks, collective tasks)."""

    def in_fit(t: Task) -> bool:
        return t.hardware in fit_hw and t.rows[0].file in files

    kernel_tasks = [t for t in tasks if in_fit(t) and t.family == "kernel"]
    coll_tasks = [t for t in tasks if in_fit(t) and t.family == "collective"]
    if not kernel_tasks:
        raise MeasurementError(
            f"no kernel-level rows of {', '.join(fit_hw)} in {', '.join(files)}: nothing to fit "
            "(give the files that hold them, or choose --fit-hardware)"
        )
    # the per-SM load cap is measured on the fit rows first, so the fit sees it
    cap = measure_load_issue(kernel_tasks, devices)
    base = KernelParams(step_overhead_s=DEFAULT_STEP_OVERHEAD_S, load_issue=cap.load_issue)
    kfit = fit_params(kernel_tasks, devices, KERNEL_PARAMS, base)
    params = with_values(base, kfit.params)
    cfit = fit_params(coll_tasks, devices, COLLECTIVE_PARAMS, params) if coll_tasks else None
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
) -> Calibration:
    """Fit one shared parameter set on the kernel-level rows of ``fit_hardware`` in
    ``fit_files``; write overlays for the fit hardware (role ``fitted``) and for
    ``transfer_to`` (default: every other known hardware in the files; role ``transferred``)
    into ``out_dir`` (default: the package's ``hardware/calibrated/``); with ``force=False`` an
    existing overlay file is an error and nothing is written."""
    _, tasks, skipped, devices = load(paths, skip_tags)
    fit_hw = tuple(get_hardware(h).name for h in fit_hardware)
    files = tuple(Path(f).name for f in fit_files)
    params, kfit, cfit, kernel_tasks, coll_tasks = fit_shared(tasks, devices, fit_hw, files)
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
        p = replace(params, provenance=prov)
        devices[dev.name] = replace(dev, kernels=p)
        if write:
            kind = "fitted" if dev.name in fit_hw else "transferred"
            rows = {"kernel": kfit.rows, "collective": cfit.rows if cfit else 0}
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
