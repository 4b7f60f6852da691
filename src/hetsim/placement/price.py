"""Pricing of one op under a placement, on any number of memory sides.

For each side ``c`` that computes part of the op, the part whose data are held on ``c`` is
priced by :func:`hetsim.cost.roofline.op_cost` on ``c``'s units and memory (the calibrated
kernel model on the primary side where the device has one, exactly as the homogeneous path).
Data held on another side ``s`` and computed on ``c`` stream over the route ``s -> c``
(:mod:`hetsim.placement.topology`) while ``c`` computes (layer-by-layer prefetch, so the
stream overlaps the compute): they keep ``s``'s memory and every link of the route busy.

  op time = max(each compute side's priced time, each memory's busy time, each link's busy
            time + route latency per repetition) + activation exchange, where a compute
            side's kernel is priced with a memory phase at least as long as its slowest
            streamed source (``op_cost(memory_floor_s=...)``): the compute overlaps the
            streams, and the launch overhead is paid once per kernel
  (an engine that does not prefetch, ``overlap_transfers=False``: the stream, i.e. the
  busiest link or streaming memory, is added to the compute sides' time instead, and the
  kernel is priced on its own memory alone)
  exchange = a compute side other than the primary receives its input activation and returns
            its output over the route to the primary (latency + bytes / bandwidth, serial)
  energy   = priced energy of each side + streamed bits x (J/bit of the tier + of every link)
            + exchanged bits x J/bit of the route

Shares may be arrays, so one call prices a sweep or every decode context at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np

from hetsim.cost.knobs import DEFAULT_KNOBS, PricingKnobs
from hetsim.cost.roofline import Cost, Overlap, op_cost, price
from hetsim.hardware.spec import Device
from hetsim.placement.limits import Kernel, op_limit, with_latency
from hetsim.placement.record import GroupPlacement, Placement
from hetsim.placement.tally import Tally, _acc, _max
from hetsim.placement.topology import route
from hetsim.placement.unique import unique_rows
from hetsim.workload.dtypes import Precision
from hetsim.workload.ops import Num, Op, ndim


@dataclass(frozen=True, slots=True)
class PlacedCost:
    """An op's (or a sum of ops') cost with where its bytes went. Fields may be arrays."""

    cost: Cost
    side_bytes: tuple[Num, ...]  # bytes read/written in each side's memory
    side_busy_s: tuple[Num, ...]  # seconds each side's memory or units are busy
    side_energy_j: tuple[Num, ...]  # dynamic energy charged to each side (compute + its memory)
    link_bytes: dict[str, Num] = field(default_factory=dict)  # bytes over each side link
    compute_sides: tuple[int, ...] = (0,)  # sides whose units run (part of) it
    data_sides: tuple[int, ...] = (0,)  # sides holding its weights / KV
    limit: str = ""  # what sets its time (placement/limits.py; records of one configuration)

    def __add__(self, other: PlacedCost) -> PlacedCost:
        links = dict(self.link_bytes)
        for k, v in other.link_bytes.items():
            links[k] = links.get(k, 0.0) + v
        return PlacedCost(
            self.cost + other.cost,
            tuple(a + b for a, b in zip(self.side_bytes, other.side_bytes, strict=True)),
            tuple(a + b for a, b in zip(self.side_busy_s, other.side_busy_s, strict=True)),
            tuple(a + b for a, b in zip(self.side_energy_j, other.side_energy_j, strict=True)),
            links,
            tuple(sorted(set(self.compute_sides) | set(other.compute_sides))),
            tuple(sorted(set(self.data_sides) | set(other.data_sides))),
            self.limit if self.limit == other.limit else "",
        )


def _collective(
    op: Op, dev: Device, prec: Precision, tp: int, overlap: Overlap, knobs: PricingKnobs, limits: bool
) -> PlacedCost:
    """An all-reduce on the interconnect (or the knobs' fitted time)."""
    zeros = (0.0,) * len(dev.sides)
    cc = price(op, dev, prec, tp, overlap)
    if knobs.allreduce_s is not None and tp > 1 and op.collective == "all_reduce":
        cc = replace(cc, time_s=knobs.allreduce_s * op.count)
    name = dev.interconnect.name if dev.interconnect is not None else "interconnect"
    return PlacedCost(cc, zeros, zeros, zeros, {}, (0,), (), f"link {name}" if limits else "")


def _on_primary(
    op: Op, dev: Device, prec: Precision, tp: int, overlap: Overlap, knobs: PricingKnobs, limits: bool
) -> PlacedCost:
    """An op held and computed on the primary: the homogeneous path's price, exactly."""
    n = len(dev.sides)
    if knobs.is_default:
        pc = unique_rows(op, lambda o: price(o, dev, prec, tp, overlap))
    else:
        pc = unique_rows(op, lambda o: _knob_price(o, dev, prec, overlap, knobs))
    held = (0,) if _any_positive(op.weight_bytes) or _any_positive(_kv_bytes(op)) else ()
    side = dev.primary
    why = Kernel(pc, side.name, side.unit_for(op.prefers).name).limit()[1] if limits else ""

    def on0(x: Num) -> tuple[Num, ...]:
        return tuple(x if s == 0 else 0.0 for s in range(n))

    return PlacedCost(pc, on0(pc.bytes), on0(pc.time_s), on0(pc.energy_j), {}, (0,), held, why)


def _kernel(
    o: Op, floor: Num, *, side: Any, unit: Any, prec: Precision, kp: Any, ovh: float, overlap: Overlap,
    knobs: PricingKnobs,
) -> Cost:  # fmt: skip
    """A computing side's part of an op on its units and memory, its memory phase at least
    ``floor`` (the streams feeding it)."""
    return op_cost(o, unit, side.memory, prec, overhead_s=ovh, overlap=overlap, kernels=kp,
                   wave_model=knobs.gemm_fill_rows == 0, memory_floor_s=floor,
                   vector=side.unit_for("vector"))  # fmt: skip


def _any_positive(x: Num) -> bool:
    return float(x) > 0 if ndim(x) == 0 else bool(np.any(np.asarray(x) > 0))


def _kv_bytes(op: Op) -> Num:
    return op.kv_read_bytes + op.kv_write_bytes


def _times(x: Num, f: Num) -> Num:
    """x * f, skipping the array work where f is a scalar 0 or 1 or x is a scalar 0."""
    if ndim(f) == 0:
        f = float(f)
        if f == 0.0:
            return 0.0
        if f == 1.0:
            return x
    if ndim(x) == 0 and float(x) == 0.0:
        return 0.0
    return x * f


def _local_bytes(
    op: Op, gp: GroupPlacement, kv: GroupPlacement, is_attention: bool, s: int, c: int, frac_c: Num
) -> tuple[Num, Num, Num]:
    """(weight, kv read, kv write) bytes per repetition held on ``s`` and used by compute ``c``."""
    own = gp.shares[s] if gp.compute[s] == c else 0.0
    if is_attention:
        return _times(op.weight_bytes, own), _times(op.kv_read_bytes, own), _times(op.kv_write_bytes, own)
    k = _times(frac_c, kv.shares[s])
    return _times(op.weight_bytes, own), _times(op.kv_read_bytes, k), _times(op.kv_write_bytes, k)


def _serial(
    times: list[Num],
    mem_busy: list[Num],
    computes: list[int],
    link_busy: dict[str, Num],
    link_lat: dict[str, Num],
    count: Num,
) -> Num:
    """An engine without prefetch: the compute sides' time (their priced time, their own
    memory's busy time) plus the stream's (the busiest link, latency included, or the busiest
    memory that only streams)."""
    local_s: Num = 0.0
    stream_s: Num = 0.0
    for t in times:
        local_s = _max(local_s, t)
    for s, t in enumerate(mem_busy):
        if s in computes:
            local_s = _max(local_s, t)
        else:
            stream_s = _max(stream_s, t)
    for name, t in link_busy.items():
        stream_s = _max(stream_s, with_latency(t, count, link_lat[name]))
    return local_s + stream_s


def price_op(
    op: Op,
    dev: Device,
    prec: Precision,
    pl: Placement,
    tp: int = 1,
    overlap: Overlap = "max",
    *,
    detail: bool = True,
    knobs: PricingKnobs = DEFAULT_KNOBS,
    exchange: bool = True,
    overlap_transfers: bool = True,
    limits: bool = False,
) -> PlacedCost:
    """Cost of all ``op.count`` repetitions of ``op`` under placement ``pl``. Without
    ``detail`` (a sweep) the per-side busy time and energy and the per-link bytes are not
    accumulated (the cost itself is the same). ``knobs`` (:mod:`hetsim.cost.knobs`) choose
    the units' rates; without ``exchange`` the activation exchange of a compute side other
    than the workspace's is left to the caller (a group-level synchronisation).
    ``overlap_transfers=False`` (an engine without prefetch) serialises each repetition's
    stream with its compute. ``limits``: name what sets the op's time (``PlacedCost.limit``,
    :mod:`hetsim.placement.limits`; an analysis's records)."""
    plain = knobs.is_default
    if op.kind == "collective":
        return _collective(op, dev, prec, tp, overlap, knobs, limits)
    gp = pl.group(op)
    kv = pl.groups["attention"] if pl.kv_writes is None else pl.kv_writes
    is_attention = op.sublayer == "attention"
    local_kv = is_attention or kv.held_sides() == (0,) or not np.any(np.asarray(_kv_bytes(op)) > 0)
    if gp is None or (gp.held_sides() == (0,) and gp.compute[0] == 0 and local_kv):
        return _on_primary(op, dev, prec, tp, overlap, knobs, limits)
    kp = dev.kernels
    count = op.count
    computes = sorted({gp.compute[s] for s in gp.held_sides()})
    tally = Tally.of(dev, detail)
    times: list[Num] = []
    kernels: list[Kernel] = []  # what each computing side's part waited on (detail only)
    compute_s: Num = 0.0
    overhead_s: Num = 0.0
    sync: Num = 0.0
    flop: Num = 0.0
    for c in computes:
        frac = gp.compute_share(c)
        whole = ndim(frac) == 0 and float(frac) == 1.0  # every part computed here
        active: Num = 1.0 if whole else np.asarray(np.asarray(frac) > 0, dtype=float)
        w, kr, kw = _local_bytes(op, gp, kv, is_attention, c, c, frac)
        part = replace(
            op,
            flop=op.flop if whole else op.flop * frac,
            weight_bytes=w,
            kv_read_bytes=kr,
            kv_write_bytes=kw,
            act_read_bytes=op.act_read_bytes if whole else op.act_read_bytes * active,
            act_write_bytes=op.act_write_bytes if whole else op.act_write_bytes * frac,
            gemm_n=op.gemm_n * frac if op.kind == "gemm" and not whole else op.gemm_n,
        )
        src_s, src = tally.stream_in(
            partial(_local_bytes, op, gp, kv, is_attention, c=c, frac_c=frac), c, count, pl.staged, limits
        )
        side = dev.sides[c]
        kpc = kp if c == 0 else None
        ovh = kpc.launch_overhead_s if kpc is not None else dev.kernel_overhead_s
        overlapped = overlap_transfers and not pl.staged  # the stream runs under the kernel
        floor = src_s / count if overlapped and not (ndim(src_s) == 0 and float(src_s) == 0.0) else 0.0
        unit = side.unit_for(op.prefers) if plain else knobs.unit(side, op)
        cc = unique_rows(part, partial(_kernel, side=side, unit=unit, prec=prec, kp=kpc, ovh=ovh,
                                       overlap=overlap, knobs=knobs), floor)  # fmt: skip
        if not whole:
            cc = cc.scale(active)
        times.append(cc.time_s)
        if limits:
            kernels.append(Kernel(cc, side.name, unit.name, src_s, src[1]))
        compute_s = _max(compute_s, cc.compute_s)
        overhead_s = _max(overhead_s, cc.overhead_s)
        tally.energy = _acc(tally.energy, cc.energy_j)
        flop = _acc(flop, cc.flop)
        tally.side_bytes[c] = _acc(tally.side_bytes[c], cc.bytes)
        if detail:
            tally.side_busy[c] = _acc(tally.side_busy[c], cc.time_s)
            tally.side_energy[c] = _acc(tally.side_energy[c], cc.energy_j)
        tally.mem_busy[c] = _acc(tally.mem_busy[c], cc.memory_s)
        if c != pl.workspace_side and exchange:
            xb = (op.act_read_bytes * active + op.act_write_bytes * frac) * count
            r = route(dev, c, pl.workspace_side)
            tally.energy = tally.energy + xb * (8 * tally.stream(xb, c, pl.workspace_side)[0])
            sync = sync + active * count * r.latency_s + xb / r.bandwidth_bytes_per_s
    mem_s = tally.memory_s(count)
    body: Num = mem_s
    for t in times:
        body = _max(body, t)
    if not overlap_transfers:
        body = _serial(times, tally.mem_busy, computes, tally.link_busy, tally.link_lat, count)
    cost = Cost(time_s=body + sync, compute_s=compute_s, memory_s=mem_s, overhead_s=overhead_s,
                energy_j=tally.energy, flop=flop, bytes=tally.total_bytes())  # fmt: skip
    data = set(gp.held_sides()) if np.any(np.asarray(op.weight_bytes) > 0) or is_attention else set()
    if not is_attention and np.any(np.asarray(_kv_bytes(op)) > 0):
        data |= set(kv.held_sides())
    why = (
        op_limit(dev, kernels, computes, tally.mem_busy, tally.link_busy, tally.link_lat, count)
        if limits
        else ""
    )
    return PlacedCost(cost, tuple(tally.side_bytes), tuple(tally.side_busy), tuple(tally.side_energy),
                      tally.links, tuple(computes), tuple(sorted(data)), why)  # fmt: skip


def _knob_price(op: Op, dev: Device, prec: Precision, overlap: Overlap, knobs: PricingKnobs) -> Cost:
    """``price`` on the primary side with the units ``knobs`` choose."""
    kp = dev.kernels
    side = dev.primary
    ovh = kp.launch_overhead_s if kp is not None else dev.kernel_overhead_s
    return op_cost(op, knobs.unit(side, op), side.memory, prec, overhead_s=ovh, overlap=overlap,
                   kernels=kp, wave_model=knobs.gemm_fill_rows == 0,
                   vector=side.unit_for("vector"))  # fmt: skip
