"""Kernel-level rows that are not Vidur's layer ops: GEMMs at their own precision (FP16/BF16,
FP8 with fine-grained scales, FP4) and grouped (MoE) GEMMs, fused and unfused attention
throughput, and NCCL all-reduce bus bandwidth. Each becomes an array-valued
:class:`~hetsim.workload.ops.Op` priced by the same cost model as every other op.

- **GEMM** (``gemm_latency``, ``gemm_tflops``, ``matmul_tflops_best_shape``,
  ``gemm_effective_memory_bandwidth``): M x N x K from the row; a grouped GEMM's group count
  from its model text (``Grouped GEMM (MoE, contiguous layout), 4 groups``), ``gemm_m`` being
  the rows of one group (DeepGEMM's README). Operands at the row's GEMM input type (1 byte for
  FP8, half a byte for FP4), the output at 16 bits (DeepGEMM: "BF16 output"; cuBLASLt FP8
  benchmarks write 16-bit D). DeepGEMM's effective bandwidth is (A + B + D bytes) / time, which
  is these bytes (checked on its rows: 64 x 2112 x 7168 at 206 TFLOPS is 1,688 GB/s, as the
  README prints). Block scales (one fp32 per 128 x 128 of B, per 1 x 128 of A) are under 1% of
  the bytes and not counted.
- **Attention** (``attention_tflops:flash_attention_2`` / ``:standard_pytorch``): the Azure
  benchmark's "batch 2, sequence 8,192, head dimension d" forward pass, non-causal (assumed: the
  source states neither causality nor forward/backward), H = 2048 / d heads (FlashAttention's
  own benchmark uses a model width of 2,048); TFLOPS = 4 B H S^2 d / time, which does not
  depend on H. The fused kernel is the op graph's fused attention; the standard (PyTorch) one
  is the unfused Q K^T, softmax, A V sequence (:func:`hetsim.calibration.opnames.unfused_attention`).
- **All-reduce bus bandwidth** (``allreduce_bus_bandwidth``, nccl-tests): busbw = S / t x
  2 (n - 1) / n for a message of S bytes on n GPUs (the size as
  :func:`hetsim.calibration.vocabulary.parse_batch` reads it).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import replace
from typing import Literal

import numpy as np

from hetsim.calibration.measurements import Measurement
from hetsim.workload.dtypes import Precision
from hetsim.workload.ops import FloatArray, Op

Kind = Literal["time", "rate"]
FP16 = Precision()
# metric -> (time or rate, numerator of a rate: flop or bytes)
GEMM_METRICS: dict[str, tuple[Kind, str]] = {
    "gemm_latency": ("time", ""), "gemm_tflops": ("rate", "flop"),
    "matmul_tflops_best_shape": ("rate", "flop"), "gemm_effective_memory_bandwidth": ("rate", "bytes"),
}  # fmt: skip
# GEMM input precision key -> (priced precision, bytes of one A/B element)
GEMM_PRECISIONS: dict[str, tuple[Precision, float]] = {
    "fp16": (FP16, 2.0),
    "bf16": (FP16, 2.0),
    "fp8": (Precision.of("fp8"), 1.0),
    "fp4": (Precision.of("fp4"), 0.5),
}
OUT_BYTES = 2.0  # 16-bit output
ATTENTION_WIDTH = 2048  # FlashAttention's benchmark: heads = 2,048 / head dim
_GROUPS = re.compile(r"(\d+)\s+groups?\b", re.IGNORECASE)
_HEAD_DIM = re.compile(r"head\s*dim(?:ension)?\s*(\d+)", re.IGNORECASE)


def gemm_groups(r: Measurement) -> float:
    """Independent GEMMs of one grouped kernel the row's model text states (1: a plain GEMM)."""
    m = _GROUPS.search(r.model) if "group" in r.model.lower() else None
    return float(m.group(1)) if m else 1.0


def gemm_op(rows: list[Measurement], elem_bytes: float) -> Op:
    """One array-valued GEMM op for ``rows`` (their M x N x K and group counts)."""
    mnk = np.array([(r.gemm_m, r.gemm_n, r.gemm_k) for r in rows], dtype=float)
    m, n, k = mnk.T
    g = np.array([gemm_groups(r) for r in rows])
    return Op("gemm", "fc", "gemm", "matrix", 1, flop=2 * g * m * n * k, weight_bytes=elem_bytes * g * k * n,
              act_read_bytes=elem_bytes * g * m * k, act_write_bytes=OUT_BYTES * g * m * n,
              gemm_m=m, gemm_n=n, gemm_k=k, gemm_groups=g)  # fmt: skip


def gemm_tasks(
    rows: list[Measurement], timed: Callable[[Measurement], bool], skipped: Counter[str]
) -> list[tuple[list[Measurement], Op, Kind, FloatArray | None, Precision]]:
    """(rows, op, kind, numerator, precision) per (metric, precision, host-timed) group of
    GEMM rows; rows without a shape or at a precision with no GEMM pricing are counted."""
    out = []
    groups: dict[tuple[str, str, bool], list[Measurement]] = defaultdict(list)
    for r in rows:
        if None in (r.gemm_m, r.gemm_n, r.gemm_k):
            skipped["missing_gemm_shape"] += 1
        elif r.precision not in GEMM_PRECISIONS:
            skipped[f"unsupported_precision:{r.precision or 'not_stated'}"] += 1
        else:
            groups[(r.metric, r.precision, timed(r))].append(r)
    for (metric, key, _), rs in groups.items():
        kind, numer = GEMM_METRICS[metric]
        prec, elem = GEMM_PRECISIONS[key]
        op = gemm_op(rs, elem)
        work = op.flop if numer == "flop" else op.bytes
        out.append((rs, op, kind, None if kind == "time" else np.asarray(work, dtype=float), prec))
    return out


def attention_shape(r: Measurement) -> tuple[float, float, float, float] | None:
    """(batch, heads, sequence, head dim) of an attention-throughput row, or None."""
    m = _HEAD_DIM.search(r.model)
    if m is None or not r.batch or not r.input_len:
        return None
    d = float(m.group(1))
    return float(r.batch), ATTENTION_WIDTH / d, float(r.input_len), d


def attention_flop(b: float, h: float, s: float, d: float) -> float:
    """Forward flop of non-causal attention: Q K^T and A V, 2 B H S^2 d each."""
    return 4.0 * b * h * s * s * d


def fused_attention_op(b: float, h: float, s: float, d: float) -> Op:
    """FlashAttention forward: Q, K, V read once, O written once (16-bit)."""
    io = 2.0 * b * h * s * d
    return Op("attention", "attention", "attention", "matrix", 1, flop=attention_flop(b, h, s, d),
              kv_read_bytes=2 * io, act_read_bytes=io, act_write_bytes=io)  # fmt: skip


def bus_factor(n: int) -> float:
    """nccl-tests' all-reduce bus-bandwidth factor 2 (n - 1) / n."""
    return 2.0 * (n - 1) / n


def allreduce_op(sizes: FloatArray) -> Op:
    return Op("allreduce", "comm", "collective", "vector", 1, flop=sizes / 2, act_read_bytes=sizes)


IMPLS = ("flash_attention_2", "standard_pytorch")


def unfused_attention_ops(b: float, h: float, s: float, d: float) -> list[Op]:
    """Eager PyTorch attention: Q K^T (a batched matmul writing the B H S^2 scores), softmax
    over them, A V (reading them back); 16-bit, non-causal."""
    qkv = 2.0 * b * h * s * d
    scores = 2.0 * b * h * s * s
    half = attention_flop(b, h, s, d) / 2
    return [
        Op("attn_score", "attention", "attention", "matrix", 1, flop=half, kv_read_bytes=qkv,
           act_read_bytes=qkv, act_write_bytes=scores),
        Op("softmax", "attention", "softmax", "sfu", 1, flop=5.0 * b * h * s * s, act_read_bytes=scores,
           act_write_bytes=scores),
        Op("attn_context", "attention", "attention", "matrix", 1, flop=half, kv_read_bytes=qkv,
           act_read_bytes=scores, act_write_bytes=qkv),
    ]  # fmt: skip


def attention_ops(
    rows: list[Measurement], skipped: Counter[str]
) -> list[tuple[list[Measurement], list[Op], FloatArray]]:
    """(rows, ops whose times add, flop per row) per implementation of attention-throughput rows:
    FlashAttention-2 is the fused op; standard PyTorch the unfused three."""
    by: dict[str, list[tuple[Measurement, tuple[float, float, float, float]]]] = defaultdict(list)
    for r in rows:
        impl = r.metric.split(":", 1)[1]
        shape = attention_shape(r)
        if impl not in IMPLS:
            skipped[f"unsupported_metric:attention_tflops:{impl}"] += 1
        elif shape is None:
            skipped["missing_attention_shape"] += 1
        else:
            by[impl].append((r, shape))
    out = []
    for impl, items in by.items():
        per_row = [[fused_attention_op(*sh)] if impl == IMPLS[0] else unfused_attention_ops(*sh)
                   for _, sh in items]  # fmt: skip
        ops = [_concat([ops[i] for ops in per_row]) for i in range(len(per_row[0]))]
        flop = np.array([attention_flop(*sh) for _, sh in items])
        out.append(([r for r, _ in items], ops, flop))
    return out


def _concat(ops: list[Op]) -> Op:
    first = ops[0]
    arrays = {f: np.array([float(getattr(o, f)) for o in ops])
              for f in ("flop", "kv_read_bytes", "act_read_bytes", "act_write_bytes")}  # fmt: skip
    return replace(first, **arrays)  # type: ignore[arg-type]
