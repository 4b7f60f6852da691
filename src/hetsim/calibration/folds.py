"""Leave-one-source-out and leave-one-hardware-out: every knob refitted without a fold's rows,
the fold's rows scored with those values.

A fold is a source (``source_id``) or a hardware preset. For each fold whose rows any knob is
fitted on (:mod:`hetsim.calibration.knobs`), the knobs are refitted on every *other* row, in the
knobs' order: a refitted group refits every group after it (their fits rest on it); a group
whose rows the fold does not touch keeps its committed value. A fold no knob was fitted on
needs no refit: its rows were held out already, and it is scored with the committed values.

The refits are the slow part (a kernel refit is ~15 s), so ``hetsim calibrate --folds`` writes
them, with what each was fitted on, to ``hardware/calibrated/folds.yaml``; ``validate`` reads
that file and only re-prices (a fold the file lacks is refitted on the spot).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from hetsim.calibration.api import _known, fit_shared
from hetsim.calibration.defaults import DEFAULT_FIT_FILES, DEFAULT_FIT_HARDWARE, DEFAULT_SKIP_TAGS
from hetsim.calibration.dispatch_fit import dispatch_without, with_dispatch
from hetsim.calibration.fit import COLLECTIVE_PARAMS, KERNEL_PARAMS
from hetsim.calibration.knobs import CANDIDATES, KNOBS, fit_knob, knob_tasks
from hetsim.calibration.measurements import Measurement
from hetsim.calibration.overhead_fit import fit_request_overhead, overhead_row, with_request_overhead
from hetsim.calibration.predict import Task, across_nodes, plan
from hetsim.calibration.report import Scored, score
from hetsim.calibration.sequence_fit import fit_sequence_overhead, sequence_row, with_sequence_overhead
from hetsim.calibration.wallclock import FIT_HARDWARE as FLOOR_FIT_HARDWARE
from hetsim.calibration.wallclock import PYTORCH_MICROBENCH, benchmarked_op, timing_profile
from hetsim.calibration.wallclock_fit import fit_call_floors, timed_tasks, with_floors
from hetsim.datafiles import read_mapping
from hetsim.engines.vllm import VLLM_SEQUENCE_OVERHEAD_S
from hetsim.errors import MeasurementError
from hetsim.hardware.family import scoped_kernels
from hetsim.hardware.kernels import KernelParams, load_overlay, overlay_path, with_values
from hetsim.hardware.loader import get_hardware
from hetsim.hardware.spec import Device
from hetsim.outfiles import atomic_write_text
from hetsim.sim.frameworks import TRTLLM_REQUEST_OVERHEAD_S

By = Literal["source", "hardware"]
FOLDS_FILE = "folds.yaml"  # beside the overlays
GROUPS = ("kernel", "collective", *(k.name for k in KNOBS), "request_overhead", "sequence_overhead")


def fold_key(r: Measurement, by: By) -> str:
    return (r.source_id or r.file) if by == "source" else r.hardware


@dataclass(frozen=True, slots=True)
class Fold:
    """Knob values fitted without the rows of ``key`` (``source:<id>`` / ``hardware:<name>``)."""

    key: str
    values: dict[str, float] = field(default_factory=dict)  # KernelParams fields refitted
    request_overhead_s: float | None = None  # None: the committed one
    fit_rows: dict[str, int] = field(default_factory=dict)  # rows each refitted group used
    sequence_overhead_s: float | None = None  # None: the committed one (vLLM's per-sequence host time)

    def devices(self, names: Sequence[str]) -> dict[str, Device]:
        """The calibrated devices of ``names`` priced with this fold's values."""
        out = {}
        for h in names:
            dev = get_hardware(h)
            if dev.kernels is not None and self.values:
                dev = replace(dev, kernels=scoped_kernels(dev, with_values(dev.kernels, self.values)))
            out[h] = dev
        return out


@dataclass(frozen=True, slots=True)
class Recipe:
    fit_hardware: tuple[str, ...] = DEFAULT_FIT_HARDWARE
    fit_files: tuple[str, ...] = DEFAULT_FIT_FILES

    def group_rows(self, tasks: Sequence[Task]) -> dict[str, list[Measurement]]:
        """The rows each knob group is fitted on."""
        fit_hw = {get_hardware(h).name for h in self.fit_hardware}

        def in_fit(t: Task, family: str) -> bool:
            return (t.family == family and t.hardware in fit_hw and t.rows[0].file in self.fit_files
                    and not across_nodes(t.rows[0]))  # fmt: skip

        out: dict[str, list[Measurement]] = {
            "kernel": [r for t in tasks if in_fit(t, "kernel") for r in t.rows],
            "collective": [r for t in tasks if in_fit(t, "collective") for r in t.rows],
        }
        for k in KNOBS:
            out[k.name] = [r for t in knob_tasks(k, tasks) for r in t.rows]
        out["request_overhead"] = [r for t in tasks if t.family == "e2e" for r in t.rows if overhead_row(r)]
        out["sequence_overhead"] = [r for t in tasks if t.family == "e2e" for r in t.rows if sequence_row(r)]
        return out


def committed_params() -> KernelParams:
    kp = load_overlay(DEFAULT_FIT_HARDWARE[0])
    return kp if kp is not None else KernelParams()


def refit(
    rows: Sequence[Measurement], drop: Callable[[Measurement], bool], key: str, recipe: Recipe = Recipe(),
    skip_tags: frozenset[str] = DEFAULT_SKIP_TAGS,
) -> Fold:  # fmt: skip
    """Every knob group whose fit rows ``drop`` removes (and every group after it) refitted on
    the rows it keeps; the rest keep their committed values."""
    all_tasks, _ = plan(rows, _known, skip_tags)
    touched = {g for g, rs in recipe.group_rows(all_tasks).items() if any(drop(r) for r in rs)}
    if not touched:
        return Fold(key)
    first = min(GROUPS.index(g) for g in touched)
    redo = set(GROUPS[first:])
    rest_rows = [r for r in rows if not drop(r)]
    tasks, _ = plan(rest_rows, _known, skip_tags)
    values: dict[str, float] = {}
    fit_rows: dict[str, int] = {}
    params = committed_params()
    if redo & {"kernel", "collective"}:
        bare = {t.hardware: get_hardware(t.hardware, calibrated=False) for t in tasks}
        names = [s[0] for s in KERNEL_PARAMS] + [s[0] for s in COLLECTIVE_PARAMS]
        try:
            fitted, kfit, cfit, _, _ = fit_shared(tasks, bare, recipe.fit_hardware, recipe.fit_files,
                                                  only_constrained=True)  # fmt: skip
            fit_rows.update(kernel=kfit.rows, collective=cfit.rows if cfit else 0)
        except MeasurementError:  # the fold held every kernel row of the recipe: the priors stay
            fitted = KernelParams()
            fit_rows.update(kernel=0, collective=0)
        values.update({n: float(getattr(fitted, n)) for n in names})
        params = with_values(params, values)
    devices = {h: with_params(get_hardware(h), params) for h in {t.hardware for t in tasks}}
    for k in KNOBS:
        if k.name not in redo:
            continue
        res = fit_knob(k, tasks, devices, params)
        value = res.params[k.name] if res else float(getattr(KernelParams(), k.name))
        values[k.name] = value
        fit_rows[k.name] = res.rows if res else 0
        params = with_values(params, {k.name: value})
        devices = {h: with_params(d, params) for h, d in devices.items()}
    overhead = None
    if "request_overhead" in redo:
        fit = fit_request_overhead([t for t in tasks if t.family == "e2e"], devices)
        overhead, fit_rows["request_overhead"] = fit.request_overhead_s, fit.rows
    sequence = None
    if "sequence_overhead" in redo:
        seq = fit_sequence_overhead([t for t in tasks if t.family == "e2e"], devices)
        sequence, fit_rows["sequence_overhead"] = seq.sequence_overhead_s, seq.rows
    return Fold(key, values, overhead, fit_rows, sequence)


def with_params(dev: Device, params: KernelParams) -> Device:
    """``dev`` priced with the shared values of ``params`` (where it is calibrated at all)."""
    if dev.kernels is None:
        return dev
    return replace(dev, kernels=scoped_kernels(dev, with_values(dev.kernels, _numbers(params))))


def _numbers(p: KernelParams) -> dict[str, float]:
    names = [s[0] for s in KERNEL_PARAMS] + [s[0] for s in COLLECTIVE_PARAMS] + [k.name for k in CANDIDATES]
    return {n: float(getattr(p, n)) for n in names}


def fold_keys(rows: Sequence[Measurement], by: By, recipe: Recipe = Recipe(),
              skip_tags: frozenset[str] = DEFAULT_SKIP_TAGS) -> list[str]:  # fmt: skip
    """The folds (sources or hardware) that hold rows some knob is fitted on."""
    tasks, _ = plan(rows, _known, skip_tags)
    keys = {fold_key(r, by) for rs in recipe.group_rows(tasks).values() for r in rs}
    return sorted(keys)


def compute_folds(rows: Sequence[Measurement], recipe: Recipe = Recipe(),
                  progress: Callable[[str], None] | None = None) -> dict[str, Fold]:  # fmt: skip
    """Every leave-one-source-out and leave-one-hardware-out fold that needs a refit."""
    out: dict[str, Fold] = {}
    for by in ("source", "hardware"):
        for k in fold_keys(rows, by, recipe):
            key = f"{by}:{k}"
            if progress:
                progress(key)
            out[key] = refit(rows, _is(by, k), key, recipe)
    return out


def _is(by: By, key: str) -> Callable[[Measurement], bool]:
    """Whether a row belongs to fold ``key`` of kind ``by``."""
    return lambda r: fold_key(r, by) == key


def folds_path() -> Path:
    return overlay_path(FOLDS_FILE.removesuffix(".yaml"))


def write_folds(folds: dict[str, Fold], files: Sequence[str], path: Path | None = None) -> Path:
    data: dict[str, Any] = {
        "written_by": "hetsim calibrate --folds",
        "files": sorted(files),
        "committed_request_overhead_s": TRTLLM_REQUEST_OVERHEAD_S,
        "committed_sequence_overhead_s": VLLM_SEQUENCE_OVERHEAD_S,
        "folds": {k: _fold_dict(f) for k, f in sorted(folds.items())},
    }  # fmt: skip
    head = (
        "# Knob values refitted without each fold (a source or a hardware) whose rows a knob is fitted\n"
        "# on; written by `hetsim calibrate --folds`, read by `hetsim validate` (leave-one-out scores).\n"
    )
    target = path or folds_path()
    atomic_write_text(target, head + yaml.safe_dump(data, sort_keys=False, width=110))
    return target


def _fold_dict(f: Fold) -> dict[str, Any]:
    overhead = None if f.request_overhead_s is None else round(f.request_overhead_s, 7)
    values = {n: float(f"{v:.6g}") for n, v in f.values.items()}
    sequence = None if f.sequence_overhead_s is None else round(f.sequence_overhead_s, 8)
    return {"values": values, "request_overhead_s": overhead, "sequence_overhead_s": sequence,
            "fit_rows": dict(f.fit_rows)}  # fmt: skip


def read_folds(path: Path | None = None) -> dict[str, Fold]:
    """The committed folds ({} when the file is absent)."""
    target = path or folds_path()
    if not target.is_file():
        return {}
    raw = read_mapping(target).get("folds", {}) or {}
    return {
        k: Fold(k, {n: float(v) for n, v in (f.get("values") or {}).items()},
                None if f.get("request_overhead_s") is None else float(f["request_overhead_s"]),
                {n: int(v) for n, v in (f.get("fit_rows") or {}).items()},
                None if f.get("sequence_overhead_s") is None else float(f["sequence_overhead_s"]))
        for k, f in raw.items()
    }  # fmt: skip


def fold_scores(
    rows: Sequence[Measurement], by: By, folds: dict[str, Fold], recipe: Recipe = Recipe(),
    skip_tags: frozenset[str] = DEFAULT_SKIP_TAGS,
) -> list[Scored]:  # fmt: skip
    """Every row scored by the knob values fitted without its fold (role ``loso`` / ``loho``);
    a fold the committed file lacks but some knob was fitted on is refitted here."""
    role = "loso" if by == "source" else "loho"
    needed = set(fold_keys(rows, by, recipe, skip_tags))
    by_key: dict[str, list[Measurement]] = {}
    for r in rows:
        by_key.setdefault(fold_key(r, by), []).append(r)
    out: list[Scored] = []
    for k, mine in sorted(by_key.items()):
        key = f"{by}:{k}"
        fold = folds.get(key) or (
            refit(rows, _is(by, k), key, recipe, skip_tags) if k in needed else Fold(key)
        )
        tasks, _ = plan(mine, _known, skip_tags)
        floors = floors_without(rows, _is(by, k), fold, skip_tags)
        if floors is not None:
            tasks = with_floors(tasks, floors)
        if fold.request_overhead_s is not None:
            tasks = with_request_overhead(tasks, fold.request_overhead_s)
        if fold.sequence_overhead_s is not None:
            tasks = with_sequence_overhead(tasks, fold.sequence_overhead_s)
        dispatch = dispatch_without(rows, lambda r: fold_key(r, by), k)  # the eager dispatch's fit rows
        if dispatch is not None:
            tasks = [replace(t, e2e=replace(t.e2e, serving=with_dispatch(t.e2e.serving, dispatch)))
                     if t.e2e is not None else t for t in tasks]  # fmt: skip
        devices = fold.devices(sorted({t.hardware for t in tasks}))
        out += score(tasks, devices, lambda r: role).scored
    return out


def floors_without(rows: Sequence[Measurement], drop: Callable[[Measurement], bool], fold: Fold,
                   skip_tags: frozenset[str] = DEFAULT_SKIP_TAGS) -> dict[str, float] | None:  # fmt: skip
    """The host-timing call floors (calibration/wallclock.py) refitted on the host-timed rows
    ``drop`` keeps, for a fold that holds rows they were fitted on (None: it holds none, and the
    committed floors are already held out for it). A launch path with no row left has no floor."""
    prof = PYTORCH_MICROBENCH
    if not any(drop(r) and r.hardware in FLOOR_FIT_HARDWARE and timing_profile(r) is prof for r in rows):
        return None
    rest = [r for r in rows if not drop(r) and timing_profile(r) is prof]
    timed = timed_tasks(plan(rest, _known, skip_tags)[0])
    hardware = sorted({t.hardware for t in timed})
    fitted = fit_call_floors(timed, fold.devices(hardware), hardware) if timed else {}
    paths = {prof.ops[benchmarked_op(r)].path for t in timed for r in t.rows}
    return {p: fitted[p] if p in paths else 0.0 for p in prof.call_s}
