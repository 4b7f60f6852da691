"""Which layers are which: a model's decoder layers as kinds with counts, and the one
KV-or-state formula.

Every layer has a token *mixer* and an *FFN*. The mixer of layer ``i`` is letter
``i mod len(pattern)`` of the model's attention pattern (G full, S sliding window, C chunked,
L linear); its FFN is dense, or MoE when the model has routed experts, ``i`` is past the
``first_dense_layers`` and ``(i + 1) % moe_every == 0`` (Llama 4's interleave step; DeepSeek's
``moe_layer_freq`` is 1 in every released config). Mixers and FFNs are counted separately: a
mixer's ops do not depend on the layer's FFN or the other way round, so a model of M mixer
kinds and F FFN kinds has M + F blocks of ops, each repeated its count times per pass.

The cache a sequence holds at ``context`` tokens, per device, for one layer of a kind:

  cached elements = per_token(kind) x tokens(kind, context) + state(kind)

- full (G): 2 kv_heads head_dim per token, every token (MLA: kv_lora_rank + qk_rope_dim);
- sliding (S): the same per token, at most ``sliding_window`` tokens (a rolling buffer);
- chunked (C): the same per token, at most ``attention_chunk`` tokens (the current chunk; the
  buffer is priced full once the first chunk is, a bound that never falls as context grows);
- linear (L): none per token; a state of v_heads k_dim v_dim plus the convolution's last
  ``linear_conv - 1`` inputs, whatever the context.

Footprint, the graph's KV reads and writes, the serving KV budget and placement all read it
through :func:`cache_elements_per_token`, :func:`cache_tokens` and the blocks' ``state``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from hetsim.workload.model import PATTERN_LETTERS, ModelSpec

if TYPE_CHECKING:
    from hetsim.workload.blocks.common import FfnBlock, MixerBlock


@dataclass(frozen=True, slots=True)
class LayerMix:
    """A model's layers by kind, in order of first appearance."""

    mixers: tuple[tuple[str, int], ...]  # (full | sliding | chunked | linear, layers)
    ffns: tuple[tuple[str, int], ...]  # (dense | moe, layers)

    def tag(self, kind: str, of: str) -> str:
        """The name prefix of a kind's ops: empty where the model has one kind of ``of``."""
        kinds = self.mixers if of == "mixer" else self.ffns
        return kind if len(kinds) > 1 else ""


def mixer_of(model: ModelSpec, i: int) -> str:
    pattern = model.pattern
    return PATTERN_LETTERS[pattern[i % len(pattern)]]


def ffn_of(model: ModelSpec, i: int) -> str:
    moe = model.is_moe and i >= model.first_dense_layers and (i + 1) % model.moe_every == 0
    return "moe" if moe else "dense"


@lru_cache(maxsize=256)
def layer_mix(model: ModelSpec) -> LayerMix:
    mixers = Counter(mixer_of(model, i) for i in range(model.n_layers))
    ffns = Counter(ffn_of(model, i) for i in range(model.n_layers))
    return LayerMix(tuple(mixers.items()), tuple(ffns.items()))


_BLOCKS: dict[str, Any] = {}  # block modules by kind, imported on first use (they import this module)


def _blocks() -> dict[str, Any]:
    if not _BLOCKS:
        from hetsim.workload.blocks import attention_gqa, ffn_dense, linear_attention, mla, moe

        _BLOCKS.update(gqa=attention_gqa, mla=mla, linear=linear_attention, dense=ffn_dense, moe=moe)
    return _BLOCKS


def mixer_block(model: ModelSpec, kind: str) -> MixerBlock:
    """The block module that builds a mixer kind (GQA attention, MLA or linear attention)."""
    blocks = _BLOCKS or _blocks()
    out: MixerBlock = blocks["linear" if kind == "linear" else "mla" if model.kv_lora_rank else "gqa"]
    return out


def ffn_block(kind: str) -> FfnBlock:
    out: FfnBlock = (_BLOCKS or _blocks())[kind]
    return out


def norm_params_per_layer(model: ModelSpec) -> int:
    per_norm = model.d_model * (2 if model.norm == "layernorm" else 1)
    n = 1 if model.parallel_block and model.family == "gptj" else 2
    return per_norm * (n + (2 if model.sandwich_norm else 0))


@lru_cache(maxsize=512)
def decoder_params(model: ModelSpec, active: bool = False) -> int:
    """Parameters of the decoder layers (``active``: those one token touches)."""
    mix = layer_mix(model)
    total = model.n_layers * norm_params_per_layer(model)
    for kind, n in mix.mixers:
        total += n * mixer_block(model, kind).params(model, kind)
    for kind, n in mix.ffns:
        total += n * ffn_block(kind).params(model, active=active)
    return total


def replicated_params(model: ModelSpec) -> int:
    """Decoder parameters every device of a tensor-parallel group holds whole (MLA's down
    projections); the rest divide by ``tp``."""
    mix = layer_mix(model)
    return sum(n * mixer_block(model, kind).replicated_params(model) for kind, n in mix.mixers)


def qkv_params(model: ModelSpec) -> int:
    """Decoder parameters of the projections placement moves as the "qkv" group."""
    mix = layer_mix(model)
    return sum(n * mixer_block(model, kind).qkv_params(model) for kind, n in mix.mixers)


def cache_tokens(model: ModelSpec, kind: str, context: Any) -> Any:
    """Tokens a layer of ``kind`` caches for a sequence of ``context`` tokens."""
    if kind == "linear":
        return 0.0
    if kind == "sliding":
        return np.minimum(context, model.sliding_window)
    if kind == "chunked":
        return np.minimum(context, model.attention_chunk)
    return context


def cache_elements_per_token(model: ModelSpec, tp: int = 1) -> int:
    """Cache elements one more token adds, all layers, per device of a ``tp`` group."""
    return sum(n * mixer_block(model, kind).cache_per_token(model, tp) for kind, n in layer_mix(model).mixers)


def state_elements(model: ModelSpec, tp: int = 1) -> int:
    """Constant-size state elements of one sequence, all layers, per device (linear layers)."""
    return sum(n * mixer_block(model, kind).state(model, tp) for kind, n in layer_mix(model).mixers)
