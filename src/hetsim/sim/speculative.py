"""Speculative decoding in a run: the draft passes' cost and the drafter's footprint.

A decode step under :class:`~hetsim.workload.speculation.Speculation` is ``k`` sequential
draft passes and one verify pass of the target over k + 1 positions (the verify is built by
the run itself as a decode pass with ``q_len`` k + 1, priced by the run's placement pricer).
The draft passes run on the device's primary side (its calibrated kernels where it has them,
:func:`hetsim.cost.roofline.price`), each at least its host's dispatch time plus the
framework's per-pass step overhead; the step emits
:attr:`~hetsim.workload.speculation.Speculation.tokens_per_step` tokens on average, so
TPOT is the step's time over that.

The drafter's weights (a draft model's, or the MTP / EAGLE layer's; the LM head and embedding
are shared) and its KV cache for every sequence are added to the footprint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hetsim.cost.roofline import price, reference_factors
from hetsim.engines.host import Serving
from hetsim.hardware.spec import Device
from hetsim.workload.blocks.common import named
from hetsim.workload.dtypes import Precision
from hetsim.workload.expert_parallel import NO_EP, ExpertParallel
from hetsim.workload.footprint import Parallel, cache_bytes, footprint, layer_weight_bytes
from hetsim.workload.graph import build_ops
from hetsim.workload.model import ModelSpec
from hetsim.workload.ops import Num, Op
from hetsim.workload.speculation import PROJECTION_INPUTS, Speculation


@dataclass(frozen=True, slots=True)
class DraftCost:
    """One draft pass per sampled context (arrays shaped like the contexts): seconds on the
    device (before the host's bound), energy, flop, memory bytes, flop at the reference rate,
    and the kernels it launches."""

    time_s: Any
    energy_j: Any
    flop: Any
    memory_bytes: Any
    reference_flop: Any
    kernels: float


def _projection(spec: Speculation, m: ModelSpec, prec: Precision, batch: Num) -> list[Op]:
    """The fusion of hidden states into the draft layer's input (MTP: 2d -> d; EAGLE-3: 3d -> d)."""
    if spec.method not in PROJECTION_INPUTS:
        return []
    d, n = m.d_model, PROJECTION_INPUTS[spec.method]
    ab, wb = prec.activation.bytes_per_element, prec.weight_bytes_per_element
    return [Op(named("draft", "fuse_proj"), "fc", "gemm", "matrix", 1, flop=2.0 * batch * n * d * d,
               weight_bytes=n * d * d * wb, act_read_bytes=batch * n * d * ab, act_write_bytes=batch * d * ab,
               gemm_m=batch, gemm_n=float(d), gemm_k=float(n * d))]  # fmt: skip


def draft_ops(
    spec: Speculation, target: ModelSpec, prec: Precision, batch: Num, context: Num, tp: int,
    experts: ExpertParallel = NO_EP,
) -> list[Op]:  # fmt: skip
    """Ops of one draft pass: one new token per sequence against ``context`` cached tokens."""
    d = spec.drafter(target)
    ep = experts if experts.fits(d) else NO_EP
    ops = build_ops(d, prec, phase="decode", batch=batch, q_len=1.0, context=context, tp=tp, experts=ep)
    return _projection(spec, target, prec, batch) + ops


def draft_cost(
    spec: Speculation, target: ModelSpec, dev: Device, prec: Precision, batch: Num, context: Num,
    tp: int, experts: ExpertParallel = NO_EP,
) -> DraftCost:  # fmt: skip
    """One draft pass priced on the primary side, summed over its ops in their order."""
    ops = draft_ops(spec, target, prec, batch, context, tp, experts)
    costs = [price(op, dev, prec, tp) for op in ops]
    ref = reference_factors(ops, dev.primary.unit_for("matrix"), prec)

    def total(values: list[Num]) -> Any:
        acc: Any = 0.0
        for v in values:
            acc = acc + np.asarray(v, dtype=float)
        return acc

    return DraftCost(
        time_s=total([c.time_s for c in costs]),
        energy_j=total([c.energy_j for c in costs]),
        flop=total([c.flop for c in costs]),
        memory_bytes=total([c.bytes for o, c in zip(ops, costs, strict=True) if o.kind != "collective"]),
        reference_flop=total([c.flop * k for c, k in zip(costs, ref, strict=True)]),
        kernels=float(sum(o.count for o in ops)),
    )


def draft_step_s(
    spec: Speculation, dc: DraftCost, srv: Serving, dev: Device, batch: Num, n_layers: int
) -> Any:
    """Seconds of a step's ``k`` draft passes: each the longer of its device time and its
    host dispatch, plus the framework's per-pass overhead."""
    host = srv.host_pass_s(dc.kernels, n_layers, batch, "decode")
    return spec.tokens * (np.maximum(dc.time_s, host) + srv.step_s(dev))


@dataclass(frozen=True, slots=True)
class StepDrafts:
    """What a step's draft passes add (zeros without speculation): seconds and energy per
    sampled context, memory bytes, flop and reference flop; the tokens a step emits and the
    passes it makes (the framework's per-pass overhead is charged per pass)."""

    time_s: Any = 0.0
    energy_j: Any = 0.0
    memory_bytes: Any = 0.0
    flop: Any = 0.0
    reference_flop: Any = 0.0
    tokens_per_step: float = 1.0
    passes: float = 1.0


def step_drafts(
    spec: Speculation | None, target: ModelSpec, dev: Device, prec: Precision, batch: Num, context: Num,
    opts: Any, srv: Serving,
) -> StepDrafts:  # fmt: skip
    """The ``k`` draft passes of a speculative step (``opts``: the run's ``tp`` and ``experts``)."""
    if spec is None:
        return StepDrafts()
    dc = draft_cost(spec, target, dev, prec, batch, context, opts.tp, opts.experts)
    k = spec.tokens
    return StepDrafts(
        time_s=draft_step_s(spec, dc, srv, dev, batch, spec.drafter(target).n_layers),
        energy_j=k * dc.energy_j, memory_bytes=k * dc.memory_bytes, flop=k * dc.flop,
        reference_flop=k * dc.reference_flop, tokens_per_step=spec.tokens_per_step, passes=1.0 + k,
    )  # fmt: skip


def drafter_footprint(
    spec: Speculation, target: ModelSpec, prec: Precision, batch: Any, seq_len: Any, tp: int,
    experts: ExpertParallel = NO_EP,
) -> dict[str, Any]:  # fmt: skip
    """Per-device bytes the drafter adds: ``weights`` and ``kv_cache`` (its own cache of every
    sequence's ``seq_len`` tokens)."""
    d = spec.drafter(target)
    ep = d.n_experts / experts.slots_per_device(d) if experts.fits(d) else 1.0
    if spec.method == "draft":
        fp = footprint(d, prec, batch, seq_len, Parallel(tp=tp))
        return {"weights": fp["weights"], "kv_cache": fp["kv_cache"]}
    n = PROJECTION_INPUTS[spec.method]
    proj = float(prec.weight_nbytes(n * target.d_model**2)) / tp
    weights = layer_weight_bytes(d, prec, tp, ep) * d.n_layers + proj
    return {"weights": weights, "kv_cache": cache_bytes(d, prec, batch, seq_len, tp)}


def with_drafter(fp: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``fp`` with the drafter's weights and cache added (and to the total)."""
    out = dict(fp)
    for k in ("weights", "kv_cache"):
        out[k] = fp[k] + extra[k]
    out["total"] = fp["total"] + extra["weights"] + extra["kv_cache"]
    return out
