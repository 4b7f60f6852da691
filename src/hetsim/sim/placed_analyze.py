"""``analyze`` under a placement policy: choose (``auto``), evaluate, check the fit per side,
and assemble the per-side, per-link, per-op and re-map records of the result."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from hetsim.analysis.result import AnalysisResult, LinkResult, OpResult, RemapResult, SideResult, SweepResult
from hetsim.cost.roofline import Cost
from hetsim.errors import CapacityError, MappingError
from hetsim.hardware.spec import Device
from hetsim.placement.policies import check_name, fill_policy_names, get_policy, is_search, policy_names
from hetsim.placement.price import mean_placed, total
from hetsim.placement.record import Placement
from hetsim.placement.topology import route
from hetsim.sim.inference import (
    _W,
    SWEEP_METRICS,
    Options,
    Workload,
    _evaluate,
    footprint,
)
from hetsim.sim.placed import Pricer, peak_usage, split_weights
from hetsim.sim.records import fit_note, op_result, result_record, system_capacity
from hetsim.workload.dtypes import Precision
from hetsim.workload.model import ModelSpec


def _f(x: Any) -> float:
    return float(np.asarray(x, dtype=float).reshape(-1)[0])


def _mean(x: Any) -> Any:
    """Trapezoid mean over the decode contexts of an (N, K) field (scalars pass)."""
    a = np.asarray(x, dtype=float)
    return a @ _W if a.ndim >= 1 and a.shape[-1] == len(_W) else a


def _evaluate_policy(
    name: str, m: ModelSpec, dev: Device, prec: Precision, w: Workload, opts: Options, dynamic: bool,
    shared: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], list[Any], Pricer, bool]:  # fmt: skip
    """One policy's placed evaluation; ``shared`` carries what the candidates of one run
    share (the decode's kernels and offload's weight share, found once)."""
    seq = w.input_len + w.output_len
    fp = footprint(m, prec, w.batch, seq, opts, live_len=w.input_len)
    weights = split_weights(m, prec, fp, opts.tp)
    kvpt = float(fp["kv_cache"]) / (w.batch * seq)
    B, P, G = (np.array([float(x)]) for x in (w.batch, w.input_len, w.output_len))
    pricer = Pricer(name, get_policy(name), dev, prec, weights, kvpt, np.array([float(fp["activations"])]),
                    B, P, G, tp=opts.tp, overlap=opts.overlap, dynamic=dynamic, shared=shared,
                    overlap_transfers=opts.serving.overlap_transfers)  # fmt: skip
    r, pre_ops, _, dec_ops, _ = _evaluate(m, dev, prec, B, P, G, opts, pricer)
    run = pricer.run
    ok = True
    for s in range(len(dev.sides)):
        peak = peak_usage(run, s)
        ok = ok and peak <= dev.sides[s].memory.capacity_bytes * (1 + 1e-12)
    return r, [pre_ops, dec_ops], pricer, ok


def _need_line(dev: Device, pricer: Pricer) -> str:
    run = pricer.run
    parts = []
    for s, side in enumerate(dev.sides):
        need = peak_usage(run, s)
        parts.append(f"{side.name} {need / 1e9:.1f} of {side.memory.capacity_bytes / 1e9:.1f} GB")
    return ", ".join(parts)


def choose(
    policy: str, m: ModelSpec, dev: Device, prec: Precision, w: Workload, opts: Options, *,
    check_fit: bool, dynamic: bool, primary_fits: bool,
) -> tuple[str, str, tuple[dict[str, Any], list[Any], Pricer, bool]]:  # fmt: skip
    """(policy chosen, why, its evaluation)."""
    key = check_name(policy)
    if key == "oracle":
        return _oracle(m, dev, prec, w, opts, check_fit=check_fit, dynamic=dynamic)
    if key != "auto":
        ev = _evaluate_policy(key, m, dev, prec, w, opts, dynamic)
        if check_fit and not ev[3]:
            raise CapacityError(
                f"policy {key!r}: {m.name} at batch {w.batch}, {w.input_len + w.output_len} tokens "
                f"does not fit {dev.name} (needs {_need_line(dev, ev[2])}); try a smaller batch, "
                "a narrower --weight-dtype/--kv-dtype, a larger --tp, or --policy auto"
            )
        return key, "requested", ev
    if primary_fits:
        return (
            "primary",
            "auto: fits on the primary side",
            _evaluate_policy("primary", m, dev, prec, w, opts, dynamic),
        )
    tried: list[tuple[str, tuple[dict[str, Any], list[Any], Pricer, bool]]] = []
    skipped: list[str] = []
    shared: dict[str, Any] = {}
    for name in auto_candidates(dev):
        try:
            tried.append((name, _evaluate_policy(name, m, dev, prec, w, opts, dynamic, shared)))
        except MappingError as exc:
            skipped.append(f"{name} ({exc})")
    fitting = [t for t in tried if t[1][3]]
    if not fitting:
        best = tried[0] if tried else None
        need = _need_line(dev, best[1][2]) if best else ""
        if check_fit or best is None:
            raise CapacityError(
                f"{m.name} at batch {w.batch}, {w.input_len + w.output_len} tokens does not fit the "
                f"whole of {dev.name} under any policy (needs {need}); try a smaller batch, a "
                "narrower --weight-dtype/--kv-dtype or a larger --tp"
            )
        return best[0], "auto: nothing fits; reporting the first policy anyway", best[1]
    fitting.sort(key=lambda t: _f(t[1][0]["e2e_latency_s"]))
    name, ev = fitting[0]
    others = ", ".join(f"{n} {_f(e[0]['e2e_latency_s']):.3g} s" for n, e in fitting[1:])
    why = f"auto: the footprint exceeds {dev.primary.name}; {name} is the fastest that fits"
    why += f" ({_f(ev[0]['e2e_latency_s']):.3g} s end to end" + (f"; {others})" if others else ")")
    return name, why, ev


Evaluation = tuple[dict[str, Any], list[Any], Pricer, bool]


def auto_candidates(dev: Device) -> list[str]:
    """``auto``'s candidates: the closed-form policies, plus the head-aware split search
    (``split-search``: every split of qkv / attention / fc, exhaustively) where a memory side other
    than the primary has matrix units of its own (an accelerator chip, as H2M2's capacity
    side; a CPU or PIM side gets the closed-form policies only). The exhaustive search, not
    the ``h2m2`` greedy: its optimum over a feasible set that bandwidth does not change is
    never slower with more bandwidth, where the greedy's (attention first, qkv and fc counted
    on the faster memory while it does) drew more KV heads onto a faster HBM and left fc less
    room: Chinchilla-70B B=32 on h2m2, TPOT 63.2 / 64.7 / 65.5 ms at 2.25 / 3 / 4 TB/s."""
    names = fill_policy_names(for_auto=True)
    if any(u.kind == "matrix" for s in dev.sides[1:] for u in s.units):
        names.append("split-search")
    return names


def _oracle(
    m: ModelSpec, dev: Device, prec: Precision, w: Workload, opts: Options, *, check_fit: bool, dynamic: bool
) -> tuple[str, str, Evaluation]:
    """The oracle's own split search, then the fastest end to end (migration included) of it
    and every other registered policy that applies and fits: never slower than any of them."""
    tried: list[tuple[str, Evaluation]] = []
    shared: dict[str, Any] = {}
    for name in policy_names():
        if name == "auto":
            continue
        try:
            ev = _evaluate_policy(name, m, dev, prec, w, opts, dynamic, shared)
        except (MappingError, CapacityError):
            continue
        if ev[3]:
            tried.append((name, ev))
    if not tried:
        raise CapacityError(f"policy 'oracle': {m.name} at batch {w.batch} fits {dev.name} under no policy")
    tried.sort(key=lambda t: _f(t[1][0]["e2e_latency_s"]))
    best, ev = tried[0]
    ev[2].run.policy = "oracle"
    why = f"oracle: fastest of its split search and {len(tried) - 1} other policies that fit (as {best})"
    del check_fit
    return "oracle", why, ev


def _shares_text(pl: Placement | None, op: Any, dev: Device) -> tuple[str, str, str]:
    if pl is None:
        return "", "", ""
    gp = pl.group(op)
    names = [s.name for s in dev.sides]
    if gp is None:
        return (names[0] if _f(op.weight_bytes) > 0 else ""), names[pl.workspace_side], ""
    shares = [float(np.mean(np.asarray(x, dtype=float))) for x in gp.shares]
    held = [(names[s], x) for s, x in enumerate(shares) if x > 1e-9]
    has_data = _f(op.weight_bytes) > 0 or _f(op.kv_read_bytes + op.kv_write_bytes) > 0
    data = " + ".join(n if len(held) == 1 else f"{n} {x:.0%}" for n, x in held) if has_data else ""
    comp = sorted({gp.compute[s] for s, x in enumerate(shares) if x > 1e-9})
    routes = [
        route(dev, s, gp.compute[s]).text for s, x in enumerate(shares) if x > 1e-9 and gp.compute[s] != s
    ]
    return data, " + ".join(names[c] for c in comp), "; ".join(routes)


def assemble(
    base: AnalysisResult,
    dev: Device,
    pricer: Pricer,
    ops: list[Any],
    policy: str,
    why: str,
    fits: bool,
    w: Workload,
) -> AnalysisResult:
    """``base`` (the metrics) with the placement records filled in."""
    run = pricer.run
    n = len(dev.sides)
    steps = max(w.output_len - 1, 0)
    pre = total(run.prefill_costs, n)
    dec_means = [mean_placed(c, _mean) for c in run.decode_costs]  # per op, mean over the steps
    dec = total(dec_means, n)
    sides = []
    for s, side in enumerate(dev.sides):
        resident = peak_usage(run, s)
        sides.append(SideResult(
            side.name, side.memory.name, side.memory.capacity_bytes, resident,
            resident <= side.memory.capacity_bytes * (1 + 1e-12),
            _f(pre.side_bytes[s]) + steps * _f(dec.side_bytes[s]),
            _f(pre.side_busy_s[s]) + steps * _f(dec.side_busy_s[s]),
            _f(pre.side_energy_j[s]) + steps * _f(dec.side_energy_j[s]),
        ))  # fmt: skip
    names = sorted(set(pre.link_bytes) | set(dec.link_bytes))
    links = [
        LinkResult(k, _f(pre.link_bytes.get(k, 0.0)) + steps * _f(dec.link_bytes.get(k, 0.0))) for k in names
    ]
    out_ops: list[OpResult] = []
    for phase, pl, costs in (
        ("prefill", run.prefill, run.prefill_costs),
        ("decode", run.decode, dec_means),  # decode: the mean step, not the first context's
    ):
        phase_ops = ops[0] if phase == "prefill" else ops[1]
        for op, c in zip(phase_ops, costs, strict=True):
            res = op_result(op, c.cost, phase, dev)
            data, comp, rt = _shares_text(pl, op, dev)
            unit = res.unit
            if op.kind != "collective" and comp and comp != dev.sides[0].name:
                first = next(s for s in dev.sides if s.name == comp.split(" + ")[0])
                unit = first.unit_for(op.prefers).name if first.has_compute else unit
            out_ops.append(dataclasses.replace(res, unit=unit, data=data, compute=comp, route=rt))
    remaps = [RemapResult(r.step, r.context, r.change, r.migrated_bytes, r.migration_s) for r in run.remaps]
    ctx = np.asarray(w.input_len + 1 + max(steps - 1, 0) * np.linspace(0.0, 1.0, len(_W)))
    timeline = {"context": [float(x) for x in ctx]}
    for key, v in run.roles_decode.items():
        u = np.broadcast_to(np.asarray(v, dtype=float).reshape(-1), ctx.shape)
        timeline[key] = [float(x) for x in u]
    notes = [x for x in base.notes if not x.startswith("does not fit")]
    if not fits:
        notes.append(fit_note(sides))
    return dataclasses.replace(
        base, fits=fits, capacity_bytes=system_capacity(dev), ops=out_ops,
        notes=notes, policy=policy, policy_reason=why, sides=sides, links=links, remaps=remaps,
        tier_timeline=timeline,
    )  # fmt: skip


def analyze_placed(
    policy: str, m: ModelSpec, dev: Device, prec: Precision, w: Workload, opts: Options,
    fp: dict[str, Any], *, check_fit: bool, dynamic: bool,
) -> AnalysisResult:  # fmt: skip
    """The placed analysis of one configuration (see :func:`hetsim.sim.inference.analyze`)."""
    primary_fits = bool(fp["total"] <= dev.primary.memory.capacity_bytes)
    name, why, (r, ops, pricer, fits) = choose(
        policy, m, dev, prec, w, opts, check_fit=check_fit, dynamic=dynamic, primary_fits=primary_fits
    )
    run = pricer.run
    priced = (ops[0], [c.cost for c in run.prefill_costs], ops[1],
              [Cost(*(_mean(getattr(c.cost, f)) for f in Cost.__dataclass_fields__))
               for c in run.decode_costs])  # fmt: skip
    base = result_record(m, dev, prec, w, opts, fp, fits, r, priced)
    return assemble(base, dev, pricer, ops, name, why, fits, w)


def _peak_per_config(pricer: Pricer, s: int, n: int) -> Any:
    """The most side ``s`` holds in each of ``n`` configurations, shape (n,)."""
    out = np.zeros(n)
    for u in (pricer.run.usage_prefill, pricer.run.usage_decode, pricer.run.usage_end):
        a = np.asarray(u[s], dtype=float)
        a = a.max(axis=tuple(range(1, a.ndim))) if a.ndim > 1 else a
        out = np.maximum(out, np.broadcast_to(a, (n,)))
    return out


def sweep_placed(
    policy: str, m: ModelSpec, dev: Device, prec: Precision, bpg: tuple[Any, Any, Any], opts: Options,
    fp: dict[str, Any], *, dynamic: bool,
) -> SweepResult:  # fmt: skip
    """A vectorised sweep under a fill policy; ``auto`` keeps, per configuration, the fastest
    candidate that fits (the first candidate where none fits, with ``fits`` false)."""
    B, P, G = bpg
    weights = split_weights(m, prec, fp, opts.tp)
    kvpt = float(np.ravel(np.asarray(fp["kv_cache"]) / (B * (P + G)))[0])  # same for every config
    if is_search(policy):
        raise MappingError(
            f"policy {policy!r} searches priced candidates per configuration: use analyze, not sweep"
        )
    fits0 = np.asarray(fp["total"], dtype=float) <= dev.primary.memory.capacity_bytes
    names = [policy] if policy != "auto" else ["primary", *fill_policy_names(for_auto=True)]
    if policy == "auto" and not np.any(fits0):
        names = fill_policy_names(for_auto=True)  # no configuration fits the primary: skip it
    evals = []
    shared: dict[str, Any] = {}
    for name in names:
        try:
            pricer = Pricer(name, get_policy(name), dev, prec, weights, kvpt, fp["activations"], B, P, G,
                            tp=opts.tp, overlap=opts.overlap, dynamic=dynamic, shared=shared,
                            overlap_transfers=opts.serving.overlap_transfers)  # fmt: skip
            r, *_ = _evaluate(m, dev, prec, B, P, G, opts, pricer)
        except MappingError:
            if policy != "auto":
                raise
            continue
        ok = np.ones(B.shape, dtype=bool)
        for s in range(len(dev.sides)):
            ok &= _peak_per_config(pricer, s, len(B)) <= dev.sides[s].memory.capacity_bytes * (1 + 1e-12)
        evals.append((name, r, ok))
    e2e = np.stack([np.where(ok, np.asarray(r["e2e_latency_s"], dtype=float), np.inf) for _, r, ok in evals])
    with_primary = policy == "auto" and evals[0][0] == "primary"
    if with_primary:  # primary (row 0) where everything fits it; else the fastest that fits
        e2e[0] = np.inf
        first = 1 if len(evals) > 1 else 0
    else:
        first = 0
    pick = np.argmin(e2e, axis=0)
    none = ~np.isfinite(e2e.min(axis=0))
    pick = np.where(none, first, pick)
    if with_primary:
        pick = np.where(fits0, 0, pick)
    idx = np.arange(len(B))
    metrics = {
        k: np.stack([np.broadcast_to(np.asarray(r[k], dtype=float), B.shape) for _, r, _ in evals])[pick, idx]
        for k in SWEEP_METRICS
    }
    fits = np.stack([ok for _, _, ok in evals])[pick, idx]
    return SweepResult(
        model=m.name, hardware=dev.name, tp=opts.tp, batch=B, input_len=P, output_len=G,
        footprint_bytes=np.asarray(fp["total"], dtype=float), fits=fits, **metrics,
        policy=np.array([n for n, _, _ in evals])[pick],
    )  # fmt: skip
