"""Weight-only quantised GEMMs: int8 / int4 (or fp8 / fp4) weights, 16-bit activations and
16-bit tensor-core MMAs, the weights dequantised in registers inside the GEMM kernel.

What the kernels do (documented behaviour, not fitted):

- **Small M (decode).** Marlin (Frantar et al. 2024, arXiv 2408.11743; IST-DASLab/marlin
  ``marlin_cuda_kernel.cu``), tinygemm (``torch.ops.aten._weight_int4pack_mm``, gpt-fast's int4
  path) and TensorRT-LLM's fpA_intB kernels run ``mma.m16n8k16`` tensor-core instructions with
  the activations padded to 16 rows (a 16-row MMA, not a 64-row tile); Marlin's threadblocks
  take up to 4 such blocks (64 rows) and stripe the K x N weight tiles over every SM, so one
  pass streams and dequantises each weight once. It is priced for M <= 64 (a larger M makes
  Marlin run M / 64 passes over the weights, ``parallel = prob_m / (16 * thread_m_blocks)``;
  there the tiled kernel below is the cheaper and is used).
- **Dequantisation** runs on the SMs' integer / FP16 lanes beside the MMAs (software-pipelined,
  so the two overlap). Instruction counts per weight, from NVIDIA FasterTransformer
  ``cutlass_extensions/interleaved_numeric_conversion.h`` (the conversion Marlin and
  TensorRT-LLM use): int4 -> fp16 takes 9 instructions per 8 weights (1 shift, 4 ``lop3``, 2
  ``sub.f16x2``, 2 ``fma.f16x2``), int8 -> fp16 4 per 4 (2 ``prmt``, 2 ``sub.f16x2``); a group
  scale and zero point add one ``fma.f16x2`` per 2 weights (Marlin's ``scale``); a per-channel
  scale is applied once per output in the epilogue.
- **Large M (prefill)** runs the ordinary tiled GEMM (TensorRT-LLM's fpA_intB CUTLASS kernel,
  vLLM's Marlin at large batch): priced as the 16-bit GEMM on the packed bytes, with the
  dequantisation of each weight once per 128-row M tile overlapped with its MMAs.

An engine's autotuner runs the faster of the two, so the price is the minimum; each candidate
grows with M and shrinks with bandwidth and peak, so the minimum does too (at M = 65 the
small-M kernel drops out, and the tiled kernel's M = 65 time is at least its M = 64 time). Both
dequantise each weight once for M <= 64, so the choice never changes the energy there.

Per repetition, ``g`` grouped GEMMs (MoE experts) of M x N x K:

  mma_s     = 2 g ceil(M/16) 16 N K / (peak_16 x eff)     eff: the calibrated main-loop
                                                          efficiency, or the plateau of the
                                                          unit's size curve
  dequant_s = g N K x ops_per_weight / lane_rate          lane_rate = the vector unit's fp32
                                                          peak / 2 (FMA lanes x clock)
  memory_s  = bytes / (eta_mem x bandwidth)
  time      = overlap(max(mma_s, dequant_s), memory_s) + kernel latency

``ops_per_weight`` is the one number here no datasheet gives; it is counted from the
instruction sequences above (``DEQUANT_OPS_PER_WEIGHT``), not fitted. Their energy is one
16-bit flop of the vector unit per lane instruction (assumed; ``cost/roofline.py::op_cost``).

**Per format** (a named weight format, ``Precision.format``; ``FORMAT_DEQUANT_OPS``): the
element conversion of its width as above, plus what its scales add. GGUF's legacy blocks
(Q4_0, Q5_0, Q8_0: an FP16 scale per 32) add one FMA per 2 weights; K-quants (Q2_K .. Q6_K:
256-weight super-blocks of 16 or 32-weight sub-blocks with 6- or 8-bit scales and mins) add the
scale-and-min FMA per 2 weights and about 6 instructions per sub-block to decode its scale and
min, and Q5_K / Q6_K a second bit plane (the conversion counted twice); i-quants (IQ1 .. IQ4:
grid codebooks indexed by 8-bit codes with sign bits) add a codebook load and a sign flip per
weight. These counts come from the block layouts (ggml's ``ggml-common.h``), not from a trace of
a kernel: they are assumed, and matter only where dequantisation, not the weight stream, bounds
a GEMM (small-M weight-only kernels on a slow-lane device). MXFP4's E8M0 scale is an exponent
add (as int4's scale FMA); FP8 with 128 x 128 block scales runs FP8 GEMMs and is not priced here.

**GGUF formats run llama.cpp's own CUDA kernels** (ggml-cuda; only llama.cpp and its wrappers read
GGUF files), which choose by the number of activation rows M (``ggml_cuda_mul_mat``, the
constants ``MMVQ_MAX_BATCH_SIZE`` 8 and ``MMQ_MAX_BATCH_SIZE`` 32 of ggml-cuda.cu, 2024):

- **M <= 32** (decode): MMVQ (M <= 8) or MMQ take the packed weights as they are, but first
  quantise the activations to q8_1 in a kernel of their own (``quantize_row_q8_1_cuda``, launched
  before every quantised matrix product): one more vector kernel per GEMM, priced at the
  device's vector-kernel latency on top of the kernel above.
- **M > 32** (prompt processing) on a GPU with FP16 tensor cores, up to llama.cpp PR #8075
  (2024-06-23, "use MMQ instead of cuBLAS by default"): the weights are dequantised to FP16
  into a scratch buffer by a kernel of their own (``ggml_get_to_fp16_cuda``; PR #3412), then
  cuBLAS runs the FP16 GEMM on them. Priced as that kernel (the packed bytes read, two bytes
  per weight written, at the device's streaming rate, or its lane instructions if slower) plus
  the dense GEMM reading FP16 weights; both run once per micro-batch of ``GGML_UBATCH_ROWS``
  (llama.cpp's ``n_ubatch`` default 512, PR #6017), so a long prompt dequantises every weight
  once per 512 tokens. After PR #8075 MMQ runs on int8 tensor cores instead; the published
  llama.cpp rows of the project (May 2024) predate it, and that path is not priced.
"""

from __future__ import annotations

import numpy as np

from hetsim.cost.kernels import blend, vector_latency
from hetsim.hardware.kernels import KernelParams
from hetsim.hardware.spec import ComputeUnit, MemoryTier
from hetsim.workload.dtypes import Precision
from hetsim.workload.ops import Num, Op

MMA_ROWS = 16.0  # rows of one mma.m16n8k16 (the activations are padded to it)
PASS_ROWS = 64.0  # rows one Marlin pass covers (4 m-blocks of 16): the small-M kernel's range
TILE_ROWS = 128.0  # M tile of the large-M kernel: each weight dequantised once per 128 rows

# lane instructions per weight to turn it into fp16 and apply its scale (see the module text)
DEQUANT_OPS_PER_WEIGHT: dict[str, float] = {
    "int4": 9 / 8 + 1 / 2,  # FasterTransformer int4 -> fp16 conversion, plus the group scale/zero FMA
    "int8": 4 / 4,  # prmt + sub.f16x2 per pair; per-channel scale in the epilogue
    "fp8": 4 / 4,  # byte permute + scale multiply per pair (Marlin's fp8 path), taken as int8's
    "fp4": 9 / 8 + 1 / 2,  # bitwise e2m1 -> fp16 as int4, plus the block-scale multiply
}


_CONVERT = {"int4": 9 / 8, "int8": 4 / 4}
FORMAT_DEQUANT_OPS: dict[str, float] = {
    "legacy4": _CONVERT["int4"] + 1 / 2,  # q4_0 / q4_1 / iq4_nl: nibble conversion + block scale FMA
    "legacy5": 2 * _CONVERT["int4"] + 1 / 2,  # q5_0 / q5_1: the fifth bit from its own plane
    "legacy8": _CONVERT["int8"] + 1 / 2,  # q8_0
    "kquant": _CONVERT["int4"] + 1 / 2 + 6 / 32,  # q2_k .. q4_k: + sub-block scale and min decode
    "kquant_hi": 2 * _CONVERT["int4"] + 1 / 2 + 6 / 16,  # q5_k / q6_k: two bit planes, 16-weight blocks
    "iquant": _CONVERT["int4"] + 1 / 2 + 2.0,  # iq*: + a codebook load and a sign flip per weight
}


def ops_per_weight(prec: Precision) -> float:
    """Lane instructions per weight to dequantise ``prec``'s weights (see the module text)."""
    fmt = prec.format
    if fmt.startswith(("q", "iq", "tq")):
        if fmt.startswith(("iq", "tq")):
            return FORMAT_DEQUANT_OPS["iquant"]
        if "_k" in fmt:
            return FORMAT_DEQUANT_OPS["kquant_hi" if fmt[1] in "56" else "kquant"]
        return FORMAT_DEQUANT_OPS["legacy8" if fmt[1] == "8" else "legacy5" if fmt[1] == "5" else "legacy4"]
    return DEQUANT_OPS_PER_WEIGHT.get(prec.weight.name, DEQUANT_OPS_PER_WEIGHT["int4"])


def lane_rate(vector: ComputeUnit) -> float:
    """Lane instructions per second of the SMs' integer / FP32 pipes: the vector unit's fp32
    peak / 2 (one FMA = 2 flop per lane per clock; A100: 108 SMs x 64 lanes x 1.41 GHz)."""
    return vector.peak("fp32") / 2.0


def lane_ops(op: Op, prec: Precision, passes: Num) -> Num:
    """Lane instructions that dequantise the op's weights ``passes`` times."""
    ops = ops_per_weight(prec)
    out: Num = np.maximum(op.gemm_groups, 1.0) * op.gemm_n * op.gemm_k * passes * ops
    return out


def dequant_s(op: Op, prec: Precision, vector: ComputeUnit, passes: Num) -> Num:
    """Seconds the SMs spend dequantising the op's weights ``passes`` times."""
    out: Num = lane_ops(op, prec, passes) / lane_rate(vector)
    return out


GGML_MMQ_MAX_ROWS = 32  # ggml-cuda MMQ_MAX_BATCH_SIZE: above it, dequantise + cuBLAS (pre PR #8075)
GGML_UBATCH_ROWS = 512  # llama.cpp n_ubatch default (PR #6017): tokens per forward micro-batch


def is_gguf(prec: Precision) -> bool:
    """Whether ``prec`` is a GGUF tensor or file type (q4_k_m, q8_0, iq2_xxs ...): llama.cpp's kernels."""
    return prec.format.startswith(("q", "iq", "tq"))


def ggml_times(
    op: Op,
    unit: ComputeUnit,
    vector: ComputeUnit,
    memory: MemoryTier,
    prec: Precision,
    kp: KernelParams | None,
    dense: tuple[Num, Num, Num],
    small: tuple[Num, Num, Num, Num],
) -> tuple[Num, Num, Num, Num]:
    """(compute_s, memory_s, body_s, lane instructions) of a GEMM on GGUF weights as llama.cpp's
    CUDA backend runs it (see the module text): ``small`` is the packed-weight kernel's price
    (:func:`weight_only_times`), used for M <= 32 with the activation-quantisation kernel added;
    above, the FP16 dequantisation kernel and ``dense`` (the ordinary GEMM's (compute, memory,
    body) on the packed bytes), its weights read at two bytes each, once per micro-batch."""
    m = np.maximum(np.asarray(op.gemm_m, dtype=float), 1.0)
    s_c, s_m, s_b, s_ops = small
    quantise_s = vector_latency(unit, kp, False) if kp is not None else 0.0
    passes = np.ceil(m / GGML_UBATCH_ROWS)
    w16 = op.weight_bytes * 16.0 / prec.weight_bits  # the dequantised copy of the weights
    stream: Num = memory.bandwidth_bytes_per_s * (
        kp.memory_efficiency if kp is not None else memory.efficiency(op.weight_bytes + w16)
    )
    latency = kp.kernel_latency_s if kp is not None else 0.0
    dq_mem = (op.weight_bytes + w16) / stream
    dq_lane = dequant_s(op, prec, vector, 1.0)
    dq_s = passes * (np.maximum(dq_mem, dq_lane) + latency)
    d_compute, d_memory, d_body = dense
    extra = np.maximum(w16 * passes - op.weight_bytes, 0.0) / stream  # FP16 weights, every micro-batch
    g_memory = d_memory + extra
    if kp is not None:
        g_body = blend(d_compute, g_memory, kp.overlap_p) + kp.kernel_latency_s
    else:
        g_body = np.maximum(d_compute, g_memory)
    g_body = np.maximum(g_body, d_body) + dq_s
    big = m > GGML_MMQ_MAX_ROWS
    c: Num = np.where(big, d_compute + passes * dq_lane, s_c)
    mem: Num = np.where(big, g_memory + passes * dq_mem, s_m)
    body: Num = np.where(big, g_body, s_b + quantise_s)
    ops: Num = np.where(big, lane_ops(op, prec, passes), s_ops)
    if np.ndim(body) == 0:
        return float(c), float(mem), float(body), float(ops)
    return c, mem, body, ops


def weight_only_times(
    op: Op,
    unit: ComputeUnit,
    vector: ComputeUnit,
    memory: MemoryTier,
    prec: Precision,
    kp: KernelParams | None,
    dense: tuple[Num, Num, Num],
    *,
    overlap_max: bool = True,
    memory_floor_s: Num = 0.0,
) -> tuple[Num, Num, Num, Num]:
    """(compute_s, memory_s, body_s, dequantising lane instructions) of a weight-only GEMM:
    the faster of the small-M kernel and ``dense`` (the ordinary GEMM's (compute, memory, body)
    on the packed bytes) with its dequantisation added. ``kp``: calibrated kernel parameters
    (None: the datasheet roofline with the unit's and tier's efficiency curves; ``overlap_max``
    then says max or sum)."""
    m = np.maximum(np.asarray(op.gemm_m, dtype=float), 1.0)
    g = np.maximum(np.asarray(op.gemm_groups, dtype=float), 1.0)
    peak = unit.peak(prec.compute)
    padded_flop = 2.0 * g * np.ceil(m / MMA_ROWS) * MMA_ROWS * op.gemm_n * op.gemm_k
    nbytes = op.bytes
    d_compute, d_memory, _ = dense
    if kp is not None:
        mma = padded_flop / (peak * kp.gemm_efficiency)
        mem_s = nbytes / (memory.bandwidth_bytes_per_s * kp.memory_efficiency)
        if kp.weight_only_stream_efficiency > 0:  # the packed stream's own rate (calibrated knob)
            mem_s = mem_s / kp.weight_only_stream_efficiency
            d_memory = d_memory / kp.weight_only_stream_efficiency
    else:
        # the unit's plateau (main-loop) efficiency: the size ramp's small-op penalty stands for
        # latency and under-filled waves, which this kernel's stripes over every SM do not have
        # (and whose latency the memory side's own ramp already pays)
        mma = padded_flop / (peak * max(unit.efficiency.values))
        mem_s = nbytes / (memory.bandwidth_bytes_per_s * memory.efficiency(nbytes))
    if not (np.ndim(memory_floor_s) == 0 and float(memory_floor_s) == 0.0):
        mem_s = np.maximum(mem_s, memory_floor_s)
    compute = np.maximum(mma, dequant_s(op, prec, vector, 1.0))

    # the large-M kernel: the dense GEMM with one dequantisation per 128-row tile, overlapped
    d_compute2 = np.maximum(d_compute, dequant_s(op, prec, vector, np.ceil(m / TILE_ROWS)))
    if kp is not None:
        body = blend(compute, mem_s, kp.overlap_p) + kp.kernel_latency_s
        d_body2 = blend(d_compute2, d_memory, kp.overlap_p) + kp.kernel_latency_s
    else:
        body = np.maximum(compute, mem_s) if overlap_max else compute + mem_s
        d_body2 = np.maximum(d_compute2, d_memory) if overlap_max else d_compute2 + d_memory
    small = (body < d_body2) & (m <= PASS_ROWS)
    pick_c: Num = np.where(small, compute, d_compute2)
    pick_m: Num = np.where(small, mem_s, d_memory)
    pick_b: Num = np.where(small, body, d_body2)
    ops: Num = lane_ops(op, prec, np.where(small, 1.0, np.ceil(m / TILE_ROWS)))
    if is_gguf(prec):
        return ggml_times(op, unit, vector, memory, prec, kp, dense, (pick_c, pick_m, pick_b, ops))
    if np.ndim(pick_b) == 0:
        return float(pick_c), float(pick_m), float(pick_b), float(ops)
    return pick_c, pick_m, pick_b, ops
