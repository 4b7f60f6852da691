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

**The drafter on another side** (``Speculation.side``, e.g. a GPU drafting for a target that a
host CPU verifies, as Dovetail does): the draft passes are priced on that side's units and
memory (:func:`side_device`); the target's verify is the run's own decode pass, whose
activations (the residual stream, the logits) live on the primary side. Each step then hands
the drafted tokens from the draft side to the primary and the verdict back (the accepted
tokens, and for a head that drafts from the target's features, the target's hidden states of
the k + 1 verified positions), two messages over the link between the sides, each paying the
link's latency and its bytes at the link's bandwidth (:func:`handoff_s`); after the prefill,
the prompt's features (or tokens) cross once. Nothing overlaps: a step's drafts need the last
verdict, and its verify needs every draft. The drafter's weights are held on its side, whose
room for the target shrinks by them (:func:`reserve_drafter`); a drafter that does not fit is
refused. Its KV cache is placed with the target's (a batch-1 run's few MB).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from hetsim.cost.roofline import price, reference_factors
from hetsim.engines.host import Serving
from hetsim.errors import CapacityError, ConfigError
from hetsim.hardware.spec import Device, Link
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
    """Ops of one draft pass: one new token per sequence against ``context`` cached tokens
    (at the drafter's own weight type where ``spec.dtype`` gives one)."""
    prec = drafter_precision(spec, prec)
    d = spec.drafter(target)
    ep = experts if experts.fits(d) else NO_EP
    ops = build_ops(d, prec, phase="decode", batch=batch, q_len=1.0, context=context, tp=tp, experts=ep)
    return _projection(spec, target, prec, batch) + ops


def draft_cost(
    spec: Speculation, target: ModelSpec, dev: Device, prec: Precision, batch: Num, context: Num,
    tp: int, experts: ExpertParallel = NO_EP,
) -> DraftCost:  # fmt: skip
    """One draft pass priced on the drafter's side (the primary unless ``spec.side`` names
    another), summed over its ops in their order."""
    ops = draft_ops(spec, target, prec, batch, context, tp, experts)
    prec = drafter_precision(spec, prec)
    dev = side_device(dev, draft_side(spec, dev))
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
    passes it makes (the framework's per-pass overhead is charged per pass). With the drafter
    on another side: ``handoff_s`` (a step's two link messages, inside ``time_s``), and that
    side's matrix peak and memory bandwidth (``peak_flop_per_s``, ``bw_bytes_per_s``; 0 on the
    primary), which the decode's MFU and MBU count beside the target's sides."""

    time_s: Any = 0.0
    energy_j: Any = 0.0
    memory_bytes: Any = 0.0
    flop: Any = 0.0
    reference_flop: Any = 0.0
    tokens_per_step: float = 1.0
    passes: float = 1.0
    handoff_s: Any = 0.0
    peak_flop_per_s: float = 0.0
    bw_bytes_per_s: float = 0.0


def step_drafts(
    spec: Speculation | None, target: ModelSpec, dev: Device, prec: Precision, batch: Num, context: Num,
    opts: Any, srv: Serving,
) -> StepDrafts:  # fmt: skip
    """The ``k`` draft passes of a speculative step (``opts``: the run's ``tp`` and ``experts``)."""
    if spec is None:
        return StepDrafts()
    dc = draft_cost(spec, target, dev, prec, batch, context, opts.tp, opts.experts)
    k = spec.tokens
    s = draft_side(spec, dev)
    hand_s, hand_j, peak, bw = 0.0, 0.0, 0.0, 0.0
    if s != 0:
        link = side_link(dev, s)
        step_bytes = handoff_bytes(spec, target, prec, batch)
        hand_s = handoff_s(link, step_bytes[0]) + handoff_s(link, step_bytes[1])
        hand_j = link.energy_j_per_bit * 8.0 * (step_bytes[0] + step_bytes[1])
        side = dev.sides[s]
        peak = side.unit_for("matrix").peak(drafter_precision(spec, prec).compute)
        bw = side.memory.bandwidth_bytes_per_s
    return StepDrafts(
        time_s=draft_step_s(spec, dc, srv, dev, batch, spec.drafter(target).n_layers) + hand_s,
        energy_j=k * dc.energy_j + hand_j, memory_bytes=k * dc.memory_bytes, flop=k * dc.flop,
        reference_flop=k * dc.reference_flop, tokens_per_step=spec.tokens_per_step, passes=1.0 + k,
        handoff_s=hand_s, peak_flop_per_s=peak, bw_bytes_per_s=bw,
    )  # fmt: skip


def drafter_footprint(
    spec: Speculation, target: ModelSpec, prec: Precision, batch: Any, seq_len: Any, tp: int,
    experts: ExpertParallel = NO_EP,
) -> dict[str, Any]:  # fmt: skip
    """Per-device bytes the drafter adds: ``weights`` and ``kv_cache`` (its own cache of every
    sequence's ``seq_len`` tokens)."""
    prec = drafter_precision(spec, prec)
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


def drafter_precision(spec: Speculation, prec: Precision) -> Precision:
    """The drafter's data types: ``spec.dtype``'s (weights, activations and cache of that type,
    as an engine that casts the draft does), else the run's."""
    return Precision.of(spec.dtype) if spec.dtype else prec


TOKEN_ID_BYTES = 4.0  # a token id as an int32, as PyTorch / vLLM hand them between devices
# hidden states of the target a head drafts from, per position (the token's embedding is
# looked up on the drafter's side): MTP the last layer's; EAGLE-3 a low, a middle and a high layer's
FEATURES = {"mtp": 1, "eagle": 3}


def draft_side(spec: Speculation, dev: Device) -> int:
    """The index of the side whose units run the drafter (0 without ``spec.side``); a side the
    device does not have, or one without compute units, is refused."""
    if not spec.side:
        return 0
    names = [side.name for side in dev.sides]
    if spec.side not in names:
        raise ConfigError(
            f"--spec side={spec.side}: {dev.name} has no side {spec.side!r}; its sides are {', '.join(names)}"
        )
    s = names.index(spec.side)
    if not dev.sides[s].units:
        raise ConfigError(
            f"--spec side={spec.side}: side {spec.side!r} of {dev.name} has no compute units to run a "
            f"drafter; pick one of {', '.join(x.name for x in dev.sides if x.units)}"
        )
    return s


def side_device(dev: Device, s: int) -> Device:
    """``dev`` seen from side ``s`` alone (its units and memory; the primary's calibrated
    kernels and launch overhead stay with the primary): a one-side device to price on."""
    if s == 0:
        return dev
    return dataclasses.replace(dev, name=f"{dev.name}:{dev.sides[s].name}", sides=(dev.sides[s],),
                               side_link=None, links=(), kernels=None)  # fmt: skip


def side_link(dev: Device, s: int) -> Link:
    """The link between side ``s`` and the primary; a device that joins them by none is refused."""
    a, b = dev.sides[0].name, dev.sides[s].name
    for sl in dev.side_links():
        if {sl.a, sl.b} == {a, b}:
            return sl.link
    raise ConfigError(
        f"--spec side={b}: {dev.name} has no link between {b!r} and the primary side {a!r}, so the drafts "
        "cannot reach the verify; pick a side linked to the primary"
    )


def handoff_s(link: Link, nbytes: Any) -> Any:
    """Seconds of one message of ``nbytes`` over ``link``: its latency plus the bytes at the
    bandwidth a transfer reaches (never zero: a link has a finite bandwidth)."""
    return link.latency_s + np.asarray(nbytes, dtype=float) / (link.bandwidth_bytes_per_s * link.efficiency)


def handoff_bytes(spec: Speculation, target: ModelSpec, prec: Precision, batch: Num) -> tuple[Any, Any]:
    """Bytes of a step's two messages: the k drafted tokens to the verify, and back the
    verdict: the accepted tokens and the target's next token (k + 1 ids), with, for a head
    that drafts from the target's features (eagle, mtp), the target's hidden states
    (:data:`FEATURES`) at each of the k + 1 verified positions."""
    k = spec.tokens
    out = batch * k * TOKEN_ID_BYTES
    back = batch * (k + 1) * TOKEN_ID_BYTES
    if spec.method in FEATURES:
        per = FEATURES[spec.method] * target.d_model * prec.activation.bytes_per_element
        back = back + batch * (k + 1) * per
    return out, back


def prompt_handoff_s(
    spec: Speculation | None, target: ModelSpec, dev: Device, prec: Precision, batch: Num, prompt: Num
) -> Any:
    """Seconds of the prompt's hand-off to a drafter on another side after the prefill: every
    prompt token's id and, for a feature-fed head, its hidden states (0 on the primary)."""
    if spec is None or draft_side(spec, dev) == 0:
        return 0.0
    per = TOKEN_ID_BYTES
    if spec.method in FEATURES:
        per = per + FEATURES[spec.method] * target.d_model * prec.activation.bytes_per_element
    return handoff_s(side_link(dev, draft_side(spec, dev)), batch * np.asarray(prompt, dtype=float) * per)


def reserve_drafter(
    spec: Speculation | None, target: ModelSpec, dev: Device, prec: Precision, tp: int,
    experts: ExpertParallel = NO_EP,
) -> Device:  # fmt: skip
    """``dev`` with the drafter's weights taken out of its side's memory (the room the target's
    placement sees there), when the drafter runs off the primary (a head's with a copy of the
    target's embedding and LM head, which its passes read there); a drafter whose weights do
    not fit its side is refused with both sizes."""
    if spec is None or draft_side(spec, dev) == 0:
        return dev
    s = draft_side(spec, dev)
    need = float(drafter_footprint(spec, target, prec, 1.0, 1.0, tp, experts)["weights"])
    if spec.method != "draft":  # a head shares the target's embedding and LM head: a copy on its side
        tables = 1 if target.tied_embeddings else 2
        need += (
            float(drafter_precision(spec, prec).weight_nbytes(tables * target.vocab_size * target.d_model))
            / tp
        )
    side = dev.sides[s]
    room = side.memory.capacity_bytes
    if need >= room:
        raise CapacityError(
            f"the drafter's weights ({need / 1e9:.3g} GB) do not fit side {side.name!r} of {dev.name} "
            f"({room / 1e9:.3g} GB); use a smaller drafter or another side"
        )
    mem = dataclasses.replace(side.memory, capacity_bytes=room - need)
    sides = tuple(dataclasses.replace(x, memory=mem) if i == s else x for i, x in enumerate(dev.sides))
    return dataclasses.replace(dev, sides=sides)
