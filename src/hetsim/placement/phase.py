"""Pricing of a whole phase (a list of ops) under a placement, with the device's execution model.

Op by op, :func:`hetsim.placement.price.price_op` is the one pricing path. The device's
execution model (:class:`~hetsim.hardware.spec.Execution`, from its hardware file) needs a
view wider than one op, and lives here:

- ``group_sync``: the sides that compute parts of a placed group (qkv, attention, fc) run
  the group's ops independently and meet once per layer at its end (head-parallel
  execution, H2M2 §3). The group's time is the busiest side's summed time (its memory, its
  units, a link it streams over), plus, where the group is split, one barrier and the link
  latency per layer and the exchange of the group's output (the largest share of it, over
  the route to the workspace side; both directions run at once). The barrier's length is
  the pricing knob ``barrier_s`` (:class:`~hetsim.cost.knobs.PricingKnobs`).
- ``shared_everywhere``: norms and residuals run duplicated on every side with compute;
  the slowest bounds them and each side pays its energy.

An optional TLB model (:class:`~hetsim.memory.tlb.TlbModel`) adds each side's exposed address
translation while it streams its share of a group (the paging abstraction of a run-time
mapper, h2m2.md §5); the added time is reported as ``abstraction_s``.

Per-op costs are kept, and add up to the phase time: a grouped op is charged its time on the
group's busiest side, and the group's last op also carries the rest (translation, barrier,
exchange).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from hetsim.cost.knobs import DEFAULT_KNOBS, PricingKnobs
from hetsim.cost.roofline import Cost, Overlap, op_cost
from hetsim.hardware.spec import Device
from hetsim.memory.tlb import TlbModel
from hetsim.placement.limits import Kernel
from hetsim.placement.price import PlacedCost, price_op
from hetsim.placement.record import Placement, group_of
from hetsim.placement.topology import link_bandwidth, route
from hetsim.workload.dtypes import Precision
from hetsim.workload.ops import Num, Op, ndim

if TYPE_CHECKING:
    from hetsim.placement.group_memo import GroupMemo

SYNC_GROUPS = ("qkv", "attention", "fc")


@dataclass(frozen=True, slots=True)
class PhaseCost:
    """A phase under a placement: per-op costs (they add up to ``time_s``), the time of each
    placed group (``shared`` for norms and residuals, ``collective`` for all-reduces) and the
    exposed translation time included in it. Fields may be arrays (candidates, contexts)."""

    costs: tuple[PlacedCost, ...]
    time_s: Num
    group_s: dict[str, Num]
    abstraction_s: Num = 0.0


def price_phase(
    ops: list[Op],
    dev: Device,
    prec: Precision,
    pl: Placement,
    *,
    tp: int = 1,
    overlap: Overlap = "max",
    knobs: PricingKnobs = DEFAULT_KNOBS,
    tlb: TlbModel | None = None,
    resident_bytes: tuple[Num, ...] = (),
    detail: bool = True,
    memo: GroupMemo | None = None,
    overlap_transfers: bool = True,
    totals: bool = True,
    limits: bool = False,
) -> PhaseCost:
    """Price ``ops`` under ``pl``. ``resident_bytes`` (per side) is what the TLB model
    needs (the data a side has mapped). ``memo`` (:class:`GroupMemo`, one per decode step)
    keeps each group's side-by-side price, so a placement priced before (or one row of a
    table of splits priced before) is read, not priced again. ``overlap_transfers=False``:
    an engine without prefetch (:func:`hetsim.placement.price.price_op`). Without ``totals``
    the phase time and the ungrouped ops' group times are left at 0 (a caller that sums the
    per-op costs itself). ``limits``: name what sets each op's time (an analysis's records)."""
    grouped = dev.execution.group_sync or tlb is not None
    if not overlap_transfers:
        memo = None  # the memo's tables are priced with prefetch
    buckets: dict[str, list[tuple[int, Op]]] = {}
    out: list[PlacedCost | None] = [None] * len(ops)
    group_s: dict[str, Num] = {}
    for i, op in enumerate(ops):
        g = group_of(op)
        if grouped and g in SYNC_GROUPS:
            buckets.setdefault(g, []).append((i, op))
            continue
        if g is None and memo is not None:  # norms, residuals, collectives: any placement
            pc = memo.fixed(op, dev, prec, tp, overlap, knobs, detail)
        else:
            pc = price_ungrouped(op, dev, prec, pl, tp, overlap, knobs, detail, overlap_transfers, limits)
        out[i] = pc
        key = g or ("collective" if op.kind == "collective" else "shared")
        if totals:
            group_s[key] = group_s.get(key, 0.0) + pc.cost.time_s
    abstraction: Num = 0.0
    for g, members in buckets.items():
        gops = [op for _, op in members]
        if memo is None:
            gb = busy_no_stall(g, gops, dev, prec, pl, tp=tp, overlap=overlap, knobs=knobs,
                               overlap_transfers=overlap_transfers, limits=limits)  # fmt: skip
        else:
            gb = memo.busy(g, gops, dev, prec, pl, tp, overlap, knobs)
        pcs, t, stall = _group(_with_stall(gb, tlb, resident_bytes))
        for (i, _), pc in zip(members, pcs, strict=True):
            out[i] = pc
        group_s[g] = t
        abstraction = abstraction + stall
    costs = tuple(c for c in out if c is not None)
    total: Num = 0.0
    for c in costs if totals else ():
        total = total + c.cost.time_s
    return PhaseCost(costs, total, group_s, abstraction)


def price_ungrouped(
    op: Op,
    dev: Device,
    prec: Precision,
    pl: Placement,
    tp: int,
    overlap: Overlap,
    knobs: PricingKnobs,
    detail: bool,
    overlap_transfers: bool = True,
    limits: bool = False,
) -> PlacedCost:
    """An op outside the synchronised groups (its own price_op, or duplicated everywhere)."""
    if group_of(op) is None and op.kind != "collective" and dev.execution.shared_everywhere:
        return _everywhere(op, dev, prec, overlap, knobs, limits)
    return price_op(op, dev, prec, pl, tp, overlap, detail=detail, knobs=knobs,
                    overlap_transfers=overlap_transfers, limits=limits)  # fmt: skip


def per_candidate(x: Num, pl: Placement) -> npt.NDArray[np.float64]:
    """``x`` broadcast to the candidate shape of ``pl``'s shares (a search's time array)."""
    shape = np.broadcast(*(np.asarray(s) for g in pl.groups.values() for s in g.shares)).shape
    out: npt.NDArray[np.float64] = np.broadcast_to(np.asarray(x, dtype=float), shape).astype(float)
    return out


def _everywhere(
    op: Op, dev: Device, prec: Precision, overlap: Overlap, knobs: PricingKnobs, limits: bool = False
) -> PlacedCost:
    """``op`` run duplicated on every side with compute: the slowest bounds it."""
    n = len(dev.sides)
    sides = [s for s in range(n) if dev.sides[s].has_compute]
    ovh = dev.kernel_overhead_s
    cs = [op_cost(op, knobs.unit(dev.sides[s], op), dev.sides[s].memory, prec, overhead_s=ovh,
                  overlap=overlap, wave_model=knobs.gemm_fill_rows == 0,
                  vector=dev.sides[s].unit_for("vector")) for s in sides]  # fmt: skip
    t: Num = cs[0].time_s
    for c in cs[1:]:
        t = np.maximum(t, c.time_s)
    total = Cost()
    for c in cs:
        total = total + c
    cost = replace(total, time_s=t, compute_s=np.maximum.reduce([np.asarray(c.compute_s) for c in cs]),
                   memory_s=np.maximum.reduce([np.asarray(c.memory_s) for c in cs]))  # fmt: skip
    per = {s: c for s, c in zip(sides, cs, strict=True)}
    pick = [per[s] if s in per else Cost() for s in range(n)]
    why = ""
    if limits:
        slow = max(sides, key=lambda s: float(np.mean(np.asarray(per[s].time_s))))
        why = Kernel(per[slow], dev.sides[slow].name, knobs.unit(dev.sides[slow], op).name).limit()[1]
    return PlacedCost(
        cost,
        tuple(c.bytes for c in pick),
        tuple(c.time_s for c in pick),
        tuple(c.energy_j for c in pick),
        {},
        tuple(sides),
        (),
        why,
    )


@dataclass(frozen=True, slots=True)
class GroupBusy:
    """A placed group's ops priced side by side (no exchange inside): per-op costs, each
    side's summed busy time and bytes, translation stall per side, the busiest link's time,
    and the split's synchronisation (barrier, link latency and output exchange, per layer)."""

    costs: tuple[PlacedCost, ...]
    busy_s: tuple[Num, ...]
    side_bytes: tuple[Num, ...]
    stall_s: tuple[Num, ...]
    link_s: Num
    sync_s: Num
    exchange_energy_j: Num
    exchange_links: dict[str, Num]


def group_busy(
    g: str,
    ops: list[Op],
    dev: Device,
    prec: Precision,
    pl: Placement,
    *,
    tp: int = 1,
    overlap: Overlap = "max",
    knobs: PricingKnobs = DEFAULT_KNOBS,
    tlb: TlbModel | None = None,
    resident: tuple[Num, ...] = (),
) -> GroupBusy:
    """``ops`` of group ``g`` priced side by side under ``pl``; with ``tlb`` each side's
    translation stall for what it streams (``resident``: the bytes each side has mapped)."""
    gb = busy_no_stall(g, ops, dev, prec, pl, tp=tp, overlap=overlap, knobs=knobs)
    return _with_stall(gb, tlb, resident)


def _with_stall(gb: GroupBusy, tlb: TlbModel | None, resident: tuple[Num, ...]) -> GroupBusy:
    if tlb is None or not resident:
        return gb
    stall = tuple(tlb.stall_s(nb, resident[s]) for s, nb in enumerate(gb.side_bytes))
    return replace(gb, stall_s=stall)


def busy_no_stall(
    g: str,
    ops: list[Op],
    dev: Device,
    prec: Precision,
    pl: Placement,
    *,
    tp: int = 1,
    overlap: Overlap = "max",
    knobs: PricingKnobs = DEFAULT_KNOBS,
    overlap_transfers: bool = True,
    limits: bool = False,
) -> GroupBusy:
    """The side-by-side price of a group, without translation stalls (zeros)."""
    n = len(dev.sides)
    gp = pl.groups[g]
    pcs = [price_op(op, dev, prec, pl, tp, overlap, detail=True, knobs=knobs, exchange=False,
                    overlap_transfers=overlap_transfers, limits=limits) for op in ops]  # fmt: skip
    busy: list[Num] = []
    nbytes: list[Num] = []
    for s in range(n):
        b: Num = 0.0
        nb: Num = 0.0
        for pc in pcs:
            b = b + pc.side_busy_s[s]
            nb = nb + pc.side_bytes[s]
        busy.append(b)
        nbytes.append(nb)
    link_s: Num = 0.0
    totals: dict[str, Num] = {}
    for pc in pcs:
        for k, v in pc.link_bytes.items():
            totals[k] = totals.get(k, 0.0) + v
    for k, v in totals.items():
        link_s = np.maximum(link_s, np.asarray(v) / link_bandwidth(dev, k))
    computes = sorted({gp.compute[s] for s in gp.held_sides()})
    sync: Num = 0.0
    x_energy: Num = 0.0
    x_links: dict[str, Num] = {}
    if len(computes) > 1:
        layers = ops[-1].count
        fr = [np.asarray(gp.compute_share(c), dtype=float) for c in computes]
        shape = np.broadcast(*fr).shape
        split = np.asarray(sum((f > 1e-12).astype(float) for f in fr) > 1.0, dtype=float)
        share = np.maximum.reduce([np.broadcast_to(f, shape) for f in fr])
        xbytes = split * ops[-1].act_write_bytes * share * layers  # the largest share's output
        lat = 0.0
        xt: Num = 0.0
        for c in computes:
            if c == pl.workspace_side:
                continue
            r = route(dev, c, pl.workspace_side)
            lat = max(lat, r.latency_s)
            xt = np.maximum(xt, xbytes / r.bandwidth_bytes_per_s)
            x_energy = x_energy + xbytes * 8 * r.energy_j_per_bit
            for name in r.links:
                x_links[name] = x_links.get(name, 0.0) + xbytes
        sync = split * (knobs.barrier_s + lat) * layers + xt
    return GroupBusy(tuple(pcs), tuple(busy), tuple(nbytes), (0.0,) * n, link_s, sync, x_energy, x_links)


def attribute(gb: GroupBusy, total: Num, bound_by: list[Num]) -> list[PlacedCost]:
    """Per-op costs of a group whose time is ``total``: each op its busy time on the side
    that bounds the group (the largest of ``bound_by``), the rest on the last op."""
    n = len(bound_by)
    scalar = _first_max(bound_by, gb.costs)
    bound = (
        scalar
        if scalar is not None
        else np.argmax(np.stack(np.broadcast_arrays(*[np.asarray(b, dtype=float) for b in bound_by])), axis=0)
    )
    out: list[PlacedCost] = []
    charged: Num = 0.0
    for j, pc in enumerate(gb.costs):
        if j == len(gb.costs) - 1:
            t: Num = np.asarray(total, dtype=float) - charged
            lk = dict(pc.link_bytes)
            for k, v in gb.exchange_links.items():
                lk[k] = lk.get(k, 0.0) + v
            out.append(_recost(pc, _timed(pc.cost, t, pc.cost.energy_j + gb.exchange_energy_j), lk))
            continue
        if scalar is not None:  # one candidate: the bounding side's busy time, as the sum below
            t = float(pc.side_busy_s[scalar])
        else:
            t = 0.0
            for s in range(n):
                t = t + np.where(bound == s, np.asarray(pc.side_busy_s[s], dtype=float), 0.0)
        charged = charged + t
        out.append(_recost(pc, _timed(pc.cost, t, pc.cost.energy_j), pc.link_bytes))
    return out


def _timed(c: Cost, time_s: Num, energy_j: Num) -> Cost:
    """``replace(c, time_s=time_s, energy_j=energy_j)``, built directly (called for every
    op of every priced group; ``dataclasses.replace`` introspects the fields each time)."""
    return Cost(time_s, c.compute_s, c.memory_s, c.overhead_s, energy_j, c.flop, c.bytes)


def _recost(pc: PlacedCost, cost: Cost, link_bytes: dict[str, Num]) -> PlacedCost:
    """``replace(pc, cost=cost, link_bytes=link_bytes)``, built directly."""
    return PlacedCost(cost, pc.side_bytes, pc.side_busy_s, pc.side_energy_j, link_bytes,
                      pc.compute_sides, pc.data_sides, pc.limit)  # fmt: skip


def _first_max(bound_by: list[Num], costs: tuple[PlacedCost, ...]) -> int | None:
    """The first side with the largest of ``bound_by`` (as ``np.argmax``) where every value
    is a finite scalar; None otherwise (the array path)."""
    if any(ndim(b) for b in bound_by) or any(ndim(x) for pc in costs for x in pc.side_busy_s):
        return None
    vals = [float(b) for b in bound_by]
    if not all(np.isfinite(vals)):
        return None
    return vals.index(max(vals))


def _group(gb: GroupBusy) -> tuple[list[PlacedCost], Num, Num]:
    """(per-op costs, the group's time, its exposed translation time) under group sync."""
    base: Num = gb.link_s
    with_tlb: Num = gb.link_s
    for b, x in zip(gb.busy_s, gb.stall_s, strict=True):
        base = np.maximum(base, b)
        with_tlb = np.maximum(with_tlb, b + x)
    total = with_tlb + gb.sync_s
    bound_by = [b + x for b, x in zip(gb.busy_s, gb.stall_s, strict=True)]
    return attribute(gb, total, bound_by), total, with_tlb - base
