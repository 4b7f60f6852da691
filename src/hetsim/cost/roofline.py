"""Roofline pricing with size-dependent efficiency, per-kernel overhead and an explicit
overlap policy.

time   = overlap(flop / (peak x eff_c), bytes / (bandwidth x eff_m)) + kernel overhead
energy = flop x J/flop(unit, dtype) + bits moved x J/bit(tier)      (dynamic part only;
         idle power, the active floor and the board's power limit are cost/power.py's)
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

import numpy as np

from hetsim.cost.collectives import Fabric, all_reduce, all_to_all
from hetsim.cost.kernels import kernel_times
from hetsim.cost.power import onchip_j_per_bit
from hetsim.cost.weight_only import weight_only_times
from hetsim.errors import ConfigError
from hetsim.hardware.kernels import KernelParams
from hetsim.hardware.spec import ComputeUnit, Device, Link, MemoryTier
from hetsim.workload.dtypes import DType, Precision, dtype
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


def gemm_wave_efficiency(unit: ComputeUnit, m: Num, n: Num, k: Num | None = None, groups: Num = 1.0) -> Num:
    """Fraction of the unit's cores doing useful work on ``groups`` M x N (x K) GEMMs of one
    grouped kernel (MoE experts share the waves): useful tile area
    / (waves x cores x tile area), for the best of the unit's tile and its halves, with
    split-K (K cut into up to cores // tiles parts of at least 256) when ``k`` is given and
    one wave under-fills the cores. 1.0 when the unit has no tile/wave description."""
    tm0, tn0 = unit.tile_mn
    cores = unit.n_parallel
    if cores <= 0 or tm0 <= 0 or tn0 <= 0:
        return 1.0
    m = np.maximum(np.asarray(m, dtype=float), 1.0)
    n = np.maximum(np.asarray(n, dtype=float), 1.0)
    g = np.maximum(np.asarray(groups, dtype=float), 1.0)
    best: Num = np.zeros(np.broadcast(m, n, g).shape)
    for tm, tn in {
        (tm0, tn0),
        (max(tm0 // 2, 16), tn0),
        (tm0, max(tn0 // 2, 16)),
        (max(tm0 // 2, 16), max(tn0 // 2, 16)),
    }:
        tiles = g * np.ceil(m / tm) * np.ceil(n / tn)
        s = (
            1.0
            if k is None
            else np.clip(np.floor(cores / tiles), 1.0, np.maximum(np.floor(np.asarray(k) / 256), 1.0))
        )
        waves = np.ceil(tiles * s / cores)
        # a smaller tile re-reads its operands more often: weight it by its edge cost
        edge = (1 / tm0 + 1 / tn0) / (1 / tm + 1 / tn)
        best = np.maximum(best, g * m * n * s / (waves * cores * tm * tn) * edge)
    out: Num = np.minimum(best, 1.0)
    return out if np.ndim(out) else float(out)


def compute_dtype(op: Op, prec: Precision) -> DType:
    if op.kind == "gemm":
        return prec.compute
    if op.kind == "attention":
        a, k = prec.activation, prec.kv
        return a if a.bits >= k.bits else k
    return prec.activation


def reference_factors(ops: list[Op], unit: ComputeUnit, prec: Precision) -> list[float]:
    """Per op, the weight of its flop in a phase's flop counted against the reference rate
    ``unit.peak(prec.compute)`` that its MFU is measured against: an op whose data type runs
    faster than the reference (bf16 attention beside fp32 GEMMs) counts flop x reference / its
    own rate, so a utilisation never exceeds 1 (it came out 1.08 for an attention-heavy prefill
    with fp32 weights and bf16 activations). Other ops weigh 1."""
    ref = unit.peak(prec.compute)
    return [
        min(1.0, ref / unit.peak(compute_dtype(op, prec))) if op.kind in ("gemm", "attention") else 1.0
        for op in ops
    ]


def op_cost(
    op: Op,
    unit: ComputeUnit,
    memory: MemoryTier,
    prec: Precision,
    *,
    overhead_s: float = 0.0,
    overlap: Overlap = "max",
    wave_model: bool = True,
    kernels: KernelParams | None = None,
    memory_floor_s: Num = 0.0,
    vector: ComputeUnit | None = None,
) -> Cost:
    """Cost of all ``op.count`` repetitions of ``op`` on ``unit`` reading ``memory``. With
    calibrated ``kernels`` the op is priced by :mod:`hetsim.cost.kernels` (tile/wave choice,
    split-K, per-class bandwidth, kernel latency, smooth overlap); otherwise by the datasheet
    roofline with the unit's and tier's efficiency curves. ``memory_floor_s`` (per repetition)
    is the least the op's memory phase takes: data streamed in from another memory side while
    the kernel runs (a placed op) arrive no faster, and the compute overlaps them as it
    overlaps its own memory's reads; the launch overhead and fixed latency are paid once.
    A weight-only GEMM (weights narrower than its 16-bit inputs) is priced by
    :mod:`hetsim.cost.weight_only`: the dequantisation runs on ``vector`` (the side's vector
    unit; None: ``unit`` itself)."""
    dt = compute_dtype(op, prec)
    nbytes = op.bytes
    if kernels is not None:
        compute_s, memory_s, body = kernel_times(
            op,
            unit,
            memory,
            unit.peak(dt),
            kernels,
            memory_floor_s,
            narrow=op.kind == "gemm" and dt.bits <= 8,
        )
    else:
        # the size ramp is read at the work the cores actually do (tiles padded to whole
        # waves), so a GEMV padded to one tile row costs what the padded tile costs
        work = op.flop
        if wave_model and op.kind == "gemm":
            work = op.flop / gemm_wave_efficiency(unit, op.gemm_m, op.gemm_n, op.gemm_k, op.gemm_groups)
        compute_s = work / (unit.peak(dt) * unit.efficiency(work))
        memory_s = nbytes / (memory.bandwidth_bytes_per_s * memory.efficiency(nbytes))
        pim = memory.dram
        if pim is not None and pim.gemv and op.kind == "attention" and op.head_dim:
            # a PIM computing attention as per-sequence GEMVs, command by command
            kv_heads = max(1, round(op.n_parts))
            memory_s = np.maximum(memory_s, pim.attention_s(op.seqs, op.kv_read_bytes, kv_heads, op.head_dim,
                                                             prec.kv.bytes_per_element))  # fmt: skip
        if not (np.ndim(memory_floor_s) == 0 and float(memory_floor_s) == 0.0):
            memory_s = np.maximum(memory_s, memory_floor_s)
        body = np.maximum(compute_s, memory_s) if overlap == "max" else compute_s + memory_s
    # each bit also crosses the chip to the cores (cost/power.py::ONCHIP_J_PER_BIT)
    per_bit_j = memory.energy_j_per_bit + onchip_j_per_bit(kernels)
    energy = op.flop * unit.energy_per_flop(dt) + nbytes * 8 * per_bit_j
    if (
        op.kind == "gemm"
        and prec.weight_only
        and op.gemm_k
        and (op.sublayer != "lm_head" or prec.quantized_head)
    ):
        vec = vector or unit
        compute_s, memory_s, body, lane_ops = weight_only_times(
            op, unit, vec, memory, prec, kernels, (compute_s, memory_s, body),
            overlap_max=overlap == "max", memory_floor_s=memory_floor_s,
        )  # fmt: skip
        energy = energy + lane_ops * vec.energy_per_flop(prec.activation)  # the dequantisation
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


def collective_cost(
    op: Op, link: Link | None, tp: int, kernels: KernelParams | None = None, fabric: Fabric | None = None
) -> Cost:
    """All-reduce of ``op.act_read_bytes`` over ``tp`` devices on ``fabric`` (default: one
    scale-up domain of ``link``), by the algorithm its topology calls for
    (:func:`hetsim.cost.collectives.all_reduce`: ring, NVLS where the switch reduces in the
    network, hierarchical across nodes). With calibrated ``kernels``: the fitted alpha
    (base + per-hop) and fraction of the scale-up link's bandwidth. An all-to-all op
    (``op.collective``, expert parallelism) spans ``op.group`` devices instead
    (:func:`hetsim.cost.collectives.all_to_all`)."""
    p = op.group if op.group > 0 else tp
    if p <= 1:
        return Cost()
    if link is None:
        if op.collective == "all_to_all":
            raise ConfigError(f"{p} devices need an interconnect for an all-to-all; the hardware has none")
        return Cost()
    fab = fabric if fabric is not None else Fabric(link)
    if op.collective == "all_to_all":
        c = all_to_all(op.act_read_bytes, p, fab, kernels)
    else:
        c = all_reduce(op.act_read_bytes, p, fab, kernels, op.captured, op.allreduce)
    energy = _wire_energy_j_per_bit(fab, p)
    n = op.count
    return Cost(
        time_s=c.time_s * n,
        memory_s=c.wire_s * n,
        overhead_s=(c.time_s - c.wire_s) * n,
        energy_j=c.wire_bytes * 8 * energy * n,
        bytes=c.wire_bytes * n,
    )


def _wire_energy_j_per_bit(fab: Fabric, p: int) -> float:
    """J/bit of the links a collective over ``p`` devices crosses (the NIC's where it leaves the domain)."""
    assert fab.scale_up is not None
    if fab.domain and p > fab.domain and fab.scale_out is not None:
        return max(fab.scale_up.energy_j_per_bit, fab.scale_out.energy_j_per_bit)
    return fab.scale_up.energy_j_per_bit


def has_matrix_rate(device: Device, dt: DType | str) -> bool:
    """Whether the matrix unit lists ``dt`` or a same-width twin (fp16 on a bf16 unit)."""
    d = dtype(dt)
    listed = (dtype(n) for n in device.primary.unit_for("matrix").peak_flop_per_s)
    return any(x.bits == d.bits and x.is_float == d.is_float for x in listed)


def require_gemm_dtype(device: Device, prec: Precision) -> None:
    """Refuse a GEMM input type the device's matrix unit has no rate for (FP8 on an A100,
    FP4 before Blackwell) instead of silently running it at a wider type's rate. Weight-only
    quantisation (narrow weights, 16-bit GEMMs) needs no such unit and is always accepted."""
    unit = device.primary.unit_for("matrix")
    dt = prec.compute
    if has_matrix_rate(device, dt):
        return
    listed = ", ".join(sorted(unit.peak_flop_per_s))
    raise ConfigError(
        f"{device.name} has no {dt.name} matrix rate (its {unit.name} list {listed}); run the "
        f"{prec.weight.name} weights weight-only with --gemm-dtype fp16 (dequantised to 16 bits), "
        f"or choose hardware with {dt.name} units"
    )


def price(op: Op, device: Device, prec: Precision, tp: int = 1, overlap: Overlap = "max") -> Cost:
    """Price ``op`` on the device's primary side (collectives on its interconnect)."""
    kp = device.kernels
    if op.kind == "collective":
        return collective_cost(op, device.interconnect, tp, kp, Fabric.of(device))
    side = device.primary
    overhead = kp.launch_overhead_s if kp is not None else device.kernel_overhead_s
    return op_cost(
        op, side.unit_for(op.prefers), side.memory, prec, overhead_s=overhead, overlap=overlap, kernels=kp,
        vector=side.unit_for("vector"),
    )  # fmt: skip
