"""Score the board-power model (``cost/power.py``) on published power and energy rows, and fit
its two global knobs, the active-power fraction and the on-chip energy per bit read from memory,
on a stated subset.

Rows: the metrics ``avg_power`` (W), ``energy_per_token`` (J/token) and ``energy_per_request``
(J). An idle row (``framework`` says idle, batch 0) is scored against the device's idle power.
A run row is predicted by the static-batch simulator at the row's batch and lengths; where the
source gives a prompt data set instead of lengths (``dataset``), the lengths are the named
assumption :data:`DATASET_LENGTHS` (the sensitivity to it is reported in docs/calibration.md).

Roles: a row is ``fitted`` when its source is in :data:`FIT_SOURCES` and its metric
is one of :data:`FIT_METRICS`, else
``held-out``. MAPE is reported per (role, hardware, metric) group.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hetsim.calibration.e2e import (
    E2E_METRICS,
    ENERGY_METRICS,
    model_for,
    precision_for,
    serving_for,
    weight_only_fallback,
)
from hetsim.calibration.measurements import Measurement, published, read_measurements
from hetsim.calibration.sequence_fit import FITTED_ENGINES
from hetsim.calibration.steady import DATASET_LENGTHS as DATASET_LENGTHS
from hetsim.calibration.steady import STEADY, parallel_reason, steady_state
from hetsim.calibration.vocabulary import precision_of
from hetsim.cost.power import ACTIVE_POWER_FRACTION, ONCHIP_J_PER_BIT, active_w
from hetsim.cost.roofline import has_matrix_rate
from hetsim.errors import HetsimError
from hetsim.hardware.loader import get_hardware
from hetsim.hardware.spec import Device
from hetsim.sim.frameworks import profile_for
from hetsim.sim.inference import Serving, sweep
from hetsim.workload.model import ModelSpec

# sources the two power knobs are fitted on, only their average power (which isolates the power
# model from the latency model): ML.ENERGY v1 (9 LLaMA-shaped models, A100 at batch 1 and 2, A40
# at batch 1: little moved, the floor) and v3 (vLLM on H100 and B200, batch 8-1,021: the on-chip
# energy of large batches); leave_one_gpu_out() scores each GPU with both fitted on the other three.
FLOOR_SOURCES = frozenset({"mlenergy_v1_a100_chat", "mlenergy_v1_a40_chat_legacy"})
ONCHIP_SOURCES = frozenset({"mlenergy_leaderboard_v3"})
FIT_SOURCES = FLOOR_SOURCES | ONCHIP_SOURCES
FIT_METRICS = ("avg_power",)
ONCHIP_BOUNDS_J_PER_BIT = (0.0, 50e-12)  # the fit's range: up to ~13x HBM2's access energy
# the committed power rows (data/measurements/published/ of the source checkout)
DEFAULT_FILES = (published("energy_published.csv"), published("mlenergy_leaderboard_v3.csv"))


@dataclass(frozen=True, slots=True)
class EnergyScore:
    row: Measurement
    predicted: float  # SI, the row's unit; NaN when not predicted
    role: str  # 'fitted' or 'held-out'
    assumed_lengths: bool  # the row's lengths came from DATASET_LENGTHS

    @property
    def ape(self) -> float:
        return abs(self.predicted - self.row.value) / abs(self.row.value)


@dataclass(frozen=True, slots=True)
class EnergyReport:
    scores: tuple[EnergyScore, ...]
    skipped: Counter[str]
    active_fraction: float
    # GPU of the fit rows -> (fraction and on-chip J/bit fitted without it, MAPE of its fit rows at them)
    leave_one_out: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    # every row at the knobs fitted without its source / its GPU (fold_scores)
    folds: dict[str, tuple[EnergyScore, ...]] = field(default_factory=dict)
    onchip_j_per_bit: float = ONCHIP_J_PER_BIT

    def mape(self, role: str | None = None) -> float:
        a = [s.ape for s in self.scores if role in (None, s.role)]
        return float(np.mean(a)) if a else float("nan")

    def to_json(self) -> dict[str, object]:
        return {
            "active_power_fraction": self.active_fraction,
            "onchip_j_per_bit": self.onchip_j_per_bit,
            "dataset_lengths": list(DATASET_LENGTHS),
            "mape": {"fitted": self.mape("fitted"), "held-out": self.mape("held-out")},
            "leave_one_gpu_out": {
                hw: {"fraction": a, "onchip_j_per_bit": e, "mape": m}
                for hw, (a, e, m) in self.leave_one_out.items()
            },
            "groups": [{"role": k[0], "hardware": k[1], "metric": k[2], "n": n, "mape": m}
                       for k, (n, m) in self.groups().items()],
            "rows": [{"row": s.row.key, "hardware": s.row.hardware, "model": s.row.model,
                      "metric": s.row.metric, "measured": s.row.value, "predicted": s.predicted,
                      "unit": s.row.unit, "role": s.role, "assumed_lengths": s.assumed_lengths}
                     for s in self.scores],
            "skipped": dict(self.skipped),
        }  # fmt: skip

    def groups(self) -> dict[tuple[str, str, str], tuple[int, float]]:
        """(role, hardware, metric) -> (rows, MAPE)."""
        by: dict[tuple[str, str, str], list[float]] = defaultdict(list)
        for s in self.scores:
            by[(s.role, s.row.hardware, s.row.metric)].append(s.ape)
        return {k: (len(v), float(np.mean(v))) for k, v in sorted(by.items())}


def role_of(r: Measurement) -> str:
    """'fitted' for the rows the knob was fitted on, 'held-out' for every other row."""
    fitted = r.source_id in FIT_SOURCES and r.metric in FIT_METRICS
    return "fitted" if fitted else "held-out"


def _is_idle(r: Measurement) -> bool:
    return "idle" in r.framework.lower() and r.batch in (0, None)


def _model(name: str) -> ModelSpec | None:
    return model_for(name)


def _lengths(r: Measurement) -> tuple[int, int, bool]:
    p, g = r.input_len, r.output_len
    assumed = p is None or g is None
    return (p or DATASET_LENGTHS[0]), (g or DATASET_LENGTHS[1]), assumed


def _reason(r: Measurement, dev: Device | None) -> str:
    if dev is None:
        return "unknown_hardware"
    if _is_idle(r):
        return ""
    if _model(r.model) is None:
        return "unknown_model"
    if r.serving and r.serving != STEADY:
        return "needs_serving_simulator"  # no stated running batch to price it at
    if not r.batch:
        return "missing_workload"
    # an unstated 16-bit type ('BF16/FP16 (dtype not stated)') prices the same either way
    if precision_of(r.precision) is None and "16" not in r.precision_raw:
        return f"unsupported_precision:{r.precision}" if r.precision else "precision_not_stated"
    return ""


def _device(name: str) -> Device | None:
    try:
        return get_hardware(name) if name else None
    except HetsimError:
        return None


def predict_row(r: Measurement, dev: Device, serving: Serving | None = None) -> tuple[float, bool]:
    """A run row's prediction (SI, its unit; NaN if it does not fit) and whether its lengths
    were assumed; ``serving`` replaces the profile its framework text names."""
    value = _predict_rows([(r, dev, serving)])[0]
    return value, (not _is_idle(r) and _lengths(r)[2])


def _predict_rows(items: Sequence[tuple[Measurement, Device, Serving | None]]) -> list[float]:
    """Predictions of run rows (SI, their units; NaN where a row does not fit): the rows that
    differ only in batch share one sweep (configurations are priced independently, so each
    value is what the row alone gives)."""
    out = [float("nan")] * len(items)
    groups: dict[tuple[object, ...], list[int]] = defaultdict(list)
    for i, (r, dev, serving) in enumerate(items):
        if _is_idle(r):
            out[i] = dev.static_power_w
            continue
        p, g, _ = _lengths(r)
        groups[(r.hardware, r.model, p, g, r.precision, r.framework, r.tp, r.pp, serving)].append(i)
    for idx in groups.values():
        r, dev, serving = items[idx[0]]
        model = _model(r.model)
        assert model is not None  # _reason said so
        p, g, _ = _lengths(r)
        key = r.precision if precision_of(r.precision) is not None else "fp16"
        prec = precision_for(key, r.framework)
        if not has_matrix_rate(dev, prec.compute):
            prec = weight_only_fallback(prec)
        res = sweep(model, dev, [items[i][0].batch for i in idx], [p], [g], prec, tp=r.tp, pp=r.pp,
                    serving=serving or serving_for(r.framework))  # fmt: skip
        for j, i in enumerate(idx):
            metric = items[i][0].metric
            out[i] = float(E2E_METRICS[metric][1](res)[j]) if bool(res.fits[j]) else float("nan")
    return out


def with_fraction(dev: Device, fraction: float, onchip_j_per_bit: float = ONCHIP_J_PER_BIT) -> Device:
    """``dev`` with its active power set from ``fraction`` of its headroom above idle, and (with
    calibrated kernels) its memory tiers' energy per bit moved by the on-chip energy's change
    from the committed knob (cost/roofline.py adds the committed one to every bit read)."""
    floor = active_w(dataclasses.replace(dev, active_power_w=None), fraction)
    derived = dataclasses.replace(dev, active_power_w=floor)
    shift = onchip_j_per_bit - ONCHIP_J_PER_BIT
    if dev.kernels is None or shift == 0:
        return derived
    tiers = [dataclasses.replace(s.memory, energy_j_per_bit=max(s.memory.energy_j_per_bit + shift, 0.0))
             for s in dev.sides]  # fmt: skip
    sides = tuple(dataclasses.replace(s, memory=m) for s, m in zip(dev.sides, tiers, strict=True))
    return dataclasses.replace(derived, sides=sides)


def score_energy(
    rows: Sequence[Measurement],
    fraction: float = ACTIVE_POWER_FRACTION,
    sequence_overhead_s: float | None = None,
    dispatch_s: float | None = None,
    onchip_j_per_bit: float = ONCHIP_J_PER_BIT,
) -> EnergyReport:
    """Predict every energy row it can at ``fraction`` and ``onchip_j_per_bit``; the rest counted
    by reason. ``sequence_overhead_s``: vLLM's per-sequence host time, ``dispatch_s``: the eager
    dispatch knob (calibration/dispatch_fit.py; None: the engine record's)."""
    from hetsim.calibration.dispatch_fit import with_dispatch

    skipped: Counter[str] = Counter()
    scores: list[EnergyScore] = []
    devices: dict[str, Device | None] = {}
    todo: list[tuple[Measurement, Device, Serving | None]] = []
    assumed: list[bool] = []
    for raw in rows:
        if raw.metric not in ENERGY_METRICS:
            continue
        r = steady_state(raw)  # a serving row at its stated running batch (calibration/steady.py)
        if r.hardware not in devices:
            base = _device(r.hardware)
            devices[r.hardware] = None if base is None else with_fraction(base, fraction, onchip_j_per_bit)
        dev = devices[r.hardware]
        why = _reason(r, dev) or (parallel_reason(r) if r.serving == STEADY else "")
        if why:
            skipped[why] += 1
            continue
        assert dev is not None
        serving = None
        if sequence_overhead_s is not None and profile_for(r.framework).name in FITTED_ENGINES:
            serving = dataclasses.replace(serving_for(r.framework), sequence_overhead_s=sequence_overhead_s)
        if dispatch_s is not None:
            serving = with_dispatch(serving or serving_for(r.framework), dispatch_s)
        todo.append((r, dev, serving))
        assumed.append(not _is_idle(raw) and (raw.input_len is None or raw.output_len is None))
    for (r, _, _), value, guessed in zip(todo, _predict_rows(todo), assumed, strict=True):
        if not np.isfinite(value):
            skipped["does_not_fit"] += 1
            continue
        scores.append(EnergyScore(r, value, role_of(r), guessed))
    return EnergyReport(tuple(scores), skipped, fraction, onchip_j_per_bit=onchip_j_per_bit)


def fit_power(
    rows: Sequence[Measurement], without: str = "", sequence_overhead_s: float | None = None,
    dispatch_s: float | None = None,
) -> tuple[float, float]:  # fmt: skip
    """The active-power fraction (in [0, 0.99]) and the on-chip energy per bit (within
    :data:`ONCHIP_BOUNDS_J_PER_BIT`) that minimise the mean squared relative error of the fit rows
    (FIT_SOURCES, FIT_METRICS), leaving out hardware ``without`` if given. Without a row of
    :data:`ONCHIP_SOURCES` left (the only large batches) the on-chip term is 0 and the fraction is
    fitted alone. Power is linear in both knobs wherever no phase throttles, so a Gauss-Newton step
    on finite differences solves it, and two more refine it. ``sequence_overhead_s``: vLLM's
    per-sequence host time the rows are priced with (None: the committed one; a fold passes its
    own, fitted without the fold's rows; ``dispatch_s`` likewise)."""
    subset = [r for r in rows if role_of(r) == "fitted" and r.hardware != without]
    if not subset:
        raise HetsimError("no energy rows in the fit subset: nothing to fit the power knobs on")
    free = [0, 1] if any(r.source_id in ONCHIP_SOURCES for r in subset) else [0]
    knobs = np.array([ACTIVE_POWER_FRACTION, ONCHIP_J_PER_BIT if 1 in free else 0.0])
    step, lo, hi = (
        np.array([0.05, 2e-12]),
        np.array([0.0, ONCHIP_BOUNDS_J_PER_BIT[0]]),
        np.array([0.99, ONCHIP_BOUNDS_J_PER_BIT[1]]),
    )

    def at(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rep = score_energy(subset, float(k[0]), sequence_overhead_s, dispatch_s, float(k[1]))
        return np.array([s.predicted for s in rep.scores]), np.array([s.row.value for s in rep.scores])

    base, y = at(knobs)
    if not len(y):
        raise HetsimError("no energy row of the fit subset can be predicted: nothing to fit on")
    for _ in range(3):
        jac = np.stack([(at(knobs + step * np.eye(2)[i])[0] - base) / step[i] for i in free], axis=1)
        delta = np.zeros(2)
        delta[free] = np.linalg.lstsq(jac / y[:, None], 1 - base / y, rcond=None)[0]
        delta = np.clip(knobs + delta, lo, hi) - knobs
        knobs = knobs + delta
        if np.all(np.abs(delta) < step * 0.05):  # 0.0025 of the fraction, 0.1 pJ/bit
            break
        base = at(knobs)[0]
    return float(knobs[0]), float(knobs[1])


def energy_report(
    paths: Sequence[str | Path] = DEFAULT_FILES, fraction: float = ACTIVE_POWER_FRACTION, folds: bool = False
) -> EnergyReport:
    # with the eager latency rows the dispatch knob is fitted on: a GPU left out refits it too
    rows, _ = read_measurements(paths, frozenset((*ENERGY_METRICS, "e2e_latency_avg")))
    rep = score_energy(rows, fraction)
    if len({s.row.hardware for s in rep.scores if s.role == "fitted"}) > 1:
        rep = dataclasses.replace(rep, leave_one_out=leave_one_gpu_out(rows))
    if folds and rep.scores:
        # the folds refit vLLM's per-sequence host time without each fold's rows: they need its
        # fit rows (steady-state ITL / throughput), not only the energy rows (without them every
        # fold kept the committed value, fitted on the fold's own rows)
        every, _ = read_measurements(paths)
        scored = {by: tuple(fold_scores(every, by)) for by in ("source", "hardware")}
        rep = dataclasses.replace(rep, folds=scored)
    return rep


def leave_one_gpu_out(rows: Sequence[Measurement]) -> dict[str, tuple[float, float, float]]:
    """For each GPU of the fit rows: (the fraction and on-chip J/bit fitted without it, the MAPE
    of its fit rows at them). The error of a GPU the knobs never saw."""
    from hetsim.calibration.dispatch_fit import dispatch_without  # it imports this module

    gpus = sorted({r.hardware for r in rows if role_of(r) == "fitted"})
    out: dict[str, tuple[float, float, float]] = {}
    for hw in gpus:
        seq = _sequence_without(rows, lambda r: r.hardware, hw)
        disp = dispatch_without(rows, lambda r: r.hardware, hw)
        a, e = fit_power(rows, without=hw, sequence_overhead_s=seq, dispatch_s=disp)
        held = [r for r in rows if role_of(r) == "fitted" and r.hardware == hw]
        out[hw] = (a, e, score_energy(held, a, seq, disp, e).mape())
    return out


def fold_scores(rows: Sequence[Measurement], by: str = "source") -> list[EnergyScore]:
    """Every energy row scored at the power knobs fitted without its fold (its source, or its
    GPU): a fold holding none of the fit rows keeps the committed knobs."""
    from hetsim.calibration.dispatch_fit import dispatch_without

    energy = [r for r in rows if r.metric in ENERGY_METRICS]

    def key(r: Measurement) -> str:
        return (r.source_id or r.file) if by == "source" else r.hardware

    out: list[EnergyScore] = []
    for k in sorted({key(r) for r in energy}):
        mine = [r for r in energy if key(r) == k]
        fitted = any(role_of(r) == "fitted" for r in mine)
        rest = [r for r in energy if key(r) != k]
        fraction, onchip = ACTIVE_POWER_FRACTION, ONCHIP_J_PER_BIT
        seq = _sequence_without(rows, key, k)
        disp = dispatch_without(rows, key, k)  # the eager dispatch's fit rows too
        if fitted and any(role_of(r) == "fitted" for r in rest):
            fraction, onchip = fit_power(rest, sequence_overhead_s=seq, dispatch_s=disp)
        scores = score_energy(mine, fraction, seq, disp, onchip).scores
        out += [dataclasses.replace(s, role=f"lo{by[0]}o") for s in scores]
    return out


def _sequence_without(
    rows: Sequence[Measurement], key: Callable[[Measurement], str], fold: str
) -> float | None:
    """vLLM's per-sequence host time refitted without ``fold``'s rows (None: the fold holds none
    of its fit rows, so the committed value is already held out for it)."""
    from hetsim.calibration.api import _known
    from hetsim.calibration.defaults import DEFAULT_SKIP_TAGS
    from hetsim.calibration.predict import plan
    from hetsim.calibration.sequence_fit import fit_sequence_overhead, sequence_row
    from hetsim.hardware.loader import get_hardware

    fit_rows = [r for r in rows if sequence_row(steady_state(r))]
    if not any(key(r) == fold for r in fit_rows):
        return None
    rest = [r for r in fit_rows if key(r) != fold]
    if not rest:
        return 0.0
    tasks, _ = plan(rest, _known, DEFAULT_SKIP_TAGS)
    devices = {t.hardware: get_hardware(t.hardware) for t in tasks}
    return fit_sequence_overhead(tasks, devices).sequence_overhead_s
