"""``analyze``: one configuration's placed run under the policy asked for, or the one
:mod:`hetsim.placement.choose` picks (``auto``, ``oracle``), with its records."""

from __future__ import annotations

from typing import Any

import numpy as np

from hetsim.analysis.result import AnalysisResult
from hetsim.errors import CapacityError, MappingError
from hetsim.hardware.spec import Device
from hetsim.placement.choose import AUTO, ORACLE, auto_candidates, auto_reason, choose_auto, choose_fastest
from hetsim.placement.policies import check_name, policy_names
from hetsim.sim.config import Options, Workload
from hetsim.sim.placed_records import analysis_result
from hetsim.sim.placed_run import Evaluated, evaluate, make_pricer
from hetsim.workload.dtypes import Precision
from hetsim.workload.model import ModelSpec


def _one(w: Workload) -> tuple[Any, Any, Any]:
    return tuple(np.array([float(x)]) for x in (w.batch, w.input_len, w.output_len))  # type: ignore[return-value]


def evaluate_policy(
    name: str, m: ModelSpec, dev: Device, prec: Precision, w: Workload, opts: Options, fp: dict[str, Any],
    dynamic: bool, shared: dict[str, Any] | None = None,
) -> tuple[Evaluated, bool]:  # fmt: skip
    """One policy's run of the configuration ``w`` and whether it fits every side."""
    bpg = _one(w)
    pricer = make_pricer(name, m, dev, prec, bpg, opts, _arrays(fp), dynamic=dynamic, shared=shared)
    ev = evaluate(m, dev, prec, bpg, opts, pricer, records=True)
    return ev, bool(ev.run.fits(dev)[0])


def _arrays(fp: dict[str, Any]) -> dict[str, Any]:
    return {k: np.asarray(v, dtype=float).reshape(-1) for k, v in fp.items()}


def _need_line(dev: Device, ev: Evaluated) -> str:
    return ", ".join(
        f"{side.name} {float(ev.run.peak_bytes(s)[0]) / 1e9:.1f} of {side.memory.capacity_bytes / 1e9:.1f} GB"
        for s, side in enumerate(dev.sides)
    )


def _e2e(ev: Evaluated) -> float:
    return float(ev.metrics["e2e_latency_s"][0])


def _primary_error(m: ModelSpec, dev: Device, w: Workload, fp: dict[str, Any]) -> CapacityError:
    seq = w.input_len + w.output_len
    cap = dev.primary.memory.capacity_bytes
    more = ""
    if len(dev.sides) > 1:
        rest = " + ".join(f"{s.memory.capacity_bytes / 1e9:.0f} GB {s.name}" for s in dev.sides[1:])
        more = f" on {dev.primary.name} ({rest} unused by policy 'primary'; try --policy auto or offload)"
    return CapacityError(
        f"{m.name} at batch {w.batch}, {seq} tokens needs {float(fp['total']) / 1e9:.1f} GB per "
        f"device but {dev.name} has {cap / 1e9:.1f} GB ({cap / 2**30:.1f} GiB){more}; try a larger "
        "--tp, a smaller --weight-dtype/--kv-dtype, or a smaller batch"
    )


def choose(
    policy: str, m: ModelSpec, dev: Device, prec: Precision, w: Workload, opts: Options, fp: dict[str, Any],
    *, check_fit: bool, dynamic: bool,
) -> tuple[str, str, Evaluated, bool]:  # fmt: skip
    """(policy run, why, its evaluation, whether it fits)."""
    key = check_name(policy)
    if key == ORACLE:
        return _oracle(m, dev, prec, w, opts, fp, dynamic=dynamic)
    if key == AUTO:
        return _auto(m, dev, prec, w, opts, fp, check_fit=check_fit, dynamic=dynamic)
    ev, ok = evaluate_policy(key, m, dev, prec, w, opts, fp, dynamic)
    if check_fit and not ok:
        if key == "primary":
            raise _primary_error(m, dev, w, fp)
        raise CapacityError(
            f"policy {key!r}: {m.name} at batch {w.batch}, {w.input_len + w.output_len} tokens "
            f"does not fit {dev.name} (needs {_need_line(dev, ev)}); try a smaller batch, "
            "a narrower --weight-dtype/--kv-dtype, a larger --tp, or --policy auto"
        )
    return key, "requested", ev, ok


def _auto(
    m: ModelSpec, dev: Device, prec: Precision, w: Workload, opts: Options, fp: dict[str, Any],
    *, check_fit: bool, dynamic: bool,
) -> tuple[str, str, Evaluated, bool]:  # fmt: skip
    """``auto``: every candidate's run, the fastest that fits (:func:`choose_auto`)."""
    tried: list[tuple[str, Evaluated, bool]] = []
    shared: dict[str, Any] = {}
    for name in auto_candidates(dev):
        try:
            ev, ok = evaluate_policy(name, m, dev, prec, w, opts, fp, dynamic, shared)
        except MappingError:
            continue
        tried.append((name, ev, ok))
    if check_fit and not any(ok for _, _, ok in tried):
        if len(dev.sides) == 1:
            raise _primary_error(m, dev, w, fp)
        need = _need_line(dev, tried[min(1, len(tried) - 1)][1])
        raise CapacityError(
            f"{m.name} at batch {w.batch}, {w.input_len + w.output_len} tokens does not fit the "
            f"whole of {dev.name} under any policy (needs {need}); try a smaller batch, a "
            "narrower --weight-dtype/--kv-dtype or a larger --tp"
        )
    names = [n for n, _, _ in tried]
    times = [_e2e(ev) for _, ev, _ in tried]
    fits = [ok for _, _, ok in tried]
    k = int(choose_auto(np.array(times)[:, None], np.array(fits)[:, None])[0])
    return names[k], auto_reason(dev, names, times, fits, k), tried[k][1], fits[k]


def _oracle(
    m: ModelSpec, dev: Device, prec: Precision, w: Workload, opts: Options, fp: dict[str, Any],
    *, dynamic: bool,
) -> tuple[str, str, Evaluated, bool]:  # fmt: skip
    """The fastest end to end (migration included) of every registered policy that applies
    and fits, the oracle's own split search among them: never slower than any."""
    tried: list[tuple[str, Evaluated, bool]] = []
    shared: dict[str, Any] = {}
    for name in policy_names():
        if name == AUTO:
            continue
        try:
            ev, ok = evaluate_policy(name, m, dev, prec, w, opts, fp, dynamic, shared)
        except (MappingError, CapacityError):
            continue
        tried.append((name, ev, ok))
    times = np.array([[_e2e(ev)] for _, ev, _ in tried]).reshape(len(tried), 1)
    fits = np.array([[ok] for _, _, ok in tried], dtype=bool).reshape(len(tried), 1)
    k = int(choose_fastest(times, fits)[0]) if tried else -1
    if k < 0:
        raise CapacityError(f"policy 'oracle': {m.name} at batch {w.batch} fits {dev.name} under no policy")
    best, ev, _ = tried[k]
    n_fit = int(fits.sum())
    why = f"oracle: fastest of its split search and {n_fit - 1} other policies that fit (as {best})"
    return ORACLE, why, ev, True


def analyze_run(
    policy: str, m: ModelSpec, dev: Device, prec: Precision, w: Workload, opts: Options, fp: dict[str, Any],
    *, check_fit: bool, dynamic: bool,
) -> AnalysisResult:  # fmt: skip
    """The analysis of one configuration (see :func:`hetsim.sim.inference.analyze`)."""
    name, why, ev, fits = choose(policy, m, dev, prec, w, opts, fp, check_fit=check_fit, dynamic=dynamic)
    return analysis_result(m, dev, prec, w, opts, fp, ev, name, why, fits)
