"""What every block builder reads: the pass (one forward pass on one device of a ``tp``-way
group), the per-device shard sizes, and the norm, residual and all-reduce ops a layer wraps its
blocks in. Counts only; shapes in comments are per device."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from hetsim.errors import ConfigError
from hetsim.workload.dtypes import Precision
from hetsim.workload.expert_parallel import NO_EP, ExpertParallel
from hetsim.workload.model import ModelSpec
from hetsim.workload.ops import Num, Op, Phase

AttentionImpl = Literal["fused", "unfused"]


@dataclass(frozen=True, slots=True)
class Shard:
    """Per-device sizes under tensor parallelism ``tp``."""

    heads: int
    kv_heads: int  # KV heads held per device (replicated when tp > n_kv_heads)
    d_ff: int
    vocab: int

    @classmethod
    def of(cls, model: ModelSpec, tp: int) -> Shard:
        if tp < 1:
            raise ConfigError(f"tp must be at least 1, got {tp}")
        if model.n_heads % tp:
            raise ConfigError(
                f"--tp {tp} does not divide the {model.n_heads} attention heads of {model.name}; "
                "choose a divisor"
            )
        kv = model.n_kv_heads
        if kv % tp and tp % kv:
            raise ConfigError(f"--tp {tp} and the {kv} KV heads of {model.name} do not divide")
        if model.has_linear_layers and (model.linear_k_heads % tp or model.linear_v_heads % tp):
            raise ConfigError(
                f"--tp {tp} does not divide the {model.linear_k_heads} key / {model.linear_v_heads} value "
                f"heads of {model.name}'s linear-attention layers; choose a divisor"
            )
        return cls(
            heads=model.n_heads // tp,
            kv_heads=max(1, kv // tp),
            d_ff=-(-model.d_ff // tp),
            vocab=-(-model.vocab_size // tp),
        )


@dataclass(frozen=True, slots=True)
class Pass:
    """One forward pass on one device: ``batch`` sequences of ``q_len`` new tokens each, the
    last ``q_len`` of ``context`` tokens (a decode step: ``q_len`` 1)."""

    model: ModelSpec
    prec: Precision
    phase: Phase
    batch: Num
    q_len: Num
    context: Num
    tp: int
    shard: Shard
    attention: AttentionImpl
    shared_kv_reads: bool
    tokens: Num  # batch x q_len, the tokens of this pass
    wb: float  # bytes per weight (group scales included)
    ab: float  # bytes per activation
    kb: float  # bytes per KV-cache element
    experts: ExpertParallel = NO_EP  # expert parallelism of the MoE layers

    @property
    def lm_rows(self) -> Num:
        """Rows the LM head computes logits for: each sequence's last position, every new
        position of a decode pass over several (a speculative verify step)."""
        return self.tokens if self.decode else self.batch

    @property
    def decode(self) -> bool:
        return self.phase == "decode"


def named(tag: str, base: str) -> str:
    """An op's name: ``base``, prefixed by its layer kind where a model mixes kinds."""
    return f"{tag}.{base}" if tag else base


def norm_op(p: Pass, name: str, count: int, width: int | None = None) -> Op:
    """A row-parallel norm over ``width`` (default d_model) elements of every token."""
    T, w = p.tokens, width if width is not None else p.model.d_model
    return Op(
        name,
        "norm",
        "norm",
        "vector",
        count,
        flop=5.0 * T * w,
        weight_bytes=w * p.wb,
        act_read_bytes=T * w * p.ab,
        act_write_bytes=T * w * p.ab,
        rows=T,
    )


def residual_op(p: Pass, name: str, count: int) -> Op:
    T, d = p.tokens, p.model.d_model
    return Op(
        name,
        "norm",
        "elementwise",
        "vector",
        count,
        flop=1.0 * T * d,
        act_read_bytes=2 * T * d * p.ab,
        act_write_bytes=T * d * p.ab,
    )


def allreduce_op(p: Pass, name: str, count: int) -> Op:
    T, d = p.tokens, p.model.d_model
    return Op(name, "comm", "collective", "vector", count, flop=1.0 * T * d, act_read_bytes=T * d * p.ab)


class MixerBlock(Protocol):
    """What a token-mixer block module provides (``attention_gqa``, ``mla``, ``linear_attention``)."""

    def params(self, model: ModelSpec, kind: str = ...) -> int: ...
    def replicated_params(self, model: ModelSpec) -> int: ...
    def qkv_params(self, model: ModelSpec) -> int: ...
    def cache_per_token(self, model: ModelSpec, tp: int) -> int: ...
    def state(self, model: ModelSpec, tp: int) -> int: ...
    def widest(self, model: ModelSpec, sh: Shard) -> int: ...
    def ops(self, p: Pass, tag: str, count: int, kind: str) -> list[Op]: ...


class FfnBlock(Protocol):
    """What an FFN block module provides (``ffn_dense``, ``moe``)."""

    def params(self, model: ModelSpec, active: bool = ...) -> int: ...
    def widest(self, model: ModelSpec, sh: Shard) -> int: ...
    def ops(self, p: Pass, tag: str, count: int) -> list[Op]: ...
