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
from hetsim.placement.limits import Kernel, op_limit, slowest, with_latency
from hetsim.placement.record import GroupPlacement, Placement
from hetsim.placement.topology import link_bandwidth, route
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


def _acc(total: Num, x: Num) -> Num:
    """total + x, without an array copy while ``total`` is still the scalar 0."""
    if ndim(total) == 0 and float(total) == 0.0:
        return x
    return total + x


def _max(a: Num, b: Num) -> Num:
    """max(a, b), without an array copy where one side is the scalar 0 (times are >= 0)."""
    if ndim(a) == 0 and float(a) == 0.0:
        return b
    if ndim(b) == 0 and float(b) == 0.0:
        return a
    return np.maximum(a, b)


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
    link_lat: dict[str, float],
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
    n = len(dev.sides)
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
    side_bytes: list[Num] = [0.0] * n
    side_busy: list[Num] = [0.0] * n
    side_energy: list[Num] = [0.0] * n
    mem_busy: list[Num] = [0.0] * n
    links: dict[str, Num] = {}
    link_busy: dict[str, Num] = {}
    link_lat: dict[str, float] = {}
    times: list[Num] = []
    kernels: list[Kernel] = []  # what each computing side's part waited on (detail only)
    compute_s: Num = 0.0
    overhead_s: Num = 0.0
    energy: Num = 0.0
    sync: Num = 0.0
    flop: Num = 0.0

    def stream(nbytes: Num, s: int, c: int, own: dict[str, Num] | None = None) -> tuple[float, float]:
        """Charge ``nbytes`` (all repetitions) streamed from side s to side c (into ``own``:
        the link seconds of compute side c's own streams); (J/bit, latency) of the route."""
        r = route(dev, s, c)
        for name in r.links:
            bw = link_bandwidth(dev, name)
            if detail:
                links[name] = _acc(links.get(name, 0.0), nbytes)
            link_busy[name] = _acc(link_busy.get(name, 0.0), nbytes / bw)
            link_lat[name] = max(link_lat.get(name, 0.0), r.latency_s)
            if own is not None:
                own[name] = _acc(own.get(name, 0.0), nbytes / bw)
        return r.energy_j_per_bit, r.latency_s

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
        # the data streamed in to c from other sides: they keep those memories and links busy,
        # and the kernel's memory phase lasts at least as long as its slowest source
        src_s: Num = 0.0
        src: tuple[float, str] = (-1.0, "")  # the slowest stream feeding c, named (detail)
        own_links: dict[str, Num] = {}
        own_lat: dict[str, float] = {}
        for s in range(n):
            if s == c:
                continue
            parts = [x for x in _local_bytes(op, gp, kv, is_attention, s, c, frac) if ndim(x) or float(x)]
            if not parts:
                continue
            per_rep: Num = parts[0] if len(parts) == 1 else sum(parts[1:], parts[0])
            nb = per_rep * count
            mem = dev.sides[s].memory
            eff = mem.efficiency(np.maximum(per_rep, 1.0)) if mem.efficiency.values != (1.0,) else 1.0
            t_mem = nb / (mem.bandwidth_bytes_per_s * eff)
            mem_busy[s] = _acc(mem_busy[s], t_mem)
            src_s = _max(src_s, t_mem)
            if limits:
                src = slowest(src, t_mem, f"memory {dev.sides[s].name}")
            side_bytes[s] = _acc(side_bytes[s], nb)
            e_link, lat = stream(nb, s, c, own_links)  # J/bit over the route
            for name in route(dev, s, c).links:
                own_lat[name] = max(own_lat.get(name, 0.0), lat)
            if detail:
                e_mem = nb * (8 * mem.energy_j_per_bit)
                side_busy[s] = _acc(side_busy[s], t_mem)
                side_energy[s] = _acc(side_energy[s], e_mem)
            energy = _acc(energy, nb * (8 * (mem.energy_j_per_bit + e_link)))
            if pl.staged:  # written into the compute side's memory, then read from it
                home = dev.sides[c].memory
                t_home = 2 * nb / home.bandwidth_bytes_per_s
                mem_busy[c] = _acc(mem_busy[c], t_home)
                side_bytes[c] = _acc(side_bytes[c], 2 * nb)
                energy = _acc(energy, nb * (16 * home.energy_j_per_bit))
                if detail:
                    side_busy[c] = _acc(side_busy[c], t_home)
                    side_energy[c] = _acc(side_energy[c], nb * (16 * home.energy_j_per_bit))
        for name, t in own_links.items():
            src_s = _max(src_s, with_latency(t, count, own_lat[name]))
            if limits:
                src = slowest(src, with_latency(t, count, own_lat[name]), f"link {name}")
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
        energy = _acc(energy, cc.energy_j)
        flop = _acc(flop, cc.flop)
        side_bytes[c] = _acc(side_bytes[c], cc.bytes)
        if detail:
            side_busy[c] = _acc(side_busy[c], cc.time_s)
            side_energy[c] = _acc(side_energy[c], cc.energy_j)
        mem_busy[c] = _acc(mem_busy[c], cc.memory_s)
        if c != pl.workspace_side and exchange:
            xb = (op.act_read_bytes * active + op.act_write_bytes * frac) * count
            r = route(dev, c, pl.workspace_side)
            energy = energy + xb * (8 * stream(xb, c, pl.workspace_side)[0])
            sync = sync + active * count * r.latency_s + xb / r.bandwidth_bytes_per_s
    # memory_s: the busiest memory or link (a link's start-up latency per layer included)
    mem_s: Num = 0.0
    for t in mem_busy:
        mem_s = _max(mem_s, t)
    for name, t in link_busy.items():
        mem_s = _max(mem_s, with_latency(t, count, link_lat[name]))
    body: Num = mem_s
    for t in times:
        body = _max(body, t)
    if not overlap_transfers:
        body = _serial(times, mem_busy, computes, link_busy, link_lat, count)
    total_bytes: Num = 0.0
    for b in side_bytes:
        total_bytes = _acc(total_bytes, b)
    cost = Cost(
        time_s=body + sync,
        compute_s=compute_s,
        memory_s=mem_s,
        overhead_s=overhead_s,
        energy_j=energy,
        flop=flop,
        bytes=total_bytes,
    )
    data = set(gp.held_sides()) if np.any(np.asarray(op.weight_bytes) > 0) or is_attention else set()
    if not is_attention and np.any(np.asarray(_kv_bytes(op)) > 0):
        data |= set(kv.held_sides())
    why = op_limit(dev, kernels, computes, mem_busy, link_busy, link_lat, count) if limits else ""
    return PlacedCost(
        cost,
        tuple(side_bytes),
        tuple(side_busy),
        tuple(side_energy),
        links,
        tuple(computes),
        tuple(sorted(data)),
        why,
    )


def _knob_price(op: Op, dev: Device, prec: Precision, overlap: Overlap, knobs: PricingKnobs) -> Cost:
    """``price`` on the primary side with the units ``knobs`` choose."""
    kp = dev.kernels
    side = dev.primary
    ovh = kp.launch_overhead_s if kp is not None else dev.kernel_overhead_s
    return op_cost(op, knobs.unit(side, op), side.memory, prec, overhead_s=ovh, overlap=overlap,
                   kernels=kp, wave_model=knobs.gemm_fill_rows == 0,
                   vector=side.unit_for("vector"))  # fmt: skip
