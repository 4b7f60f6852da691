"""The plan of a placed run: the weights split into the placed groups, the problem a policy
places, and the decode's weight-reading kernels offload balances on (per configuration)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from hetsim.cost.roofline import op_cost
from hetsim.hardware.spec import Device
from hetsim.placement.balance import achieved_bandwidth, balance
from hetsim.placement.phase import price_phase
from hetsim.placement.policies import Problem, fits, offload_sides
from hetsim.placement.record import GroupPlacement, Placement, group_of
from hetsim.workload.dtypes import Precision
from hetsim.workload.footprint import split_weights as split_weights  # re-exported: computed in workload/
from hetsim.workload.ops import FloatArray, Num, Op

if TYPE_CHECKING:
    from hetsim.sim.placed import Pricer


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
    ops: list[Op], dev: Device, prec: Precision, n: int
) -> tuple[tuple[tuple[Num, float, Num], ...], float]:
    """((weight bytes of one, repetitions, local seconds that do not scale with the weight
    share) of each GEMM that reads a weight group; kernels per step that read the KV cache):
    what offload's balance is found from (Problem.weight_kernels). The fixed seconds are the
    primary's priced memory phase at the balanced share less that share of the weights at
    the achieved bandwidth (activations, split-K partials). Bytes and seconds are per
    configuration (shape (n,): a mixture-of-experts layer reads more experts at a larger
    batch), never reduced over configurations."""
    sides = offload_sides(dev)
    b = balance(dev, sides)
    side = dev.sides[0]
    out: list[tuple[Num, float, Num]] = []
    for op in ops:
        if op.kind != "gemm" or group_of(op) in (None, "attention"):
            continue
        kb = per_config(op.weight_bytes, n)
        if not np.any(kb > 0):
            continue
        shape = np.shape(op.weight_bytes)
        part = dataclasses.replace(
            op, weight_bytes=b * kb.reshape(shape) if shape else b * float(kb[0]), count=1
        )
        c = op_cost(
            part,
            side.unit_for(op.prefers),
            side.memory,
            prec,
            kernels=dev.kernels,
            vector=side.unit_for("vector"),
        )
        bw0 = achieved_bandwidth(dev, 0, b * kb)
        mem = per_config(c.memory_s, n)  # (n,): not per context
        fixed = np.maximum(mem - b * kb / bw0, 0.0)
        out.append((kb, float(op.count), fixed))
    kv = sum(op.count for op in ops if group_of(op) == "attention")
    return tuple(out), float(kv)


# the weight shares priced beside the balance (:func:`priced_target`): one grid for every
# device, so a device with more bandwidth prices every share the slower one could choose
WEIGHT_SHARES = np.linspace(0.0, 1.0, 9)
VECTOR_MAX = 4096  # candidates x configurations priced at once


def priced_target(pricer: Pricer, pre_ops: list[Op], dec_ops: list[Op], contexts: FloatArray) -> Num | None:
    """The weights' share target of ``pricer``'s policy that makes its run fastest, per
    configuration: the balance :func:`~hetsim.placement.balance.weight_balance` found and
    each share of :data:`WEIGHT_SHARES`, each placed by the policy and priced (the prefill
    plus the decode's steps, the KV cache at the decode's contexts), the fastest whose
    placement holds the full-length run (the balance where none does; the balance on a tie).
    The balance alone is a model of the decode's weight reads: it knows neither the room
    the policy's fill leaves (a full PIM side pushed the FC weights back onto HBM, so a wider
    PIM link made hbm-pim under pim-attention slower: e2e 3.70846 -> 3.70851 s, llama2-13b
    B=47 P=1703) nor what a share costs the KV cache (a split KV cache pays the route's
    latency per kernel: doubling every bandwidth of a hbm-pim copy made offload slower at
    B=1, 0.0591224 -> 0.0591286 s). The minimum of the priced run over the same shares on
    every device is never slower on a device with more bandwidth (each share is)."""
    target = pricer.weight_target
    if target is None:
        return target
    n = pricer.n
    cands = [per_config(target, n), *(np.full(n, x) for x in WEIGHT_SHARES)]
    full = pricer.P + pricer.G
    # the ops outside the placed groups (norms, residuals, collectives) take the same time
    # whatever the split: left out of the comparison
    pre_g = [op for op in pre_ops if group_of(op) is not None]
    dec_g = [op for op in dec_ops if group_of(op) is not None]
    totals: list[FloatArray] = []
    # candidates along a leading axis, as many at once as keep the arrays small (the same
    # values element by element as one at a time)
    per = max(VECTOR_MAX // n, 1)
    try:
        for i in range(0, len(cands), per):
            c = np.stack(cands[i : i + per])[:, None, :]
            pricer.weight_target = c
            pre_pl = pricer.place(pricer.P, "prefill")[0].placement
            dec_pl = pricer.place(contexts, "decode")[0].placement
            if per >= len(cands) and _constant(pre_pl) and _constant(dec_pl):
                return target  # no configuration's placement depends on the target: a tie
            p_end = pricer.problem_at(full, "prefill")
            ok = np.asarray(fits(p_end, pricer.fn(p_end).placement))
            run = _time(pricer, pre_g, pre_pl) + pricer.G * _time(pricer, dec_g, dec_pl)
            totals += list(np.where(np.broadcast_to(ok, np.shape(c)).reshape(run.shape), run, np.inf))
    finally:
        pricer.weight_target = target
    best = np.argmin(np.stack(totals), axis=0)  # the first of equals: the balance on a tie
    out: FloatArray = np.take_along_axis(np.stack(cands), best[None], axis=0)[0]
    return out


def _constant(pl: Placement) -> bool:
    """Whether every share of ``pl`` is the same along its leading candidate axis."""
    return all(
        np.ndim(x) < 3 or bool(np.all(np.asarray(x) == np.asarray(x)[:1]))
        for g in pl.groups.values()
        for x in g.shares
    )


def _time(pricer: Pricer, ops: list[Op], pl: Placement) -> FloatArray:
    """``ops`` priced under ``pl`` as the run prices them, the decode's steps averaged over
    its contexts: per configuration (N,), or (C, N) where the weights' target carries a
    leading candidate axis (C, 1, N)."""
    from hetsim.sim.placed import DECODE_SAMPLES, mean_ctx

    kv = pl.groups["attention"]
    k = DECODE_SAMPLES
    if any(np.ndim(x) >= 2 and np.shape(x)[-2] == k > 1 for x in kv.shares):  # KV appends mid-decode
        writes = tuple(np.take(x, [k // 2], axis=-2) if np.ndim(x) >= 2 and np.shape(x)[-2] == k else x
                       for x in kv.shares)  # fmt: skip
        pl = dataclasses.replace(pl, kv_writes=GroupPlacement(writes, kv.compute))
    t = np.asarray(price_phase(ops, pricer.dev, pricer.prec, pl, tp=pricer.tp, overlap=pricer.overlap,
                               detail=False, overlap_transfers=pricer.overlap_transfers).time_s)  # fmt: skip
    tw = pricer.weight_target
    if tw is not None and np.ndim(tw) == 3:  # (C, K or 1, N): the contexts' mean per candidate
        c = int(np.shape(tw)[0])
        arr = np.broadcast_to(t, (c, *t.shape[-2:]) if t.ndim >= 2 else (c, 1, pricer.n))
        out: FloatArray = np.stack([per_config(mean_ctx(a), pricer.n, np.max) for a in arr])
        return out
    return per_config(mean_ctx(t), pricer.n, np.max)
