"""The records of an analysed run (one configuration): the result built from its metrics,
with the per-side, per-link, per-op and re-map records of its placement. Every run has them,
the homogeneous one included (one side, nothing streamed, no re-map)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from hetsim.analysis.result import AnalysisResult, LinkResult, OpResult, RemapResult, SideResult
from hetsim.cost.roofline import Cost
from hetsim.hardware.spec import Device
from hetsim.placement.limits import bound_of
from hetsim.placement.policies import roles
from hetsim.placement.price import PlacedCost
from hetsim.placement.record import Placement
from hetsim.placement.topology import route
from hetsim.sim.config import Options, Workload
from hetsim.sim.placed import _W, mean_ctx, varies
from hetsim.sim.placed_run import Evaluated, contexts
from hetsim.sim.records import fit_note, op_result, result_record, system_capacity
from hetsim.workload.dtypes import Precision
from hetsim.workload.model import ModelSpec


def _f(x: Any) -> float:
    return float(np.asarray(x, dtype=float).reshape(-1)[0])


def _shares_text(pl: Placement, op: Any, dev: Device) -> tuple[str, str, str]:
    """(sides holding the op's data, sides computing it, routes of what streams) as text,
    on a device with several sides (empty on one side: everything is the primary's)."""
    if len(dev.sides) == 1:
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


def _decode_means(costs: tuple[PlacedCost, ...]) -> list[PlacedCost]:
    """Each decode op's cost, mean over the steps, for one configuration: every field that
    varies with the context averaged in one stacked trapezoid (the same sums as
    :func:`mean_ctx` field by field), the others as they are."""
    fields: list[Any] = []
    for c in costs:
        fields += [getattr(c.cost, f) for f in Cost.__dataclass_fields__]
        fields += [*c.side_bytes, *c.side_busy_s, *c.side_energy_j, *c.link_bytes.values()]
    varying = [i for i, x in enumerate(fields) if varies(x)]
    if varying:
        stacked = np.stack(
            [np.asarray(fields[i], dtype=float).reshape(len(_W), -1)[:, 0] for i in varying], 1
        )
        means = mean_ctx(stacked)
        for j, i in enumerate(varying):
            fields[i] = np.array([means[j]])
    out, k = [], 0
    for c in costs:
        nf, ns, nl = len(Cost.__dataclass_fields__), len(c.side_bytes), len(c.link_bytes)
        cost = Cost(*fields[k : k + nf])
        k += nf
        sb, sbusy, se = (tuple(fields[k + i * ns : k + (i + 1) * ns]) for i in range(3))
        k += 3 * ns
        links = dict(zip(c.link_bytes, fields[k : k + nl], strict=True))
        k += nl
        out.append(PlacedCost(cost, sb, sbusy, se, links, c.compute_sides, c.data_sides, c.limit))
    return out


def _sum(costs: list[PlacedCost], n: int) -> tuple[list[Any], list[Any], list[Any], dict[str, Any]]:
    """Per-side bytes, busy seconds and energy, and bytes per link, summed over ``costs``."""
    sb: list[Any] = [0.0] * n
    busy: list[Any] = [0.0] * n
    energy: list[Any] = [0.0] * n
    links: dict[str, Any] = {}
    for c in costs:
        for s in range(n):
            sb[s] = sb[s] + c.side_bytes[s]
            busy[s] = busy[s] + c.side_busy_s[s]
            energy[s] = energy[s] + c.side_energy_j[s]
        for k, v in c.link_bytes.items():
            links[k] = links.get(k, 0.0) + v
    return sb, busy, energy, links


def analysis_result(
    m: ModelSpec, dev: Device, prec: Precision, w: Workload, opts: Options, fp: dict[str, Any],
    ev: Evaluated, policy: str, why: str, fits: bool,
) -> AnalysisResult:  # fmt: skip
    """The result record of one evaluated configuration, with its placement records."""
    run = ev.run
    dec_means = _decode_means(run.decode.costs)  # per op, mean over the steps
    out_ops = _ops(ev, dev, dec_means)
    base = result_record(m, dev, prec, w, opts, fp, fits, ev.metrics, out_ops)
    base = dataclasses.replace(
        base,
        prefill=dataclasses.replace(
            base.prefill, limit=_phase_limit(out_ops, "prefill", _f(ev.metrics["prefill_host_bound"]))
        ),
        decode=dataclasses.replace(
            base.decode, limit=_phase_limit(out_ops, "decode", _f(ev.metrics["decode_host_bound"]))
        ),
    )
    n = len(dev.sides)
    steps = max(w.output_len - 1, 0)
    pre_b, pre_busy, pre_e, pre_l = _sum(list(run.prefill.costs), n)
    dec_b, dec_busy, dec_e, dec_l = _sum(dec_means, n)
    sides = []
    for s, side in enumerate(dev.sides):
        resident = float(run.peak_bytes(s)[0])
        sides.append(SideResult(
            side.name, side.memory.name, side.memory.capacity_bytes, resident,
            resident <= side.memory.capacity_bytes * (1 + 1e-12),
            _f(pre_b[s]) + steps * _f(dec_b[s]), _f(pre_busy[s]) + steps * _f(dec_busy[s]),
            _f(pre_e[s]) + steps * _f(dec_e[s]),
        ))  # fmt: skip
    links = [LinkResult(k, _f(pre_l.get(k, 0.0)) + steps * _f(dec_l.get(k, 0.0)))
             for k in sorted(set(pre_l) | set(dec_l))]  # fmt: skip
    remaps = [RemapResult(r.step, r.context, r.change, r.migrated_bytes, r.migration_s) for r in run.remaps]
    ctx = contexts(np.array([float(w.input_len)]), np.array([float(w.output_len)]))[:, 0]
    timeline: dict[str, list[float]] = {}
    if n > 1:  # the memory-tier timeline of a multi-tier system
        timeline["context"] = [float(x) for x in ctx]
        for key, v in roles(run.decode.problem, run.decode.placement).items():
            u = np.broadcast_to(np.asarray(v, dtype=float).reshape(-1), ctx.shape)
            timeline[key] = [float(x) for x in u]
    notes = [x for x in base.notes if not x.startswith("does not fit")]
    if not fits:
        notes.append(fit_note(sides))
    return dataclasses.replace(
        base, fits=fits, capacity_bytes=system_capacity(dev),
        notes=notes, policy=policy, policy_reason=why, sides=sides, links=links, remaps=remaps,
        tier_timeline=timeline,
    )  # fmt: skip


def _phase_limit(ops: list[OpResult], phase: str, host_bound: float) -> str:
    """What sets a phase's time: the host where it is dispatch-bound, else the op limit
    (compute unit, memory side, link) that holds the most of the phase's time."""
    if host_bound > 0.5:
        return "host (kernel dispatch)"
    share: dict[str, float] = {}
    for o in ops:
        if o.phase == phase and o.limit:
            share[o.limit] = share.get(o.limit, 0.0) + o.time_s
    return max(share, key=lambda k: share[k]) if share else ""


def _ops(ev: Evaluated, dev: Device, dec_means: list[PlacedCost]) -> list[OpResult]:
    """One record per op of each phase (decode: the mean step), with where it ran and what
    set its time (on a multi-tier system ``bound`` is that limit's class: a GEMM whose weights
    stream over a link is link-bound, not memory-bound)."""
    run = ev.run
    out: list[OpResult] = []
    for phase, pl, ops, costs in (
        ("prefill", run.prefill.placement, ev.pre_ops, list(run.prefill.costs)),
        ("decode", run.decode.placement, ev.dec_ops, dec_means),
    ):
        for op, c in zip(ops, costs, strict=True):
            res = op_result(op, c.cost, phase, dev)
            data, comp, rt = _shares_text(pl, op, dev)
            unit = res.unit
            if op.kind != "collective" and comp and comp != dev.sides[0].name:
                first = next(s for s in dev.sides if s.name == comp.split(" + ")[0])
                unit = first.unit_for(op.prefers).name if first.has_compute else unit
            bound = bound_of(c.limit) if len(dev.sides) > 1 and op.kind != "collective" else res.bound
            out.append(dataclasses.replace(res, unit=unit, data=data, compute=comp, route=rt,
                                           limit=c.limit, bound=bound or res.bound))  # fmt: skip
    return out
