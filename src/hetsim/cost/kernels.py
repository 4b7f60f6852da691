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
bandwidth; fused attention runs at ``attention_efficiency`` of matrix peak. Attention KV reads
and gathers / copies are also capped per SM: bytes / (load_issue x SMs x clock).
Collectives (all-reduce by ring, NVLS or hierarchically across nodes) are priced in
:mod:`hetsim.cost.collectives` with the fitted alpha, per-hop latency and link efficiency.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np

from hetsim.hardware.kernels import KernelParams
from hetsim.hardware.spec import ComputeUnit, MemoryTier
from hetsim.workload.ops import FloatArray, Num, Op, ndim

SPLIT_K_PARTIAL_BYTES = 4.0  # fp32 partial sums written and read back per split


def tile_efficiency(kp: KernelParams, tm: int, tn: int) -> float:
    """Fraction of per-core peak a (tm x tn) output tile reaches (edge cost relative to a
    128 x 128 tile, capped at 1)."""
    e = kp.gemm_tile_edge
    return min(1.0, kp.gemm_efficiency * (1 + e / 64) / (1 + e * (1 / tm + 1 / tn)))


@lru_cache(maxsize=256)
def _tile_table_cached(
    tiles: tuple[tuple[int, int], ...], effs: tuple[float, ...], per_core: float, ndim: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    shape = (-1,) + (1,) * ndim
    tm = np.array([t[0] for t in tiles], dtype=float).reshape(shape)
    tn = np.array([t[1] for t in tiles], dtype=float).reshape(shape)
    eff = np.array(effs, dtype=float).reshape(shape)
    return tm, tn, 2.0 * tm * tn / (per_core * eff)


def _tile_table(kp: KernelParams, per_core: float, ndim: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(tm, tn, seconds per K step of one tile on one core) of every candidate tile, shaped
    (T, 1, ...) to broadcast against ``ndim``-dimensional GEMM shapes."""
    effs = tuple(tile_efficiency(kp, tm, tn) for tm, tn in kp.tiles)
    return _tile_table_cached(tuple(kp.tiles), effs, per_core, ndim)


def gemm_times(
    unit: ComputeUnit,
    peak: float,
    kp: KernelParams,
    m: Num,
    n: Num,
    k: Num,
    groups: Num = 1.0,
    memory_s_per_byte: float = 0.0,
    operand_bytes: Num = 0.0,
) -> tuple[Num, Num]:
    """(compute seconds, extra split-K bytes) of the best (tile, split-K) choice for
    ``groups`` M x N x K GEMMs run as one grouped kernel (MoE experts share the cores' waves).

    Candidates per tile: split-K filling one wave (s = min(S // tiles, K // k_min)) and no
    split (s = 1). With ``memory_s_per_byte`` > 0 the choice minimises the overlapped time
    of compute and memory (operand bytes plus the split-K partials), as an autotuner does:
    a heavy split-K whose fp32 partials cost more traffic than it saves is not chosen."""
    m = np.maximum(np.asarray(m, dtype=float), 1.0)
    n = np.maximum(np.asarray(n, dtype=float), 1.0)
    k = np.maximum(np.asarray(k, dtype=float), 1.0)
    g = np.maximum(np.asarray(groups, dtype=float), 1.0)
    cores = unit.n_parallel
    if cores <= 0:
        t: Num = 2 * g * m * n * k / (peak * kp.gemm_efficiency)
        return t, np.zeros_like(t)
    operands = np.asarray(operand_bytes, dtype=float)
    shape = np.broadcast(m, n, k, g, operands).shape
    zeros = np.zeros(shape)
    # every candidate tile at once, along a leading axis (one numpy call per step, not per tile)
    tm, tn, unit_t = _tile_table(kp, peak / cores, len(shape))
    tiles = g * np.ceil(m / tm) * np.ceil(n / tn)  # (T, *shape)
    # no split: the memory side is the same for every tile, so the fastest tile wins outright
    plain_t = np.min(np.ceil(tiles / cores) * np.ceil(k) * unit_t, axis=0) + zeros

    def overlapped(t: Num, extra: Num) -> Num:
        # the autotuner's criterion is the time the kernel takes (the overlap as priced), so
        # the choice is the cheapest and a faster unit or bus is never slower
        return t if memory_s_per_byte <= 0 else blend(t, (operands + extra) * memory_s_per_byte, kp.overlap_p)

    plain_score = overlapped(plain_t, 0.0)
    if kp.split_k_min_k <= 0:
        return plain_t, zeros
    # split-K filling one wave, where it splits at all (a tile that splits nowhere is no candidate)
    s = np.maximum(1.0, np.minimum(np.floor(cores / tiles), np.floor(k / kp.split_k_min_k)))
    splits = np.any(s > 1, axis=tuple(range(1, s.ndim)))
    if not np.any(splits):
        return plain_t, zeros
    split_t: FloatArray = np.asarray(np.ceil(tiles * s / cores) * np.ceil(k / s) * unit_t, dtype=float)
    extra: FloatArray = np.where(s > 1, 2 * SPLIT_K_PARTIAL_BYTES * g * m * n * s, 0.0)  # fp32 partials
    candidate = splits.reshape((-1,) + (1,) * len(shape))
    score: FloatArray = np.where(candidate, overlapped(split_t, extra), np.inf)
    best = np.argmin(score, axis=0)[None]  # the first of equal scores, as a tile-by-tile scan

    def pick(a: FloatArray) -> FloatArray:
        out: FloatArray = np.take_along_axis(np.broadcast_to(a, score.shape), best, axis=0)[0]
        return out

    use_split = np.asarray(pick(score) < plain_score)
    best_t: FloatArray = np.where(use_split, pick(split_t), plain_t)
    best_extra: FloatArray = np.where(use_split, pick(extra), 0.0)
    return best_t, best_extra


def _floor(x: Num, floor: Num) -> Num:
    """max(x, floor), without an array copy where ``floor`` is the scalar 0."""
    if np.ndim(floor) == 0 and float(floor) == 0.0:
        return x
    return np.maximum(x, floor)


def blend(compute_s: Num, memory_s: Num, p: float) -> Num:
    """Smooth overlap of compute and memory time: the p-norm (p -> inf is the max)."""
    # the larger term's ratio is exactly 1, so one power suffices: hi (1 + (lo/hi)^p)^(1/p)
    hi = np.maximum(compute_s, memory_s)
    lo = np.minimum(compute_s, memory_s)
    safe = np.maximum(hi, 1e-300)
    out: Num = np.where(hi > 0, safe * (1.0 + (lo / safe) ** p) ** (1.0 / p), 0.0)
    return out if np.ndim(out) else float(out)


VECTOR_KINDS = ("norm", "softmax", "elementwise")
LOAD_CAPPED_KINDS = ("attention", "lookup")


def memory_fraction(op: Op, kp: KernelParams) -> float:
    """Fraction of datasheet bandwidth an op of this class reaches."""
    if op.kind in ("norm", "softmax"):
        return kp.reduction_efficiency
    if op.kind == "elementwise":
        return kp.elementwise_efficiency
    return kp.memory_efficiency  # GEMM operand streaming, attention KV reads, gathers, copies


def vector_latency(unit: ComputeUnit, kp: KernelParams, reduction: bool) -> float:
    """Minimum duration of a vector kernel: fitted cycles at the unit's datasheet clock, a norm
    or softmax adding its reduction's cycles and seconds (``reduction_latency_s``: memory round
    trips); or the assumed ``vector_latency_s`` for any vector kernel where the unit has no
    clock or no cycles are fitted."""
    if kp.vector_latency_cycles > 0 and unit.clock_hz > 0:
        if not reduction:
            return kp.vector_latency_cycles / unit.clock_hz
        cycles = kp.vector_latency_cycles + kp.reduction_latency_cycles
        return cycles / unit.clock_hz + kp.reduction_latency_s
    return kp.vector_latency_s


def issue_cap_s(op: Op, unit: ComputeUnit, rho: float, nbytes: Num | None = None) -> Num:
    """Seconds the per-core streaming cap (``rho`` bytes per core per clock) allows a vector
    kernel. A row kernel (one thread block per row, ``op.rows`` > 0: norms, SiLU*mul) has work
    on at most one core per row, so below one row per core its rows stream on that many cores
    (a single-token norm moves its row at one core's rate); the shared weight vector is read
    once, spread over every core. A flat kernel (rows 0) spreads over every core. ``nbytes``:
    the op's bytes when the caller has them."""
    cores = float(unit.n_parallel)
    cores_hz = cores * unit.clock_hz
    if nbytes is None:
        nbytes = op.bytes
    rows = op.rows
    active: Num
    if getattr(rows, "size", 1) == 1:  # one row count (an analysis): plain floats, no array work
        r = float(rows) if ndim(rows) == 0 else float(rows.item())  # type: ignore[union-attr]
        # the array path's arithmetic, so a configuration's cap is the same alone or in a sweep
        active = cores if r <= 0 or r >= cores else max(r, 1.0)
    else:
        a = np.asarray(rows, dtype=float)
        active = np.where(a > 0, np.minimum(cores, np.maximum(a, 1.0)), cores)
    shared = op.weight_bytes
    out: Num = (nbytes - shared) / (rho * active * unit.clock_hz) + shared / (rho * cores_hz)
    return out


_NARROW: dict[int, tuple[KernelParams, KernelParams]] = {}


SMALL_M_ROWS = 16.0  # rows of one mma.m16n8k16: a GEMV-class kernel pads M to this


def _small_m_or_tiled(
    op: Op, peak: float, kp: KernelParams, dram_bw: float, tiled: tuple[Num, Num, Num], floor: Num
) -> tuple[Num, Num, Num]:
    """The faster of the tiled GEMM's (compute, memory, body) and, for M <= 16, a small-M kernel
    (cuBLAS GEMV / a 16-row MMA striped over every SM, as the weight-only kernels): compute on M
    padded to 16 rows at the main-loop efficiency, the operands streamed at
    ``small_m_stream_efficiency`` of the tiled rate. It matters where the 64-row tile's padded
    work shows through (H20, GeForce parts, CUDA-core fp32)."""
    tiled_c, tiled_m, tiled_b = tiled
    m = np.maximum(np.asarray(op.gemm_m, dtype=float), 1.0)
    g = np.maximum(np.asarray(op.gemm_groups, dtype=float), 1.0)
    padded_flop = 2.0 * g * np.ceil(m / SMALL_M_ROWS) * SMALL_M_ROWS * op.gemm_n * op.gemm_k
    small_c = padded_flop / (peak * kp.gemm_efficiency)
    small_m = _floor(op.bytes / (dram_bw * kp.small_m_stream_efficiency), floor)
    small_b = blend(small_c, small_m, kp.overlap_p) + kp.kernel_latency_s
    use = (m <= SMALL_M_ROWS) & (small_b < tiled_b)
    if np.ndim(use) == 0:
        return (small_c, small_m, small_b) if bool(use) else tiled
    return np.where(use, small_c, tiled_c), np.where(use, small_m, tiled_m), np.where(use, small_b, tiled_b)


def narrowed(kp: KernelParams) -> KernelParams:
    """``kp`` for a GEMM with 8- or 4-bit inputs: its main loop at ``narrow_gemm_efficiency``
    (unchanged where that knob is 0)."""
    if kp.narrow_gemm_efficiency <= 0:
        return kp
    hit = _NARROW.get(id(kp))
    if hit is not None and hit[0] is kp:
        return hit[1]
    out = replace(kp, gemm_efficiency=kp.narrow_gemm_efficiency)
    if len(_NARROW) > 256:
        _NARROW.clear()
    _NARROW[id(kp)] = (kp, out)
    return out


def kernel_times(
    op: Op,
    unit: ComputeUnit,
    memory: MemoryTier,
    peak: float,
    kp: KernelParams,
    memory_floor_s: Num = 0.0,
    narrow: bool = False,
) -> tuple[Num, Num, Num]:
    """(compute_s, memory_s, body_s) of one repetition of ``op``; body includes the kernel's
    fixed latency but no launch gap. ``memory_floor_s``: the least its memory phase takes
    (data streamed in from another side while it runs; see :func:`hetsim.cost.roofline.op_cost`).
    ``narrow``: a GEMM on 8- or 4-bit inputs (its main loop at ``narrow_gemm_efficiency``)."""
    nbytes = op.bytes
    if op.kind == "gemm":
        if narrow:
            kp = narrowed(kp)
        per_byte = 1.0 / (memory.bandwidth_bytes_per_s * memory_fraction(op, kp))
        compute_s, extra = gemm_times(
            unit, peak, kp, op.gemm_m, op.gemm_n, op.gemm_k, op.gemm_groups, per_byte, nbytes
        )
        nbytes = nbytes + extra
    elif op.kind == "attention":
        compute_s = op.flop / (peak * kp.attention_efficiency)
    else:
        compute_s = op.flop / peak
    dram_bw = memory.bandwidth_bytes_per_s * memory_fraction(op, kp)
    memory_s = nbytes / dram_bw
    if op.kind in LOAD_CAPPED_KINDS:
        # the SMs' accesses in flight cap what attention and gathers stream (a GEMM pipelines
        # its operand loads deeper and is not capped): the slower of DRAM and the cap, which
        # only binds where it is below the DRAM rate (scalar test: no array work otherwise)
        cap_bw = kp.load_issue * unit.n_parallel * unit.clock_hz
        if 0 < cap_bw < dram_bw:
            memory_s = nbytes / cap_bw
    decode_attention = op.kind == "attention" and op.head_dim > 0
    if decode_attention and kp.decode_attention_stream_efficiency > 0:
        # paged KV blocks (16 tokens of one head: a few KB per block-table hop) stream below
        # the rate of one long contiguous read
        memory_s = memory_s / kp.decode_attention_stream_efficiency
    if op.kind in VECTOR_KINDS:
        memory_s = _floor(memory_s, memory_floor_s)
        reduction = op.kind in ("norm", "softmax")
        rho = kp.reduction_issue if reduction else kp.elementwise_issue
        # the per-SM streaming cap is a limit of the load/store path, not of arithmetic; it
        # counts only the cores with a row to work on
        if rho > 0 and unit.n_parallel > 0 and unit.clock_hz > 0:
            cap_s = issue_cap_s(op, unit, rho, nbytes)
        else:
            cap_s = np.zeros_like(nbytes)
        if kp.cache_gain > 1 and memory.cache_bytes > 0:
            memory_s = _floor(np.where(nbytes <= memory.cache_bytes, memory_s / kp.cache_gain, memory_s),
                              memory_floor_s)  # fmt: skip
        latency = vector_latency(unit, kp, reduction)
        p = kp.vector_overlap_p or kp.overlap_p
        body = blend(blend(np.maximum(compute_s, cap_s), memory_s, p), latency, kp.latency_overlap_p)
        # compute: the arithmetic alone; memory: DRAM and the SMs' issue cap together, so the
        # bound label says what limits a 0.2-1.2 flop/B norm or residual add
        return compute_s, np.maximum(cap_s, memory_s), body
    memory_s = _floor(memory_s, memory_floor_s)
    latency = kp.kernel_latency_s if op.kind in ("gemm", "attention") else vector_latency(unit, kp, False)
    if decode_attention and kp.decode_attention_latency_s > 0:
        latency = kp.decode_attention_latency_s  # split-KV and combine passes: one fixed cost per step
    body = blend(compute_s, memory_s, kp.overlap_p) + latency
    if (
        op.kind == "gemm"
        and kp.small_m_stream_efficiency > 0
        and np.any(np.asarray(op.gemm_m) <= SMALL_M_ROWS)
    ):
        return _small_m_or_tiled(op, peak, kp, dram_bw, (compute_s, memory_s, body), memory_floor_s)
    return compute_s, memory_s, body
