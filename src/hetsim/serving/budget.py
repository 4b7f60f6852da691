"""The paged KV cache an engine instance gets (:class:`KVBudget`), the checks that every
request can ever be served, and the iteration-cost tables of :mod:`hetsim.serving.pricing`
(cached per model, device, precision, tp and engine limits)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from hetsim.engines.batching import EngineConfig
from hetsim.errors import CapacityError, ConfigError
from hetsim.hardware.spec import Device
from hetsim.serving.pricing import IterationPricer, OpPricer, build_pricer
from hetsim.serving.requests import RequestSet
from hetsim.workload.dtypes import Precision
from hetsim.workload.expert_parallel import NO_EP, ExpertParallel
from hetsim.workload.footprint import (
    Parallel,
    footprint,
    kv_bytes_per_token_device,
    state_bytes_per_sequence,
)
from hetsim.workload.model import ModelSpec
from hetsim.workload.speculation import Speculation

_PRICERS: dict[tuple[Any, ...], tuple[IterationPricer, ModelSpec, Device]] = {}


@dataclass(frozen=True, slots=True)
class KVBudget:
    """The paged KV cache of one engine instance (per device of its TP group)."""

    total_blocks: int
    block_tokens: int
    kv_bytes_per_token: float  # per device
    weight_bytes: float  # per device
    kv_capacity_bytes: float  # per device
    workspace_bytes: float = 0.0  # activation workspace of a full iteration, per device


def kv_budget(
    model: ModelSpec,
    dev: Device,
    prec: Precision,
    eng: EngineConfig,
    tp: int,
    all_sides: bool = False,
    experts: ExpertParallel = NO_EP,
) -> KVBudget:
    """Blocks the engine can allocate: its share of device memory (the primary side, or every
    side with ``all_sides``) less weights and the activation workspace of a full iteration."""
    fp = footprint(model, prec, 1, eng.max_num_batched_tokens, Parallel(tp=tp, experts=experts))
    per_token = kv_bytes_per_token_device(model, prec, tp)
    sides = dev.sides if all_sides else (dev.primary,)
    cap = float(sum(side.memory.capacity_bytes for side in sides))
    state = eng.max_num_seqs * state_bytes_per_sequence(model, prec, tp)  # linear layers' (0 without)
    fixed = float(fp["weights"] + fp["activations"]) + state
    kv_mem = (
        eng.memory_utilization * (cap - fixed)
        if eng.utilization_of_free
        else eng.memory_utilization * cap - fixed
    )
    blocks = int(kv_mem // (per_token * eng.block_size)) if kv_mem > 0 else 0
    if blocks < 1:
        raise CapacityError(
            f"{model.name} at --tp {tp} needs {fixed / 1e9:.1f} GB per device for weights and workspace, "
            f"leaving no KV cache in {eng.memory_utilization:.0%} of {cap / 1e9:.1f} GB on {dev.name}; "
            "try a larger --tp or a smaller --weight-dtype"
        )
    return KVBudget(blocks, eng.block_size, per_token, float(fp["weights"]), kv_mem, float(fp["activations"]))


def with_drafter(kv: KVBudget, model: ModelSpec, prec: Precision, tp: int, spec: Speculation | None,
                 experts: ExpertParallel = NO_EP, dev: Device | None = None) -> KVBudget:  # fmt: skip
    """``kv`` less the drafter's weights, each token's KV with the drafter's beside it (a draft
    model keeps its own cache; MTP and EAGLE layers one layer's). A drafter on another side of
    ``dev`` holds its weights there (refused where they do not fit): the KV cache keeps them."""
    if spec is None:
        return kv
    from hetsim.serving.speculative import drafter_bytes

    w, per_token = drafter_bytes(spec, model, prec, tp, experts)
    if dev is not None and spec.side:
        from hetsim.sim.speculative import draft_side, reserve_drafter

        if draft_side(spec, dev) != 0:
            reserve_drafter(spec, model, dev, prec, tp, experts)  # fits its side, or a one-line refusal
            w = 0.0
    cap = kv.kv_capacity_bytes - w
    token = kv.kv_bytes_per_token + per_token
    blocks = int(cap // (token * kv.block_tokens)) if cap > 0 else 0
    if blocks < 1:
        raise CapacityError(f"the {spec.method} drafter's {w / 1e9:.1f} GB per device leaves no KV cache for "
                            f"{model.name}; try a larger --tp or a smaller drafter")  # fmt: skip
    return KVBudget(blocks, kv.block_tokens, token, kv.weight_bytes + w, cap, kv.workspace_bytes)


def check_requests(reqs: RequestSet, model: ModelSpec, eng: EngineConfig, kv: KVBudget) -> None:
    need = reqs.input_len + reqs.output_len
    over = need - model.max_seq_len
    if np.any(over > 0):
        i = int(np.argmax(over))
        raise ConfigError(
            f"request {i} needs {int(need[i])} tokens, {int(over[i])} more than the "
            f"{model.max_seq_len}-token context of {model.name}; shorten its --input-len/--output-len"
        )
    cap_tokens = kv.total_blocks * kv.block_tokens
    over = need - cap_tokens
    if np.any(over > 0):
        i = int(np.argmax(over))
        raise CapacityError(
            f"request {i} needs {int(need[i])} tokens of KV cache, {int(over[i])} more than the "
            f"{cap_tokens} the engine can ever hold; try a larger --tp or a smaller --kv-dtype"
        )
    if not eng.chunked_prefill:
        over = reqs.input_len - eng.max_num_batched_tokens
        if np.any(over > 0):
            i = int(np.argmax(over))
            raise ConfigError(
                f"request {i} has a {int(reqs.input_len[i])}-token prompt, {int(over[i])} over the engine's "
                f"{eng.max_num_batched_tokens} batched tokens without chunked prefill; enable chunked prefill"
            )


def get_pricer(
    model: ModelSpec, dev: Device, prec: Precision, eng: EngineConfig, tp: int, max_context: int,
    op_pricer: OpPricer | None = None, experts: ExpertParallel = NO_EP,
    speculation: Speculation | None = None,
) -> IterationPricer:  # fmt: skip
    """Iteration-cost tables, cached per (model, device, precision, tp, engine limits);
    ``speculation``: decode tokens priced per emitted token of a speculative step
    (:mod:`hetsim.serving.speculative`)."""
    ctx = 1 << max(10, math.ceil(math.log2(max(max_context, 2))))  # round up: reuse across runs
    k = speculation.tokens if speculation is not None else 0
    key = (
        id(model),
        id(dev),
        prec,
        tp,
        eng.max_num_batched_tokens,
        eng.max_num_seqs,
        ctx,
        id(op_pricer),
        experts,
        speculation,
        eng.step_overhead_s if k else 0.0,
        eng.serving,
    )
    hit = _PRICERS.get(key)
    if hit is not None and hit[1] is model and hit[2] is dev:
        return hit[0]
    pricer = build_pricer(  # a verify pass runs k + 1 positions of every decoding sequence
        model, dev, prec, tp=tp, max_tokens=eng.max_num_batched_tokens + k * eng.max_num_seqs,
        max_seqs=(k + 1) * eng.max_num_seqs, max_context=ctx, op_pricer=op_pricer, experts=experts,
        serving=eng.serving,
    )  # fmt: skip
    if speculation is not None:
        from hetsim.serving.speculative import speculative_tables

        pricer = speculative_tables(speculation, model, dev, prec, pricer, tp=tp,
                                    step_overhead_s=eng.step_overhead_s, experts=experts)  # fmt: skip
    if len(_PRICERS) > 32:
        _PRICERS.clear()
    _PRICERS[key] = (pricer, model, dev)
    return pricer
