"""Frozen transformer model specs and their derived sizes (parameters, KV bytes per token).

A :class:`ModelSpec` holds only architecture facts; counts of work live in :mod:`graph`.
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


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A decoder-only transformer. Sizes are element counts; ``d_ff`` is per expert."""

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
    family: str = "llama"
    source: str = ""  # where the architecture numbers come from
    published_params: float | None = None  # the model card's parameter count, for checks
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
        positive = (
            "n_layers",
            "d_model",
            "n_heads",
            "n_kv_heads",
            "head_dim",
            "d_ff",
            "vocab_size",
        )
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
        for flag in ("tied_embeddings", "parallel_block"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"model {self.name!r}: {flag} must be true or false")
        pub = self.published_params
        if pub is not None and (isinstance(pub, bool) or not isinstance(pub, int | float)
                                or not 0 < pub < 1e15):  # fmt: skip
            raise ConfigError(f"model {self.name!r}: published_params must be a positive number, got "
                              f"{pub!r}{yaml_number_hint(pub)}")  # fmt: skip
        if not all(isinstance(a, str) for a in self.aliases):
            raise ConfigError(f"model {self.name!r}: aliases must be a list of names")

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
    def attn_params_per_layer(self) -> int:
        d = self.d_model
        weights = d * self.q_dim + 2 * d * self.kv_dim + self.q_dim * d
        biases = 0
        if self.bias in ("qkv", "all"):
            biases += self.q_dim + 2 * self.kv_dim
        if self.bias == "all":
            biases += d
        return weights + biases

    @property
    def expert_params(self) -> int:
        """Parameters of one expert's FFN (the whole FFN of a dense model)."""
        w = self.ffn_matrices * self.d_model * self.d_ff
        b = (self.d_ff * (self.ffn_matrices - 1) + self.d_model) if self.bias == "all" else 0
        return w + b

    @property
    def norm_params_per_layer(self) -> int:
        per_norm = self.d_model * (2 if self.norm == "layernorm" else 1)
        return per_norm * (1 if self.parallel_block and self.family == "gptj" else 2)

    @property
    def router_params_per_layer(self) -> int:
        return self.d_model * self.n_experts if self.is_moe else 0

    @property
    def layer_params(self) -> int:
        return (
            self.attn_params_per_layer
            + self.n_experts * self.expert_params
            + self.router_params_per_layer
            + self.norm_params_per_layer
        )

    @property
    def embedding_params(self) -> int:
        """Token embedding, learned positions, final norm and (untied) LM head."""
        emb = self.vocab_size * self.d_model + self.learned_positions * self.d_model
        head = 0 if self.tied_embeddings else self.vocab_size * self.d_model
        final_norm = self.d_model * (2 if self.norm == "layernorm" else 1)
        return emb + head + final_norm

    @property
    def params(self) -> int:
        """Total parameter count."""
        return self.n_layers * self.layer_params + self.embedding_params

    @property
    def decoder_params(self) -> int:
        """Parameters of the decoder layers only (no embeddings or LM head)."""
        return self.n_layers * self.layer_params

    @property
    def active_params(self) -> int:
        """Parameters one token touches (top-k experts for MoE)."""
        dense = self.params - self.n_layers * self.n_experts * self.expert_params
        return dense + self.n_layers * self.experts_per_token * self.expert_params

    def kv_tokens(self, context: Any) -> Any:
        """Cached tokens a sequence of ``context`` tokens holds and attends to (the window)."""
        if self.sliding_window <= 0:
            return context
        return np.minimum(context, self.sliding_window)

    def kv_elements_per_token(self) -> int:
        """K and V elements stored per token, all layers."""
        return 2 * self.n_layers * self.kv_dim
