"""Roofline pricing with size-dependent efficiency, per-kernel overhead and an explicit
overlap policy.

time   = overlap(flop / (peak x eff_c), bytes / (bandwidth x eff_m)) + kernel overhead
energy = flop x J/flop(unit, dtype) + bits moved x J/bit(tier)      (dynamic part only;
         static power x time is added by the simulator, once per device)
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

import numpy as np

from hetsim.hardware.spec import ComputeUnit, Device, Link, MemoryTier
from hetsim.workload.dtypes import DType, Precision
from hetsim.workload.ops import Num, Op

Overlap = Literal["max", "sum"]


@dataclass(frozen=True, slots=True)
class Cost:
    """Time (s), energy (J) and work of one op or a sum of ops. Fields may be arrays."""

    time_s: Num = 0.0
    compute_s: Num = 0.0
    memory_s: Num = 0.0
    overhead_s: Num = 0.0
    energy_j: Num = 0.0
    flop: Num = 0.0
    bytes: Num = 0.0

    def __add__(self, other: Cost) -> Cost:
        return Cost(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def scale(self, k: Num) -> Cost:
        return Cost(*(getattr(self, f.name) * k for f in fields(self)))

    @property
    def bound(self) -> str:
        """'compute' or 'memory' (for scalar costs)."""
        return "compute" if float(np.max(self.compute_s)) >= float(np.max(self.memory_s)) else "memory"


def gemm_wave_efficiency(unit: ComputeUnit, m: Num, n: Num) -> Num:
    """Fraction of the unit's cores doing useful tiles: tiles / (waves x cores). 1.0 when the
    unit has no tile/wave description."""
    tm, tn = unit.tile_mn
    if unit.n_parallel <= 0 or tm <= 0 or tn <= 0:
        return 1.0
    tiles = np.ceil(np.maximum(m, 1) / tm) * np.ceil(np.maximum(n, 1) / tn)
    waves = np.ceil(tiles / unit.n_parallel)
    eff: Num = tiles / (waves * unit.n_parallel)
    return eff


def compute_dtype(op: Op, prec: Precision) -> DType:
    if op.kind == "gemm":
        return prec.compute
    if op.kind == "attention":
        a, k = prec.activation, prec.kv
        return a if a.bits >= k.bits else k
    return prec.activation


def op_cost(
    op: Op,
    unit: ComputeUnit,
    memory: MemoryTier,
    prec: Precision,
    *,
    overhead_s: float = 0.0,
    overlap: Overlap = "max",
    wave_model: bool = True,
) -> Cost:
    """Cost of all ``op.count`` repetitions of ``op`` on ``unit`` reading ``memory``."""
    dt = compute_dtype(op, prec)
    eff_c = unit.efficiency(op.flop)
    if wave_model and op.kind == "gemm":
        eff_c = eff_c * gemm_wave_efficiency(unit, op.gemm_m, op.gemm_n)
    nbytes = op.bytes
    compute_s = op.flop / (unit.peak(dt) * eff_c)
    memory_s = nbytes / (memory.bandwidth_bytes_per_s * memory.efficiency(nbytes))
    body = np.maximum(compute_s, memory_s) if overlap == "max" else compute_s + memory_s
    energy = op.flop * unit.energy_per_flop(dt) + nbytes * 8 * memory.energy_j_per_bit
    n = op.count
    return Cost(
        time_s=(body + overhead_s) * n,
        compute_s=compute_s * n,
        memory_s=memory_s * n,
        overhead_s=overhead_s * n,
        energy_j=energy * n,
        flop=op.flop * n,
        bytes=nbytes * n,
    )


def collective_cost(op: Op, link: Link | None, tp: int) -> Cost:
    """Ring all-reduce of ``op.act_read_bytes`` over ``tp`` devices: alpha + 2(p-1)/p x
    bytes / bandwidth (each device sends and receives that much)."""
    if tp <= 1 or link is None:
        return Cost()
    wire = 2 * (tp - 1) / tp * op.act_read_bytes
    t = link.latency_s + wire / link.bandwidth_bytes_per_s
    n = op.count
    return Cost(
        time_s=t * n,
        memory_s=(wire / link.bandwidth_bytes_per_s) * n,
        overhead_s=link.latency_s * n,
        energy_j=wire * 8 * link.energy_j_per_bit * n,
        bytes=wire * n,
    )


def price(op: Op, device: Device, prec: Precision, tp: int = 1, overlap: Overlap = "max") -> Cost:
    """Price ``op`` on the device's primary side (collectives on its interconnect)."""
    if op.kind == "collective":
        return collective_cost(op, device.interconnect, tp)
    side = device.primary
    return op_cost(
        op, side.unit_for(op.prefers), side.memory, prec, overhead_s=device.kernel_overhead_s, overlap=overlap
    )
