"""Softmax attention with grouped KV heads: MHA (kv_heads = heads), GQA, MQA (one KV head), in
full, sliding-window (S) or chunked (C) layers, with optional learned attention sinks, a
sigmoid output gate and per-head q/k norms.

Per layer: a fused QKV projection (which writes the new tokens' K and V to the cache), the
attention kernel (fused FlashAttention-style, or unfused score / softmax / context), the output
projection. A sliding-window layer attends to the last ``sliding_window`` tokens (Mistral 7B:
Jiang et al. 2023, arXiv 2310.06825, Sec. 2); a chunked layer to the tokens of its own chunk
of ``attention_chunk`` (Llama 4's local layers, ``attention_chunk_size`` 8192 in its
config.json). Sinks (gpt-oss, ``sinks`` of shape (heads,) per layer) add one logit per head and
query to the softmax.
"""

from __future__ import annotations

import numpy as np

from hetsim.workload.blocks.common import Pass, Shard, named
from hetsim.workload.layers import cache_tokens
from hetsim.workload.model import ModelSpec
from hetsim.workload.ops import Num, Op, Split


def params(model: ModelSpec, kind: str = "full") -> int:
    """Parameters of one attention layer (projections, biases, sinks, q/k norms)."""
    d, q, kv = model.d_model, model.q_dim, model.kv_dim
    weights = d * q + 2 * d * kv + q * d
    if model.attention_gate:
        weights += d * q  # the gate half of the q projection
    biases = 0
    if model.bias in ("qkv", "all"):
        biases += q + 2 * kv
    if model.bias == "all":
        biases += d
    extra = (model.n_heads if model.attention_sinks else 0) + (2 * model.head_dim if model.qk_norm else 0)
    return weights + biases + extra


def replicated_params(model: ModelSpec) -> int:
    return 0


def qkv_params(model: ModelSpec) -> int:
    """The QKV projection's weights (biases not counted, as the weight split always did)."""
    return model.d_model * (model.q_dim * (2 if model.attention_gate else 1) + 2 * model.kv_dim)


def cache_per_token(model: ModelSpec, tp: int) -> int:
    """K and V elements of one token in one layer, per device (KV heads replicated when tp
    exceeds their number)."""
    return 2 * max(1, model.n_kv_heads // tp) * model.head_dim


def state(model: ModelSpec, tp: int) -> int:
    return 0


def widest(model: ModelSpec, sh: Shard) -> int:
    """Widest per-token intermediate the block writes (the QKV projection's output)."""
    return sh.heads * model.head_dim * (2 if model.attention_gate else 1) + 2 * sh.kv_heads * model.head_dim


def causal_pairs(q_len: Num, context: Num, window: int) -> Num:
    """(query, key) pairs of one sequence whose last ``q_len`` of ``context`` tokens are new:
    sum over positions p = context - q_len + 1 .. context of min(p, window) (window 0: p)."""
    if window <= 0:
        return q_len * context - q_len * (q_len - 1) / 2

    def upto(n: Num) -> Num:  # sum of min(p, W) for p = 1 .. n
        n = np.asarray(n, dtype=float)
        out: Num = np.where(n <= window, n * (n + 1) / 2, window * (window + 1) / 2 + window * (n - window))
        return out

    return upto(context) - upto(np.asarray(context, dtype=float) - q_len)


def chunked_pairs(q_len: Num, context: Num, chunk: int) -> Num:
    """(query, key) pairs when position p attends to the positions of its own chunk up to p:
    ((p - 1) mod C) + 1 keys, summed over the new positions."""

    def upto(n: Num) -> Num:  # sum over p = 1 .. n of ((p - 1) mod C) + 1
        n = np.asarray(n, dtype=float)
        full, r = np.floor(n / chunk), np.mod(n, chunk)
        out: Num = full * chunk * (chunk + 1) / 2 + r * (r + 1) / 2
        return out

    return upto(context) - upto(np.asarray(context, dtype=float) - q_len)


def _pairs(p: Pass, kind: str) -> Num:
    m = p.model
    if kind == "chunked":
        if p.decode:  # the chunk buffer read whole once filled (see layers.py)
            return p.batch * np.minimum(p.context, m.attention_chunk)
        return p.batch * chunked_pairs(p.q_len, p.context, m.attention_chunk)
    window = m.sliding_window if kind == "sliding" else 0
    return p.batch * causal_pairs(p.q_len, p.context, window)


def ops(p: Pass, tag: str, count: int, kind: str) -> list[Op]:
    """QKV projection, attention and output projection of ``count`` layers of ``kind``."""
    m, sh, T = p.model, p.shard, p.tokens
    d, hd, wb, ab, kb = m.d_model, m.head_dim, p.wb, p.ab, p.kb
    qd, kvd = sh.heads * hd, sh.kv_heads * hd
    kv_split: Split = "kv_group" if m.n_kv_heads != m.n_heads else "head"
    pairs = _pairs(p, kind)
    n_qkv = qd * (2 if m.attention_gate else 1) + 2 * kvd
    out = [
        Op(
            named(tag, "qkv_proj"),
            "qkv",
            "gemm",
            "matrix",
            count,
            flop=2.0 * T * n_qkv * d,
            weight_bytes=d * n_qkv * wb,
            act_read_bytes=T * d * ab,
            act_write_bytes=T * (n_qkv - 2 * kvd) * ab,
            kv_write_bytes=T * 2 * kvd * kb,
            split=kv_split,
            n_parts=sh.kv_heads,
            gemm_m=T,
            gemm_n=float(n_qkv),
            gemm_k=float(d),
        )
    ]
    if m.qk_norm:
        out.append(Op(named(tag, "qk_norm"), "norm", "norm", "vector", count, flop=5.0 * T * (qd + kvd),
                      weight_bytes=2 * hd * wb, act_read_bytes=T * (qd + kvd) * ab,
                      act_write_bytes=T * (qd + kvd) * ab, rows=T))  # fmt: skip
    score_flop = 2.0 * sh.heads * hd * pairs
    softmax_flop = 5.0 * sh.heads * pairs + (5.0 * sh.heads * T if m.attention_sinks else 0.0)
    # K and V of every cached token (a decode step reads only the window's or chunk's buffer)
    tokens = cache_tokens(m, kind, p.context) if p.decode else p.context
    kv_bytes = p.batch * tokens * 2 * kvd * kb
    if p.decode and not p.shared_kv_reads:
        kv_bytes = kv_bytes * (sh.heads / sh.kv_heads)  # re-read for every query head of a group
    unit = "matvec" if p.decode else "matrix"
    parts = sh.kv_heads
    if p.attention == "fused":
        out.append(Op(named(tag, "attention"), "attention", "attention", unit, count,
                      flop=2 * score_flop + softmax_flop, kv_read_bytes=kv_bytes, act_read_bytes=T * qd * ab,
                      act_write_bytes=T * qd * ab, split=kv_split, n_parts=parts,
                      seqs=p.batch, head_dim=hd if p.decode else 0))  # fmt: skip
    else:
        scores = sh.heads * pairs * ab  # (B, heads, q_len, context) score matrix
        out += [
            Op(named(tag, "attn_score"), "attention", "attention", unit, count, flop=score_flop,
               kv_read_bytes=kv_bytes / 2, act_read_bytes=T * qd * ab, act_write_bytes=scores,
               split=kv_split, n_parts=parts),
            Op(named(tag, "softmax"), "attention", "softmax", "sfu", count, flop=softmax_flop,
               act_read_bytes=scores, act_write_bytes=scores, split=kv_split, n_parts=parts),
            Op(named(tag, "attn_context"), "attention", "attention", unit, count, flop=score_flop,
               kv_read_bytes=kv_bytes / 2, act_read_bytes=scores, act_write_bytes=T * qd * ab,
               split=kv_split, n_parts=parts),
        ]  # fmt: skip
    if m.attention_gate:  # sigmoid(gate) * attention output, per element
        out.append(Op(named(tag, "attn_gate"), "norm", "elementwise", "vector", count, flop=4.0 * T * qd,
                      act_read_bytes=2 * T * qd * ab, act_write_bytes=T * qd * ab))  # fmt: skip
    out.append(
        Op(
            named(tag, "out_proj"),
            "fc",
            "gemm",
            "matrix",
            count,
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
    return out
