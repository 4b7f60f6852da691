"""The plan of a placed run: the weights split into the placed groups, the problem a policy
places, and the decode's weight-reading kernels offload balances on (per configuration)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from hetsim.cost.roofline import op_cost
from hetsim.hardware.spec import Device
from hetsim.placement.balance import achieved_bandwidth, balance
from hetsim.placement.policies import Problem, offload_sides
from hetsim.placement.record import group_of
from hetsim.workload.dtypes import Precision
from hetsim.workload.footprint import split_weights as split_weights  # re-exported: computed in workload/
from hetsim.workload.ops import FloatArray, Num, Op


def problem(
    dev: Device,
    weights: dict[str, float],
    kv_bytes: Num,
    workspace: Num,
    phase: str,
    final_kv: Num | None = None,
) -> Problem:
    return Problem(dev, {**weights, "attention": kv_bytes}, workspace, phase, final_kv_bytes=final_kv)


def per_config(x: Num, n: int, reduce: Any = np.max) -> FloatArray:
    """``x`` as one value per configuration (shape (n,)): leading axes (the decode's
    contexts: arrays are (K, N), configurations last) reduced with ``reduce``, a scalar
    repeated. Never reduces over configurations."""
    a = np.asarray(x)
    if a.ndim == 0:
        return np.full(n, a.item())
    if a.ndim > 1:
        a = reduce(a, axis=tuple(range(a.ndim - 1)))
    out: FloatArray = np.broadcast_to(a, (n,))
    return out


def kernel_sizes(
    ops: list[Op], dev: Device, prec: Precision, n: int, *, weigh: bool = False
) -> tuple[tuple[tuple[Num, Num, Num], ...], float]:
    """((weight bytes of one, repetitions, local seconds that do not scale with the weight
    share) of each GEMM that reads a weight group; kernels per step that read the KV cache):
    what offload's balance is found from (Problem.weight_kernels). The fixed seconds are the
    primary's priced memory phase at the balanced share less that share of the weights at
    the achieved bandwidth (activations, split-K partials). Bytes and seconds are per
    configuration (shape (n,): a mixture-of-experts layer reads more experts at a larger
    batch), never reduced over configurations. ``weigh`` (the prefill's plan): each kernel's
    repetitions are weighted by how much of a change in its memory phase reaches its time
    (the slope of the compute/memory overlap, at least 1e-3): a compute-bound GEMM hides most
    of it, so its bytes count less than those of a kernel its memory phase sets (a prefill
    planned on the bytes alone put llama2-13b's split on gh200 at 81% where its priced
    optimum is 89%, and a faster second side could then prefill slower)."""
    sides = offload_sides(dev)
    b = balance(dev, sides)
    side = dev.sides[0]
    out: list[tuple[Num, Num, Num]] = []
    for op in ops:
        if op.kind != "gemm" or group_of(op) in (None, "attention"):
            continue
        kb = per_config(op.weight_bytes, n)
        if not np.any(kb > 0):
            continue
        shape = np.shape(op.weight_bytes)
        w: Num = b * kb.reshape(shape) if shape else b * float(kb[0])
        if weigh:  # a second row, its weight 0.1% larger: the time's slope in the memory phase
            w = np.multiply.outer(np.array([1.0, 1.001]), b * kb)  # (2, n)
        part = dataclasses.replace(op, weight_bytes=w, count=1)
        c = op_cost(part, side.unit_for(op.prefers), side.memory, prec, kernels=dev.kernels,
                    vector=side.unit_for("vector"))  # fmt: skip
        m_s, t_s = (np.asarray(x, dtype=float) for x in (c.memory_s, c.time_s))
        bw0 = achieved_bandwidth(dev, 0, b * kb)
        mem = per_config(m_s[0] if weigh else m_s, n)  # (n,): not per context
        fixed = np.maximum(mem - b * kb / bw0, 0.0)
        reps: Num = float(op.count)
        if weigh:
            slope = per_config(t_s[1] - t_s[0], n) / np.maximum(per_config(m_s[1] - m_s[0], n), 1e-300)
            reps = op.count * np.clip(slope, 1e-3, 1.0)
        out.append((kb, reps, fixed))
    kv = sum(op.count for op in ops if group_of(op) == "attention")
    return tuple(out), float(kv)
