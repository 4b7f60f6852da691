"""One decode iteration on an asymmetric system under a mapping, and on the reference systems
(a single shared memory pool; a tensor-parallel group of single-side devices).

Partitioned mappings are priced from the split tables (per sublayer: the slower side plus the
barrier and exchange); the abstraction overhead of paging (TLB misses, :class:`TlbModel`) is
added to each side's share when asked. A hierarchical mapping reads everything from the fast
memory, a ``hit_fraction`` of it resident and the rest staged in from the capacity side before
use; the fast side's chip computes, and optionally the capacity side's chip too, fed from the
fast memory over the side link.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from hetsim.cost.partition import (
    DecodeWork,
    PartitionOptions,
    SplitTables,
    shared_cost,
    side_cost,
)
from hetsim.cost.roofline import Cost
from hetsim.errors import ConfigError
from hetsim.hardware.spec import Device
from hetsim.mapping.registry import Mapping
from hetsim.memory.tlb import TlbModel
from hetsim.workload.dtypes import Precision


@dataclass(frozen=True, slots=True)
class IterationCost:
    """One decode iteration (all decoder layers). Bytes are moved bytes, per side."""

    time_s: float
    energy_j: float  # dynamic: compute + memory access + link (no static power)
    memory_energy_j: float  # memory access + link only (per-bit), no static term
    side_bytes: tuple[float, ...]  # bytes read/written per memory side (per device)
    link_bytes: float
    resident_bytes: tuple[float, ...]  # footprint held per side
    sublayer_s: dict[str, float]
    abstraction_s: float = 0.0  # exposed TLB time included in time_s


def _f(x: object) -> float:
    return float(np.asarray(x))


def _at(x: object, n: int) -> float:
    """Element ``n`` of a per-split table field (``Cost`` fields are typed float | array)."""
    return float(np.asarray(x)[n])


def evaluate_partitioned(
    tables: SplitTables, mapping: Mapping, device: Device, tlb: TlbModel | None = None
) -> IterationCost:
    """Time and energy of a partitioned ``mapping`` priced by ``tables``."""
    if mapping.mode != "partitioned":
        raise ConfigError("evaluate_partitioned needs a partitioned mapping")
    e_f, e_s = (s.memory.energy_j_per_bit for s in device.sides)
    e_link = device.side_link.energy_j_per_bit if device.side_link else 0.0
    res_f = sum(_f(t.fast_bytes[n]) for t, n in zip(tables.tables, mapping.splits, strict=True))
    res_s = sum(_f(t.slow_bytes[n]) for t, n in zip(tables.tables, mapping.splits, strict=True))
    total = tables.fixed_s
    energy = mem_e = link = bf = bs = abstraction = 0.0
    per: dict[str, float] = {}
    for t, n in zip(tables.tables, mapping.splits, strict=True):
        tf, ts = _at(t.fast.time_s, n), _at(t.slow.time_s, n)
        fb, sb = _at(t.fast.bytes, n), _at(t.slow.bytes, n)
        if tlb is not None:
            xf, xs = _f(tlb.stall_s(fb, res_f)), _f(tlb.stall_s(sb, res_s))
            base = max(tf, ts)
            tf, ts = tf + xf, ts + xs
            abstraction += max(tf, ts) - base
        step = max(tf, ts) + _f(t.sync_s[n])
        per[t.name] = step
        total += step
        lb = _f(t.link_bytes[n])
        link += lb
        bf, bs = bf + fb, bs + sb
        energy += _at(t.fast.energy_j, n) + _at(t.slow.energy_j, n) + lb * 8 * e_link
        mem_e += (fb * e_f + sb * e_s + lb * e_link) * 8
    return IterationCost(total, energy, mem_e, (bf, bs), link, (res_f, res_s), per, abstraction)


def evaluate_single(
    work: DecodeWork,
    device: Device,
    prec: Precision,
    opts: PartitionOptions,
    *,
    tp: int = 1,
    allreduce_s: float | None = None,
) -> IterationCost:
    """Everything on the primary side of each of ``tp`` devices (``work`` built for that
    ``tp``); two all-reduces per layer when ``tp`` > 1, each ``allreduce_s`` or priced on
    the interconnect (latency + ring traffic)."""
    side = device.primary
    costs = {s.name: side_cost(s, side, prec, s.n_parts, opts) for s in work.sublayers}
    shared = shared_cost(work, side, prec)
    body = sum([*costs.values(), shared], Cost())
    time = _f(body.time_s)
    comm_bytes = 0.0
    n_layers = work.sublayers[0].n_layers
    if tp > 1:
        ic = device.interconnect
        act = work.batch * _d_model(work) * prec.activation.bytes_per_element
        comm_bytes = 2 * (tp - 1) / tp * act * 2 * n_layers  # ring traffic, per device
        if allreduce_s is None:
            bw = ic.bandwidth_bytes_per_s if ic else np.inf
            lat = ic.latency_s if ic else 0.0
            allreduce_s = lat + 2 * (tp - 1) / tp * act / bw
        time += 2 * n_layers * allreduce_s
    e_bit = side.memory.energy_j_per_bit
    e_link = device.interconnect.energy_j_per_bit if device.interconnect else 0.0
    nbytes = _f(body.bytes)
    per = {k: _f(v.time_s) for k, v in costs.items()}
    return IterationCost(
        time_s=time,
        energy_j=tp * (_f(body.energy_j) + comm_bytes * 8 * e_link),
        memory_energy_j=tp * (nbytes * e_bit + comm_bytes * e_link) * 8,
        side_bytes=(nbytes * tp,),
        link_bytes=comm_bytes * tp,
        resident_bytes=(work.footprint_bytes * tp,),
        sublayer_s=per,
    )


def _d_model(work: DecodeWork) -> float:
    fc = work.sub("fc").ops[-1]  # ffn_down writes (T, d_model)
    return float(fc.act_write_bytes) / work.batch


def hit_fraction_strict(footprint_bytes: float, capacity_bytes: float) -> float:
    """A strict cache with a reuse distance of the whole model: all hits when everything
    fits, none otherwise (h2m2.md §6)."""
    return 1.0 if footprint_bytes <= capacity_bytes else 0.0


def hit_fraction_resident(footprint_bytes: float, capacity_bytes: float, resident: float) -> float:
    """A cache that holds everything when the footprint fits (all hits, as the strict cache)
    and otherwise keeps ``resident`` x its capacity of the stream resident across iterations
    (the rest thrashes): hit fraction resident x capacity / footprint."""
    if footprint_bytes <= capacity_bytes:
        return 1.0
    return float(min(1.0, resident * capacity_bytes / max(footprint_bytes, 1.0)))


def evaluate_hierarchical(
    work: DecodeWork,
    device: Device,
    prec: Precision,
    opts: PartitionOptions,
    hit_fraction: float,
    chips: int = 1,
) -> IterationCost:
    """The fast memory caches the capacity memory: every byte a kernel reads comes from fast
    memory, a ``1 - hit_fraction`` share of it staged in first (capacity memory -> link ->
    fast memory). With ``chips=1`` the fast side's chip computes everything; with ``chips=2``
    the capacity side's chip computes too, reading its share of each sublayer's parts from
    fast memory over the side link (the opposite link direction from the staging), and each
    sublayer is split between the chips at the best head split (barrier and exchange as in a
    partitioned mapping). Per sublayer, time = max(each chip's compute/read time, fast-memory
    traffic (bytes + staged) / fast bw, staged / capacity bw) + sync."""
    if not 0 <= hit_fraction <= 1:
        raise ConfigError("hit fraction must be in [0, 1]")
    if len(device.sides) < 2 or device.side_link is None:
        raise ConfigError(f"hardware {device.name!r}: a hierarchy needs two sides and a link")
    if chips not in (1, 2):
        raise ConfigError("a hierarchy computes on 1 or 2 chips")
    fast, slow = device.sides[0], device.sides[1]
    link = device.side_link
    miss = 1.0 - hit_fraction
    bw_f = fast.memory.bandwidth_bytes_per_s
    bw_s = slow.memory.bandwidth_bytes_per_s
    if chips == 1:
        bw_in = min(bw_s, link.bandwidth_bytes_per_s)
        per_byte_s = max((1.0 + miss) / bw_f, miss / bw_in)
        eff_mem = replace(fast.memory, bandwidth_bytes_per_s=1.0 / per_byte_s)
        costs = {s.name: side_cost(s, fast, prec, s.n_parts, opts, memory=eff_mem) for s in work.sublayers}
        per = {k: _f(v.time_s) for k, v in costs.items()}
        body = sum([*costs.values(), shared_cost(work, fast, prec)], Cost())
        time, nbytes, link_x = _f(body.time_s), _f(body.bytes), 0.0
        e_compute = _f(body.energy_j) - 8 * nbytes * eff_mem.energy_j_per_bit
    else:
        far = replace(fast.memory, bandwidth_bytes_per_s=min(bw_f, link.bandwidth_bytes_per_s))
        shared = shared_cost(work, fast, prec)
        time, nbytes, link_x, e_compute = _f(shared.time_s), _f(shared.bytes), 0.0, 0.0
        e_compute += _f(shared.energy_j) - 8 * _f(shared.bytes) * fast.memory.energy_j_per_bit
        per = {}
        for s in work.sublayers:
            N = s.n_parts
            n = np.arange(N + 1, dtype=float)
            c0 = side_cost(s, fast, prec, n, opts)
            c1 = side_cost(s, slow, prec, N - n, opts, memory=far)
            b = np.asarray(c0.bytes) + np.asarray(c1.bytes)
            split = (n > 0) & (n < N)
            xb = np.where(split, s.output_bytes * np.maximum(n, N - n) / N, 0.0) * s.n_layers
            sync = np.where(split, opts.barrier_s + link.latency_s, 0.0) * s.n_layers
            sync = sync + xb / link.bandwidth_bytes_per_s
            t = np.maximum.reduce([np.asarray(c0.time_s), np.asarray(c1.time_s),
                                   b * (1.0 + miss) / bw_f, b * miss / bw_s]) + sync  # fmt: skip
            k = int(np.argmin(t))
            per[s.name] = float(t[k])
            time += float(t[k])
            nbytes += float(b[k])
            link_x += float(np.asarray(c1.bytes)[k]) + float(xb[k])
            e_compute += float(np.asarray(c0.energy_j)[k]) + float(np.asarray(c1.energy_j)[k])
            e_compute -= 8 * float(np.asarray(c0.bytes)[k]) * fast.memory.energy_j_per_bit
            e_compute -= 8 * float(np.asarray(c1.bytes)[k]) * far.energy_j_per_bit
    moved = nbytes * miss
    e_f, e_s = fast.memory.energy_j_per_bit, slow.memory.energy_j_per_bit
    e_link = link.energy_j_per_bit
    mem_e = 8 * (nbytes * e_f + moved * (e_s + e_link + e_f) + link_x * e_link)
    fp = work.footprint_bytes
    res_f = min(fp, fast.memory.capacity_bytes)
    return IterationCost(
        time_s=time,
        energy_j=e_compute + mem_e,
        memory_energy_j=mem_e,
        side_bytes=(nbytes + moved, moved),
        link_bytes=moved + link_x,
        resident_bytes=(res_f, fp),
        sublayer_s=per,
    )
