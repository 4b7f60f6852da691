"""Operator graph builder: one forward pass of a decoder-only transformer, per device.

Prefill runs ``batch`` sequences of ``q_len`` new tokens each; a decode step runs ``batch``
sequences of one new token against ``context`` cached tokens (the new one included).
Tensor parallelism (``tp``) splits heads, KV groups, FFN columns and the vocabulary, and adds
two all-reduces per layer. Shapes in comments are per device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from hetsim.errors import ConfigError
from hetsim.workload.dtypes import Precision
from hetsim.workload.model import ModelSpec
from hetsim.workload.moe import expected_experts as expected_experts
from hetsim.workload.moe import routing_ops
from hetsim.workload.ops import Num, Op, Phase, Split

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
        return cls(
            heads=model.n_heads // tp,
            kv_heads=max(1, kv // tp),
            d_ff=-(-model.d_ff // tp),
            vocab=-(-model.vocab_size // tp),
        )


def _causal_pairs(q_len: Num, context: Num, window: int) -> Num:
    """(query, key) pairs of one sequence whose last ``q_len`` of ``context`` tokens are new:
    sum over positions p = context - q_len + 1 .. context of min(p, window) (window 0: p)."""
    if window <= 0:
        return q_len * context - q_len * (q_len - 1) / 2

    def upto(n: Num) -> Num:  # sum of min(p, W) for p = 1 .. n
        n = np.asarray(n, dtype=float)
        out: Num = np.where(n <= window, n * (n + 1) / 2, window * (window + 1) / 2 + window * (n - window))
        return out

    return upto(context) - upto(np.asarray(context, dtype=float) - q_len)


def build_ops(
    model: ModelSpec,
    prec: Precision,
    *,
    phase: Phase,
    batch: Num,
    q_len: Num,
    context: Num,
    tp: int = 1,
    attention: AttentionImpl = "fused",
    include_embeddings: bool = True,
    shared_kv_reads: bool = True,
) -> list[Op]:
    """Ops of one forward pass on one device of a ``tp``-way group. ``shared_kv_reads``:
    a decode attention kernel reads each cached KV head once for its whole group of query
    heads (GQA-aware kernels); False: once per query head (masked-MHA kernels without GQA
    sharing, e.g. TensorRT-LLM before its XQA kernel)."""
    sh = Shard.of(model, tp)
    L, d, hd = model.n_layers, model.d_model, model.head_dim
    wb, ab, kb = (
        prec.weight_bytes_per_element,
        prec.activation.bytes_per_element,
        prec.kv.bytes_per_element,
    )
    T = batch * q_len  # tokens in this pass
    qd, kvd = sh.heads * hd, sh.kv_heads * hd
    kv_split: Split = "kv_group" if model.n_kv_heads != model.n_heads else "head"
    # (query, key) pairs under a causal mask: new tokens at the end of ``context``, each seeing
    # at most the last ``sliding_window`` tokens (Mistral's sliding-window attention)
    pairs = batch * _causal_pairs(q_len, context, model.sliding_window)
    ops: list[Op] = []

    def norm(name: str) -> Op:
        return Op(
            name,
            "norm",
            "norm",
            "vector",
            L,
            flop=5.0 * T * d,
            weight_bytes=d * wb,
            act_read_bytes=T * d * ab,
            act_write_bytes=T * d * ab,
            rows=T,
        )

    def residual(name: str) -> Op:
        return Op(
            name,
            "norm",
            "elementwise",
            "vector",
            L,
            flop=1.0 * T * d,
            act_read_bytes=2 * T * d * ab,
            act_write_bytes=T * d * ab,
        )

    def allreduce(name: str) -> Op:
        return Op(name, "comm", "collective", "vector", L, flop=1.0 * T * d, act_read_bytes=T * d * ab)

    ops.append(norm("attn_norm"))
    n_qkv = qd + 2 * kvd
    ops.append(
        Op(
            "qkv_proj",
            "qkv",
            "gemm",
            "matrix",
            L,
            flop=2.0 * T * n_qkv * d,
            weight_bytes=d * n_qkv * wb,
            act_read_bytes=T * d * ab,
            act_write_bytes=T * qd * ab,
            kv_write_bytes=T * 2 * kvd * kb,
            split=kv_split,
            n_parts=sh.kv_heads,
            gemm_m=T,
            gemm_n=float(n_qkv),
            gemm_k=float(d),
        )
    )
    score_flop = 2.0 * sh.heads * hd * pairs
    # K and V of every cached token (a decode step reads only the window's: the rolling buffer)
    kv_bytes = batch * (model.kv_tokens(context) if phase == "decode" else context) * 2 * kvd * kb
    if phase == "decode" and not shared_kv_reads:
        kv_bytes = kv_bytes * (sh.heads / sh.kv_heads)  # re-read for every query head of a group
    attn_unit = "matvec" if phase == "decode" else "matrix"
    if attention == "fused":
        ops.append(
            Op(
                "attention",
                "attention",
                "attention",
                attn_unit,
                L,
                flop=2 * score_flop + 5.0 * sh.heads * pairs,
                kv_read_bytes=kv_bytes,
                act_read_bytes=T * qd * ab,
                act_write_bytes=T * qd * ab,
                split=kv_split,
                n_parts=sh.kv_heads,
            )
        )
    else:
        scores = sh.heads * pairs * ab  # (B, heads, q_len, context) score matrix
        ops.append(
            Op(
                "attn_score",
                "attention",
                "attention",
                attn_unit,
                L,
                flop=score_flop,
                kv_read_bytes=kv_bytes / 2,
                act_read_bytes=T * qd * ab,
                act_write_bytes=scores,
                split=kv_split,
                n_parts=sh.kv_heads,
            )
        )
        ops.append(
            Op(
                "softmax",
                "attention",
                "softmax",
                "sfu",
                L,
                flop=5.0 * sh.heads * pairs,
                act_read_bytes=scores,
                act_write_bytes=scores,
                split=kv_split,
                n_parts=sh.kv_heads,
            )
        )
        ops.append(
            Op(
                "attn_context",
                "attention",
                "attention",
                attn_unit,
                L,
                flop=score_flop,
                kv_read_bytes=kv_bytes / 2,
                act_read_bytes=scores,
                act_write_bytes=T * qd * ab,
                split=kv_split,
                n_parts=sh.kv_heads,
            )
        )
    ops.append(
        Op(
            "out_proj",
            "fc",
            "gemm",
            "matrix",
            L,
            flop=2.0 * T * qd * d,
            weight_bytes=qd * d * wb,
            act_read_bytes=T * qd * ab,
            act_write_bytes=T * d * ab,
            split="column",
            n_parts=sh.heads,
            gemm_m=T,
            gemm_n=float(d),
            gemm_k=float(qd),
        )
    )
    if tp > 1:
        ops.append(allreduce("attn_allreduce"))
    if not model.parallel_block:
        ops.append(residual("attn_residual"))
    if not (model.parallel_block and model.family == "gptj"):
        ops.append(norm("ffn_norm"))

    k = model.experts_per_token
    routed = T * k  # token-expert pairs
    touched = expected_experts(model.n_experts, k, T)
    if model.is_moe:
        E = model.n_experts
        ops.append(
            Op(
                "router",
                "fc",
                "gemm",
                "matrix",
                L,
                flop=2.0 * T * d * E,
                weight_bytes=d * E * wb,
                act_read_bytes=T * d * ab,
                act_write_bytes=T * E * ab,
                gemm_m=T,
                gemm_n=float(E),
                gemm_k=float(d),
            )
        )
        route, combine = routing_ops(model, T, ab)
        ops.extend(route)
    n_up = (2 if model.ffn == "gated" else 1) * sh.d_ff
    m_expert = routed / touched  # rows per touched expert
    ops.append(
        Op(
            "ffn_up",
            "fc",
            "gemm",
            "matrix",
            L,
            flop=2.0 * routed * d * n_up,
            weight_bytes=touched * d * n_up * wb,
            act_read_bytes=routed * d * ab,
            act_write_bytes=routed * n_up * ab,
            split="column",
            n_parts=sh.heads,
            gemm_m=m_expert,
            gemm_n=float(n_up),
            gemm_k=float(d),
            gemm_groups=touched,
        )
    )
    act_flop = 4.0 if model.ffn == "gated" else 8.0  # SiLU*mul vs GELU, per output element
    ops.append(
        Op(
            "ffn_act",
            "fc",
            "elementwise",
            "vector",
            L,
            flop=act_flop * routed * sh.d_ff,
            act_read_bytes=routed * n_up * ab,
            act_write_bytes=routed * sh.d_ff * ab,
            split="column",
            n_parts=sh.heads,
            # SiLU*mul is a row kernel (one block per token); a plain GELU is flat
            rows=routed if model.ffn == "gated" else 0.0,
        )
    )
    ops.append(
        Op(
            "ffn_down",
            "fc",
            "gemm",
            "matrix",
            L,
            flop=2.0 * routed * sh.d_ff * d,
            weight_bytes=touched * sh.d_ff * d * wb,
            act_read_bytes=routed * sh.d_ff * ab,
            act_write_bytes=(routed if model.is_moe else T) * d * ab,  # MoE: one row per token-expert pair
            split="column",
            n_parts=sh.heads,
            gemm_m=m_expert,
            gemm_n=float(d),
            gemm_k=float(sh.d_ff),
            gemm_groups=touched,
        )
    )
    if model.is_moe:
        ops.append(combine)  # each token's k expert rows summed (vLLM moe_sum)
    if tp > 1:
        ops.append(allreduce("ffn_allreduce"))
    ops.append(residual("ffn_residual"))

    if include_embeddings:
        ops.append(
            Op(
                "embedding",
                "embed",
                "lookup",
                "vector",
                1,
                flop=0.0,
                weight_bytes=T * d * prec.embedding_bytes_per_element,
                act_write_bytes=T * d * ab,
            )
        )
        ops.append(
            Op(
                "final_norm",
                "norm",
                "norm",
                "vector",
                1,
                flop=5.0 * batch * d,
                weight_bytes=d * wb,
                act_read_bytes=batch * d * ab,
                act_write_bytes=batch * d * ab,
                rows=batch,
            )
        )
        # logits for the last position of each sequence only
        ops.append(
            Op(
                "lm_head",
                "lm_head",
                "gemm",
                "matrix",
                1,
                flop=2.0 * batch * d * sh.vocab,
                weight_bytes=d * sh.vocab * prec.head_bytes_per_element,
                act_read_bytes=batch * d * ab,
                act_write_bytes=batch * sh.vocab * ab,
                split="column",
                n_parts=sh.heads,
                gemm_m=batch,
                gemm_n=float(sh.vocab),
                gemm_k=float(d),
            )
        )
    return ops


def embedding_bytes(model: ModelSpec, prec: Precision) -> float:
    """Bytes of the token embedding, learned positions, final norm and LM head (one copy): the
    embedding table at its own type, an untied LM head at the head's (see :class:`Precision`)."""
    table = model.embedding_params - (0 if model.tied_embeddings else model.vocab_size * model.d_model)
    head = 0 if model.tied_embeddings else model.vocab_size * model.d_model
    return float(table * prec.embedding_bytes_per_element + head * prec.head_bytes_per_element)


def weight_bytes(model: ModelSpec, prec: Precision) -> float:
    """Bytes of all weights at their data types (group scales included)."""
    return float(prec.weight_nbytes(model.decoder_params)) + embedding_bytes(model, prec)


def kv_bytes_per_token(model: ModelSpec, prec: Precision) -> float:
    """KV-cache bytes per token, all layers (K and V)."""
    return float(prec.kv.nbytes(model.kv_elements_per_token()))
