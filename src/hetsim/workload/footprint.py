"""Bytes a model needs: its weights (in total and per device), the KV cache or state of the
sequences it serves, the activation workspace of a pass, and the weight split by placement
group. The one place these are computed: sim, serving and placement read them from here.

Per device of a ``tp`` x ``pp`` layout: a pipeline stage holds ceil(L / pp) layers (the
largest stage, which also holds the embeddings), each layer kind in proportion; tensor
parallelism divides every weight by ``tp`` except MLA's replicated down projections, divides
KV heads (replicated once tp exceeds them) but not MLA's latent, and divides linear layers'
state by their heads. Expert parallelism (``ep``) deals the routed experts out whole, E / ep
to a device; under DP attention each device holds its own rank's sequences (``batch`` is per
rank) with the rest of the model whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from hetsim.workload import layers
from hetsim.workload.blocks.common import Shard
from hetsim.workload.dtypes import Precision
from hetsim.workload.expert_parallel import NO_EP, ExpertParallel, routed_params_per_layer
from hetsim.workload.model import ModelSpec


class Layout(Protocol):
    """How a model is spread over devices (``sim.config.Options`` is one)."""

    @property
    def tp(self) -> int: ...
    @property
    def pp(self) -> int: ...
    @property
    def attention(self) -> str: ...
    @property
    def experts(self) -> ExpertParallel: ...


@dataclass(frozen=True, slots=True)
class Parallel:
    """A plain :class:`Layout`: tensor and pipeline parallel degrees, attention kernel,
    expert parallelism."""

    tp: int = 1
    pp: int = 1
    attention: str = "fused"
    experts: ExpertParallel = NO_EP


def embedding_bytes(model: ModelSpec, prec: Precision) -> float:
    """Bytes of the token embedding, learned positions, final norm and LM head (one copy): the
    embedding table at its own type, an untied LM head at the head's (see :class:`Precision`)."""
    head = 0 if model.tied_embeddings else model.vocab_size * model.d_model
    table = model.embedding_params - head
    return float(table * prec.embedding_bytes_per_element + head * prec.head_bytes_per_element)


def weight_bytes(model: ModelSpec, prec: Precision) -> float:
    """Bytes of all weights at their data types (group scales included)."""
    return float(prec.weight_nbytes(model.decoder_params)) + embedding_bytes(model, prec)


def state_bytes_per_element(prec: Precision) -> float:
    """Linear layers keep their recurrent state at the activation type (vLLM's
    ``mamba_ssm_cache_dtype`` "auto": the model's dtype)."""
    return prec.activation.bytes_per_element


def cache_bytes(
    model: ModelSpec,
    prec: Precision,
    batch: Any,
    context: Any,
    tp: int = 1,
    stage: float = 1.0,
    with_state: bool = True,
) -> Any:
    """KV cache and state of ``batch`` sequences of ``context`` tokens, per device of a ``tp``
    group holding ``stage`` of the layers: the one KV-or-state formula of
    :mod:`hetsim.workload.layers` at the KV and state data types."""
    kb = prec.kv.bytes_per_element
    total: Any = 0.0
    for kind, n in layers.layer_mix(model).mixers:
        per = layers.mixer_block(model, kind).cache_per_token(model, tp)
        if per:
            total = total + batch * layers.cache_tokens(model, kind, context) * per * (n * stage) * kb
    state = layers.state_elements(model, tp) if with_state else 0
    if state:
        total = total + batch * state * stage * state_bytes_per_element(prec)
    return total


def kv_bytes_per_token(model: ModelSpec, prec: Precision) -> float:
    """KV-cache bytes one more token adds, all layers, one copy (K and V; MLA's latent)."""
    return float(prec.kv.nbytes(model.kv_elements_per_token()))


def kv_bytes_per_token_device(model: ModelSpec, prec: Precision, tp: int = 1) -> float:
    """KV-cache bytes one more token of a sequence adds on one device of a ``tp`` group (what a
    paged KV cache allocates per token; windowed layers counted at full length)."""
    return float(cache_bytes(model, prec, 1, 1, tp, with_state=False))


def state_bytes_per_sequence(model: ModelSpec, prec: Precision, tp: int = 1) -> float:
    """Constant-size state of one sequence on one device (linear layers; 0 without)."""
    return float(layers.state_elements(model, tp) * state_bytes_per_element(prec))


def layer_weight_bytes(model: ModelSpec, prec: Precision, tp: int, ep: float = 1) -> float:
    """Weight bytes of a mean decoder layer on one device of a ``tp`` group (``ep`` > 1: the
    routed experts dealt whole over ``ep`` devices instead of split by ``tp``; a fraction where
    redundant replicas make the slots per device more than E / ep)."""
    if ep > 1:
        routed = routed_params_per_layer(model)
        split = prec.weight_nbytes(model.layer_params - routed) / tp + prec.weight_nbytes(routed) / ep
    else:
        split = prec.weight_nbytes(model.layer_params) / tp
    repl = layers.replicated_params(model)
    if repl:
        split = split + prec.weight_nbytes(repl / model.n_layers) * (1.0 - 1.0 / tp)
    return float(split)


def _widest(model: ModelSpec, sh: Shard) -> int:
    """The widest per-token intermediate of any block (or the vocabulary slice)."""
    mix = layers.layer_mix(model)
    widths = [layers.mixer_block(model, k).widest(model, sh) for k, _ in mix.mixers]
    widths += [layers.ffn_block(k).widest(model, sh) for k, _ in mix.ffns]
    return max(*widths, sh.vocab)


def footprint(
    model: ModelSpec,
    prec: Precision,
    batch: Any,
    seq_len: Any,
    opts: Layout | None = None,
    live_len: Any = None,
) -> dict[str, Any]:
    """Per-device bytes: weights, KV cache (and state) for ``seq_len`` tokens per sequence,
    and an activation workspace (the largest live pair of intermediate tensors) for the tokens
    one forward pass holds: ``live_len`` per sequence (the prompt; default ``seq_len``)."""
    opts = opts or Parallel()
    live = seq_len if live_len is None else live_len
    tp, pp = opts.tp, opts.pp
    sh = Shard.of(model, tp)
    stage_layers = -(-model.n_layers // pp)
    emb = embedding_bytes(model, prec) / tp
    weights = (
        layer_weight_bytes(model, prec, tp, _expert_divisor(model, opts.experts)) * stage_layers + emb
    )  # the stage with the embeddings
    kv = cache_bytes(model, prec, batch, seq_len, tp, stage_layers / model.n_layers)
    ab = prec.activation.bytes_per_element
    act = batch * live * (model.d_model + _widest(model, sh)) * ab
    if opts.attention == "unfused":
        act = act + batch * sh.heads * live * seq_len * ab
    return {"weights": weights, "kv_cache": kv, "activations": act, "total": weights + kv + act}


def split_weights(model: ModelSpec, prec: Precision, fp: dict[str, Any], tp: int) -> dict[str, float]:
    """Weights per device by placement group: qkv projections, the rest of the layers (output
    projection, FFN or experts, norms), embeddings + LM head (``fp`` from :func:`footprint`)."""
    wb = prec.weight_bytes_per_element
    emb = embedding_bytes(model, prec) / tp
    layer_bytes = float(np.max(fp["weights"])) - emb
    qkv_per_layer = layers.qkv_params(model) / model.n_layers
    share = qkv_per_layer * wb / max(float(prec.weight_nbytes(model.layer_params)), 1.0)
    qkv = layer_bytes * min(share, 1.0)
    return {"qkv": qkv, "fc": layer_bytes - qkv, "head": emb}


def _expert_divisor(model: ModelSpec, ex: ExpertParallel) -> float:
    """The share of the routed experts one device holds, as a divisor (``ep`` without
    redundant replicas or shared-expert devices)."""
    if ex.ep <= 1 or not model.is_moe:
        return 1
    return model.n_experts / ex.slots_per_device(model)
