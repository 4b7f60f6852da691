"""The small-M GEMM kernel's streaming rate (``KernelParams.small_m_stream_efficiency``),
measured on the fit hardware's GEMM rows with M <= 16.

For a handful of rows (decode at a small batch) a GEMM library runs a GEMV-class kernel: cuBLAS
``gemv`` / split-K kernels, or 16-row ``mma.m16n8k16`` tiles striped over every SM (Marlin's
layout, used by the weight-only kernels, :mod:`hetsim.cost.weight_only`). Its compute is
negligible; its time is the weight stream. The calibrated GEMM model otherwise prices the
smallest CUTLASS tile (64 rows), whose padded work is hidden on an A100 or H100 but shows on a
part with little tensor-core rate for its bandwidth (H20: 148 TFLOP/s at 4 TB/s; GeForce cards
at their half-rate FP32-accumulate peak): there the autotuner takes the GEMV-class kernel.

The rate is *measured*, not fitted: the median, over every fit-GPU GEMM row with M <= 16, of
bytes / ((time - kernel latency) x memory_efficiency x datasheet bandwidth), with the committed
memory efficiency and kernel latency of each GPU's overlay. On Vidur's cuBLAS GEMMs: 0.868
over the 1,000 A100 and A40 rows (A100 0.846, A40 0.888; the held-out H100 rows 0.983).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from hetsim.calibration.predict import Task
from hetsim.hardware.spec import Device

SMALL_M = 16  # rows of a GEMV-class kernel's MMA (cost.kernels.SMALL_M_ROWS)


def stream_fractions(tasks: Sequence[Task], devices: Mapping[str, Device]) -> np.ndarray:
    """Per GEMM row with M <= 16 of ``tasks``: bytes / ((time - latency) x eta_mem x bandwidth)."""
    out: list[np.ndarray] = []
    for t in tasks:
        if t.family != "kernel" or t.op is None or t.op.kind != "gemm" or t.host_s is not None:
            continue
        kp = devices[t.hardware].kernels
        if kp is None:
            continue
        n = len(t.rows)
        m = np.broadcast_to(np.asarray(t.op.gemm_m, dtype=float), (n,))
        nbytes = np.broadcast_to(np.asarray(t.op.bytes, dtype=float), (n,))
        time_s = np.array([r.value for r in t.rows], dtype=float)
        bw = devices[t.hardware].primary.memory.bandwidth_bytes_per_s * kp.memory_efficiency
        sel = (m <= SMALL_M) & (time_s > kp.kernel_latency_s)
        out.append(nbytes[sel] / ((time_s[sel] - kp.kernel_latency_s) * bw))
    return np.concatenate(out) if out else np.zeros(0)


def measure_small_m_efficiency(tasks: Sequence[Task], devices: Mapping[str, Device]) -> float:
    """The median of :func:`stream_fractions` (0: no such row, no small-M candidate)."""
    f = stream_fractions(tasks, devices)
    return float(np.median(f)) if f.size else 0.0
