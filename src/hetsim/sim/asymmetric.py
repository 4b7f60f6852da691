"""One decode iteration on an asymmetric system under a mapping, and on the reference systems
(a single shared memory pool; a tensor-parallel group of single-side devices).

Partitioned mappings are priced from the split tables (per sublayer: the slower side plus the
barrier and exchange); the abstraction overhead of paging (TLB misses, :class:`TlbModel`) is
added to each side's share when asked. A hierarchical mapping runs everything on the fast
side's chip, reading a ``hit_fraction`` of the bytes from fast memory and staging the rest in
from the capacity side before use.
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


def _total(costs: list[Cost]) -> Cost:
    out = Cost()
    for c in costs:
        out = out + c
    return out


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
    body = _total([*costs.values(), shared])
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
    """A cache that keeps ``resident`` x its capacity of the data resident across
    iterations: hit fraction min(1, resident x capacity / footprint)."""
    return float(min(1.0, resident * capacity_bytes / max(footprint_bytes, 1.0)))


def evaluate_hierarchical(
    work: DecodeWork,
    device: Device,
    prec: Precision,
    opts: PartitionOptions,
    hit_fraction: float,
) -> IterationCost:
    """The fast memory caches the capacity memory; the fast side's chip computes everything.
    Misses are staged in (capacity memory -> link -> fast memory) while the kernel reads the
    fast memory: memory time = max((bytes + missed) / fast bw, missed / min(slow bw, link))."""
    if not 0 <= hit_fraction <= 1:
        raise ConfigError("hit fraction must be in [0, 1]")
    if len(device.sides) < 2 or device.side_link is None:
        raise ConfigError(f"hardware {device.name!r}: a hierarchy needs two sides and a link")
    fast, slow = device.sides[0], device.sides[1]
    miss = 1.0 - hit_fraction
    bw_f = fast.memory.bandwidth_bytes_per_s
    bw_in = min(slow.memory.bandwidth_bytes_per_s, device.side_link.bandwidth_bytes_per_s)
    per_byte_s = max((1.0 + miss) / bw_f, miss / bw_in)
    eff_mem = replace(fast.memory, bandwidth_bytes_per_s=1.0 / per_byte_s)
    costs = {s.name: side_cost(s, fast, prec, s.n_parts, opts, memory=eff_mem) for s in work.sublayers}
    body = _total([*costs.values(), shared_cost(work, fast, prec)])
    nbytes = _f(body.bytes)
    moved = nbytes * miss
    e_f, e_s = fast.memory.energy_j_per_bit, slow.memory.energy_j_per_bit
    e_link = device.side_link.energy_j_per_bit
    mem_e = 8 * (nbytes * e_f + moved * (e_s + e_link + e_f))
    dyn = _f(body.energy_j) - 8 * nbytes * eff_mem.energy_j_per_bit + mem_e
    fp = work.footprint_bytes
    res_f = min(fp, fast.memory.capacity_bytes)
    return IterationCost(
        time_s=_f(body.time_s),
        energy_j=dyn,
        memory_energy_j=mem_e,
        side_bytes=(nbytes + moved, moved),
        link_bytes=moved,
        resident_bytes=(res_f, fp),
        sublayer_s={k: _f(v.time_s) for k, v in costs.items()},
    )
