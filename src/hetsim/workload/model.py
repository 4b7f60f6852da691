"""Frozen decoder-only model specs: the architecture facts of a ``config.json``, flat.

A :class:`ModelSpec` holds only facts. Which layers are of which kind (full, sliding-window,
chunked or linear attention; dense or MoE FFN) is derived in :mod:`hetsim.workload.layers`;
parameters, the KV cache and the ops of each kind come from its block in
:mod:`hetsim.workload.blocks`. The sizes below delegate to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np

from hetsim.errors import ConfigError
from hetsim.units import yaml_number_hint

FfnKind = Literal["gated", "plain"]
NormKind = Literal["rmsnorm", "layernorm"]
BiasKind = Literal["none", "qkv", "all"]
MAX_SIZE = 2**31  # largest accepted layer count / width / vocabulary (keeps counts finite)
PATTERN_LETTERS = {"G": "full", "S": "sliding", "C": "chunked", "L": "linear"}


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A decoder-only transformer. Sizes are element counts; ``d_ff`` is per routed expert
    (the whole FFN of a dense model)."""

    name: str
    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    d_ff: int
    vocab_size: int
    ffn: FfnKind = "gated"
    n_experts: int = 1
    experts_per_token: int = 1
    norm: NormKind = "rmsnorm"
    bias: BiasKind = "none"
    tied_embeddings: bool = False
    learned_positions: int = 0  # rows of a learned position table (0: rotary / relative)
    parallel_block: bool = False  # attention and FFN read the same normed input (GPT-J, Falcon)
    max_seq_len: int = 4096
    # sliding-window attention: each token attends to the last ``sliding_window`` tokens and the
    # KV cache is a rolling buffer of that many (Mistral 7B v0.1: 4,096; 0: full attention)
    sliding_window: int = 0
    # ---- which layers are which (see layers.py) -------------------------------------------
    # the per-layer token mixers, a unit repeated over the layers: G full attention, S sliding
    # window, C chunked attention, L linear attention with a constant-size state ("" : every
    # layer S with a sliding window, else G). Gemma 3 "SSSSSG", gpt-oss "SG", Llama 4 "CCCG".
    attention_pattern: str = ""
    attention_chunk: int = 0  # C layers attend within chunks of this many tokens (Llama 4: 8192)
    attention_sinks: bool = False  # a learned sink logit per head in the softmax (gpt-oss)
    attention_gate: bool = False  # the q projection also emits a sigmoid output gate (Qwen3-Next)
    qk_norm: bool = False  # an RMSNorm over each q and k head (Qwen3, Gemma 3, GLM-4.5)
    sandwich_norm: bool = False  # norms after attention and after the FFN as well (Gemma 2/3)
    # multi-head latent attention (DeepSeek-V2): the cache holds a ``kv_lora_rank`` latent and a
    # ``qk_rope_dim`` RoPE key per token and layer, shared by every head (0: not MLA)
    kv_lora_rank: int = 0
    q_lora_rank: int = 0  # 0: queries projected directly from the hidden state
    qk_rope_dim: int = 0
    qk_nope_dim: int = 0
    v_head_dim: int = 0
    # linear-attention layers (gated DeltaNet; a Mamba-2 layer is the same shape with key heads
    # = value heads, key dim = d_state): state of v_heads x k_dim x v_dim per sequence
    linear_k_heads: int = 0
    linear_v_heads: int = 0
    linear_k_dim: int = 0
    linear_v_dim: int = 0
    linear_conv: int = 0  # causal depthwise convolution width over q, k, v (0: none)
    # mixture of experts beyond routed top-k
    n_shared_experts: int = 0  # experts every token passes through
    shared_d_ff: int = 0  # width of one shared expert (0: d_ff)
    first_dense_layers: int = 0  # the first layers have a dense FFN (DeepSeek first_k_dense_replace)
    moe_every: int = 1  # layer i is MoE when (i + 1) % moe_every == 0 (Llama 4 interleave step)
    dense_d_ff: int = 0  # width of the dense FFN of a MoE model's dense layers (0: d_ff)
    # tokens of the busiest expert over the mean under uniform routing (1: balanced): what an
    # expert-parallel step waits for; a stated parameter, never fitted
    moe_imbalance: float = 1.0
    mtp_layers: int = 0  # multi-token-prediction modules shipped beside the model (DeepSeek-V3: 1)
    family: str = "llama"
    source: str = ""  # where the architecture numbers come from
    published_params: float | None = None  # the model card's parameter count, for checks
    published_active_params: float | None = None  # the model card's active count (MoE)
    # what the card's active count leaves out: "" (nothing), "embedding" (the input table: a
    # lookup reads one row), "embedding+head" (both tables); read from how each card counts
    published_active_excludes: str = ""
    aliases: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"model name must be non-empty text, got {self.name!r}")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "int" and (
                isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SIZE
            ):
                raise ConfigError(
                    f"model {self.name!r}: {f.name} must be a whole number from 0 to {MAX_SIZE}, "
                    f"got {value!r}{yaml_number_hint(value)}"
                )
            if f.type == "str" and not isinstance(value, str):
                raise ConfigError(f"model {self.name!r}: {f.name} must be text, got {value!r}")
            if f.type == "bool" and not isinstance(value, bool):
                raise ConfigError(f"model {self.name!r}: {f.name} must be true or false")
        positive = ("n_layers", "d_model", "n_heads", "n_kv_heads", "head_dim", "d_ff", "vocab_size",
                    "moe_every")  # fmt: skip
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"model {self.name!r}: {name} must be positive")
        if self.n_heads % self.n_kv_heads:
            raise ConfigError(
                f"model {self.name!r}: n_heads ({self.n_heads}) must be a multiple of "
                f"n_kv_heads ({self.n_kv_heads})"
            )
        if not 1 <= self.experts_per_token <= self.n_experts:
            raise ConfigError(f"model {self.name!r}: experts_per_token must be between 1 and n_experts")
        if self.ffn not in ("gated", "plain"):
            raise ConfigError(f"model {self.name!r}: ffn must be 'gated' or 'plain'")
        if self.norm not in ("rmsnorm", "layernorm"):
            raise ConfigError(f"model {self.name!r}: norm must be 'rmsnorm' or 'layernorm'")
        if self.bias not in ("none", "qkv", "all"):
            raise ConfigError(f"model {self.name!r}: bias must be 'none', 'qkv' or 'all'")
        for pub_name in ("published_params", "published_active_params"):
            pub = getattr(self, pub_name)
            if pub is not None and (isinstance(pub, bool) or not isinstance(pub, int | float)
                                    or not 0 < pub < 1e15):  # fmt: skip
                raise ConfigError(f"model {self.name!r}: {pub_name} must be a positive number, got "
                                  f"{pub!r}{yaml_number_hint(pub)}")  # fmt: skip
        imb = self.moe_imbalance
        if isinstance(imb, bool) or not isinstance(imb, int | float) or not 1.0 <= imb <= 1e6:
            raise ConfigError(f"model {self.name!r}: moe_imbalance must be a number >= 1 (1: balanced), "
                              f"got {imb!r}")  # fmt: skip
        if self.published_active_excludes not in ("", "embedding", "embedding+head"):
            raise ConfigError(f"model {self.name!r}: published_active_excludes must be '', 'embedding' or "
                              "'embedding+head'")  # fmt: skip
        if not all(isinstance(a, str) for a in self.aliases):
            raise ConfigError(f"model {self.name!r}: aliases must be a list of names")
        self._check_layer_mix()

    def _check_layer_mix(self) -> None:
        where = f"model {self.name!r}"
        odd = sorted(set(self.attention_pattern) - set(PATTERN_LETTERS))
        if odd:
            raise ConfigError(f"{where}: attention_pattern letter {odd[0]!r} is not one of G (full), "
                              "S (sliding window), C (chunked), L (linear)")  # fmt: skip
        pattern = self.pattern
        needs = {"S": ("sliding_window",), "C": ("attention_chunk",),
                 "L": ("linear_k_heads", "linear_v_heads", "linear_k_dim", "linear_v_dim")}  # fmt: skip
        for letter, names in needs.items():
            for name in names:
                if letter in pattern and getattr(self, name) <= 0:
                    raise ConfigError(f"{where}: attention_pattern has {letter} layers but {name} is 0")
        if self.has_linear_layers and self.linear_v_heads % self.linear_k_heads:
            raise ConfigError(f"{where}: linear_v_heads must be a multiple of linear_k_heads")
        if self.kv_lora_rank and not (self.qk_rope_dim and self.qk_nope_dim and self.v_head_dim):
            raise ConfigError(f"{where}: an MLA model (kv_lora_rank > 0) needs qk_rope_dim, qk_nope_dim "
                              "and v_head_dim")  # fmt: skip
        if self.n_shared_experts and not self.is_moe:
            raise ConfigError(f"{where}: n_shared_experts needs routed experts (n_experts > 1)")
        if self.first_dense_layers > self.n_layers:
            raise ConfigError(f"{where}: first_dense_layers exceeds the {self.n_layers} layers")

    # ---- the layer mix ------------------------------------------------------------------
    @property
    def pattern(self) -> str:
        """The repeating unit of per-layer mixers (``attention_pattern``, or its default)."""
        return self.attention_pattern or ("S" if self.sliding_window > 0 else "G")

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def has_linear_layers(self) -> bool:
        return "L" in self.pattern

    # ---- derived sizes (elements) -------------------------------------------------------
    @property
    def q_dim(self) -> int:
        return self.n_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.n_kv_heads * self.head_dim

    @property
    def group_size(self) -> int:
        """Query heads per KV head (1 for MHA, n_heads for MQA)."""
        return self.n_heads // self.n_kv_heads

    @property
    def attention_kind(self) -> str:
        if self.is_mla:
            return "MLA"
        if self.n_kv_heads == self.n_heads:
            return "MHA"
        return "MQA" if self.n_kv_heads == 1 else "GQA"

    @property
    def is_moe(self) -> bool:
        return self.n_experts > 1

    @property
    def ffn_matrices(self) -> int:
        return 3 if self.ffn == "gated" else 2

    @property
    def expert_params(self) -> int:
        """Parameters of one routed expert's FFN (the whole FFN of a dense model)."""
        from hetsim.workload.blocks import ffn_dense

        return ffn_dense.ffn_params(self, self.d_ff)

    @property
    def embedding_params(self) -> int:
        """Token embedding, learned positions, final norm and (untied) LM head."""
        from hetsim.workload.blocks import embed

        return embed.params(self)

    @property
    def decoder_params(self) -> int:
        """Parameters of the decoder layers only (no embeddings or LM head)."""
        from hetsim.workload import layers

        return layers.decoder_params(self)

    @property
    def layer_params(self) -> float:
        """Mean parameters per decoder layer (a whole number when every layer is alike)."""
        return self.decoder_params / self.n_layers

    @property
    def params(self) -> int:
        """Total parameter count (multi-token-prediction modules excluded, as model cards do)."""
        return self.decoder_params + self.embedding_params

    @property
    def active_params(self) -> int:
        """Parameters one token touches (top-k and shared experts for MoE)."""
        from hetsim.workload import layers

        return layers.decoder_params(self, active=True) + self.embedding_params

    @property
    def active_params_as_published(self) -> int:
        """:attr:`active_params` counted the way the model card counts (see
        ``published_active_excludes``)."""
        table = self.vocab_size * self.d_model
        out = self.active_params
        if self.published_active_excludes.startswith("embedding"):
            out -= table
        if self.published_active_excludes.endswith("+head") and not self.tied_embeddings:
            out -= table
        return out

    @property
    def mtp_params(self) -> int:
        """Parameters of the multi-token-prediction modules (0 without)."""
        from hetsim.workload.blocks import embed

        return embed.mtp_params(self)

    def kv_tokens(self, context: Any) -> Any:
        """Cached tokens a sequence of ``context`` tokens holds in its full or sliding-window
        layers (the legacy one-window view; per layer kind see :mod:`hetsim.workload.layers`)."""
        if self.sliding_window <= 0:
            return context
        return np.minimum(context, self.sliding_window)

    def kv_elements_per_token(self) -> int:
        """KV-cache elements one more token adds, all layers (K and V of each attention layer,
        the latent and RoPE key of an MLA layer; linear layers add none)."""
        from hetsim.workload import layers

        return layers.cache_elements_per_token(self)
