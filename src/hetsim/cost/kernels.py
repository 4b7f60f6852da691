"""Calibrated kernel pricing: the roofline refined by what real GPUs do at small and odd sizes.

Used for devices that carry :class:`~hetsim.hardware.kernels.KernelParams` (a calibrated
overlay). Every formula uses the device's own datasheet numbers (peak, SM count, bandwidth,
link bandwidth) and the few shared shape parameters, so a fit on one GPU transfers to another.

GEMM (M x N x K, one kernel):
  for each candidate output tile (tm, tn): tiles = ceil(M/tm) ceil(N/tn); when one wave
  under-fills the S cores, K is split into s = min(S // tiles, K // k_min) parts (split-K);
  waves = ceil(tiles s / S); compute = waves x 2 tm tn ceil(K/s) / (peak/S x eff(tm, tn)),
  eff(tm, tn) = min(1, eta_gemm (1 + e/64) / (1 + e (1/tm + 1/tn))). The cheapest tile wins
  (what a library heuristic or autotuner picks).
  memory  = (bytes + split-K partials) / (eta_mem x bandwidth)
  time    = (compute^p + memory^p)^(1/p) + kernel latency     (p: overlap exponent)
Memory-bound ops (norms, softmax, activations, residuals) use their class's fraction of
bandwidth; fused attention runs at ``attention_efficiency`` of matrix peak.
All-reduce (ring, p devices): alpha + 2(p-1) hop + 2(p-1)/p bytes / (eta_link x link bw).
"""

from __future__ import annotations

import numpy as np

from hetsim.hardware.kernels import KernelParams
from hetsim.hardware.spec import ComputeUnit, Link, MemoryTier
from hetsim.workload.ops import Num, Op

SPLIT_K_PARTIAL_BYTES = 4.0  # fp32 partial sums written and read back per split


def tile_efficiency(kp: KernelParams, tm: int, tn: int) -> float:
    """Fraction of per-core peak a (tm x tn) output tile reaches (edge cost relative to a
    128 x 128 tile, capped at 1)."""
    e = kp.gemm_tile_edge
    return min(1.0, kp.gemm_efficiency * (1 + e / 64) / (1 + e * (1 / tm + 1 / tn)))


def gemm_times(unit: ComputeUnit, peak: float, kp: KernelParams, m: Num, n: Num, k: Num) -> tuple[Num, Num]:
    """(compute seconds, extra split-K bytes) of the best tile for an M x N x K GEMM."""
    m = np.maximum(np.asarray(m, dtype=float), 1.0)
    n = np.maximum(np.asarray(n, dtype=float), 1.0)
    k = np.maximum(np.asarray(k, dtype=float), 1.0)
    cores = unit.n_parallel
    if cores <= 0:
        t: Num = 2 * m * n * k / (peak * kp.gemm_efficiency)
        return t, np.zeros_like(t)
    best_t = np.full(np.broadcast(m, n, k).shape, np.inf)
    best_extra = np.zeros_like(best_t)
    per_core = peak / cores
    for tm, tn in kp.tiles:
        tiles = np.ceil(m / tm) * np.ceil(n / tn)
        if kp.split_k_min_k > 0:
            s = np.maximum(1.0, np.minimum(np.floor(cores / tiles), np.floor(k / kp.split_k_min_k)))
        else:
            s = np.ones_like(tiles)
        waves = np.ceil(tiles * s / cores)
        t = waves * 2.0 * tm * tn * np.ceil(k / s) / (per_core * tile_efficiency(kp, tm, tn))
        extra = np.where(s > 1, 2 * SPLIT_K_PARTIAL_BYTES * m * n * s, 0.0)
        better = t < best_t
        best_t = np.where(better, t, best_t)
        best_extra = np.where(better, extra, best_extra)
    return best_t, best_extra


def blend(compute_s: Num, memory_s: Num, p: float) -> Num:
    """Smooth overlap of compute and memory time: the p-norm (p -> inf is the max)."""
    # the larger term's ratio is exactly 1, so one power suffices: hi (1 + (lo/hi)^p)^(1/p)
    hi = np.maximum(compute_s, memory_s)
    lo = np.minimum(compute_s, memory_s)
    safe = np.maximum(hi, 1e-300)
    out: Num = np.where(hi > 0, safe * (1.0 + (lo / safe) ** p) ** (1.0 / p), 0.0)
    return out if np.ndim(out) else float(out)


VECTOR_KINDS = ("norm", "softmax", "elementwise")


def memory_fraction(op: Op, kp: KernelParams) -> float:
    """Fraction of datasheet bandwidth an op of this class reaches."""
    if op.kind in ("norm", "softmax"):
        return kp.reduction_efficiency
    if op.kind == "elementwise":
        return kp.elementwise_efficiency
    return kp.memory_efficiency  # GEMM operand streaming, attention KV reads, gathers, copies


def vector_latency(unit: ComputeUnit, kp: KernelParams, reduction: bool) -> float:
    """Minimum duration of a vector kernel: fitted cycles at the unit's datasheet clock, or
    ``vector_latency_s`` where the unit has no clock or no cycles are fitted."""
    if kp.vector_latency_cycles > 0 and unit.clock_hz > 0:
        cycles = kp.vector_latency_cycles + (kp.reduction_latency_cycles if reduction else 0.0)
        return cycles / unit.clock_hz
    return kp.vector_latency_s


def kernel_times(
    op: Op, unit: ComputeUnit, memory: MemoryTier, peak: float, kp: KernelParams
) -> tuple[Num, Num, Num]:
    """(compute_s, memory_s, body_s) of one repetition of ``op``; body includes the kernel's
    fixed latency but no launch gap."""
    nbytes = op.bytes
    if op.kind == "gemm":
        compute_s, extra = gemm_times(unit, peak, kp, op.gemm_m, op.gemm_n, op.gemm_k)
        # an op may be several GEMMs of that shape (MoE: one per touched expert, each of
        # gemm_m rows); price all of them, not one (else MFU exceeds 1)
        shape = 2.0 * np.asarray(op.gemm_m * op.gemm_n * op.gemm_k, dtype=float)
        groups = np.where(shape > 0, np.maximum(op.flop / np.where(shape > 0, shape, 1.0), 1.0), 1.0)
        compute_s, extra = compute_s * groups, extra * groups
        nbytes = nbytes + extra
    elif op.kind == "attention":
        compute_s = op.flop / (peak * kp.attention_efficiency)
    else:
        compute_s = op.flop / peak
    memory_s = nbytes / (memory.bandwidth_bytes_per_s * memory_fraction(op, kp))
    if op.kind in VECTOR_KINDS:
        reduction = op.kind in ("norm", "softmax")
        rho = kp.reduction_issue if reduction else kp.elementwise_issue
        cores_hz = unit.n_parallel * unit.clock_hz
        if rho > 0 and cores_hz > 0:
            compute_s = np.maximum(compute_s, nbytes / (rho * cores_hz))
        if kp.cache_gain > 1 and memory.cache_bytes > 0:
            memory_s = np.where(nbytes <= memory.cache_bytes, memory_s / kp.cache_gain, memory_s)
        latency = vector_latency(unit, kp, reduction)
        p = kp.vector_overlap_p or kp.overlap_p
        body = blend(blend(compute_s, memory_s, p), latency, kp.latency_overlap_p)
        return compute_s, memory_s, body
    latency = kp.kernel_latency_s if op.kind in ("gemm", "attention") else vector_latency(unit, kp, False)
    body = blend(compute_s, memory_s, kp.overlap_p) + latency
    return compute_s, memory_s, body


def allreduce_s(nbytes: Num, p: int, link: Link, kp: KernelParams) -> tuple[Num, Num]:
    """(total seconds, bandwidth seconds) of an all-reduce of ``nbytes`` per device: a ring, or
    one send and one receive per byte where the switch reduces in the network (NVLS)."""
    wire = link.allreduce_wire_factor(p) * np.asarray(nbytes, dtype=float)
    bw_s = wire / (link.bandwidth_bytes_per_s * kp.link_efficiency)
    alpha = kp.allreduce_latency_s + 2 * (p - 1) * kp.allreduce_hop_latency_s
    total: Num = alpha + bw_s
    return total, bw_s
