"""Feed-forward blocks: gated (SwiGLU / GeGLU: up and gate, activation x gate, down) or plain
(up, GELU, down). The same three ops serve one routed expert group of a MoE layer and its
shared experts (see :mod:`hetsim.workload.blocks.moe`); under tensor parallelism the FFN width
is split into column blocks."""

from __future__ import annotations

import numpy as np

from hetsim.workload.blocks.common import Pass, Shard, named
from hetsim.workload.model import ModelSpec
from hetsim.workload.ops import Num, Op


def ffn_params(model: ModelSpec, d_ff: int) -> int:
    """Parameters of one FFN of width ``d_ff`` (weights, and biases when the model has them)."""
    m = model.ffn_matrices
    w = m * model.d_model * d_ff
    b = (d_ff * (m - 1) + model.d_model) if model.bias == "all" else 0
    return w + b


def dense_width(model: ModelSpec) -> int:
    """Width of a dense layer's FFN (a MoE model's dense layers may be wider)."""
    return model.dense_d_ff or model.d_ff


def params(model: ModelSpec, active: bool = False) -> int:
    return ffn_params(model, dense_width(model))


def widest(model: ModelSpec, sh: Shard) -> int:
    width = -(-dense_width(model) // (model.n_heads // sh.heads))
    return (2 if model.ffn == "gated" else 1) * width


def ffn_ops(
    p: Pass,
    tag: str,
    count: int,
    *,
    routed: Num,
    touched: Num,
    d_ff: int,
    moe: bool,
    prefix: str = "ffn",
) -> list[Op]:
    """Up, activation and down of ``touched`` FFNs of per-device width ``d_ff`` over ``routed``
    token rows (a dense FFN: touched 1, routed = tokens). ``moe``: the down projection writes
    one row per token-expert pair (combined afterwards)."""
    m, sh = p.model, p.shard
    d, wb, ab = m.d_model, p.wb, p.ab
    n_up = (2 if m.ffn == "gated" else 1) * d_ff
    m_expert = routed / touched  # rows per touched expert
    act_flop = 4.0 if m.ffn == "gated" else 8.0  # SiLU*mul vs GELU, per output element
    return [
        Op(
            named(tag, f"{prefix}_up"),
            "fc",
            "gemm",
            "matrix",
            count,
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
        ),
        Op(
            named(tag, f"{prefix}_act"),
            "fc",
            "elementwise",
            "vector",
            count,
            flop=act_flop * routed * d_ff,
            act_read_bytes=routed * n_up * ab,
            act_write_bytes=routed * d_ff * ab,
            split="column",
            n_parts=sh.heads,
            # SiLU*mul is a row kernel (one block per token); a plain GELU is flat
            rows=routed if m.ffn == "gated" else 0.0,
        ),
        Op(
            named(tag, f"{prefix}_down"),
            "fc",
            "gemm",
            "matrix",
            count,
            flop=2.0 * routed * d_ff * d,
            weight_bytes=touched * d_ff * d * wb,
            act_read_bytes=routed * d_ff * ab,
            act_write_bytes=(routed if moe else p.tokens) * d * ab,  # MoE: one row per token-expert pair
            split="column",
            n_parts=sh.heads,
            gemm_m=m_expert,
            gemm_n=float(d),
            gemm_k=float(d_ff),
            gemm_groups=touched,
        ),
    ]


def ops(p: Pass, tag: str, count: int) -> list[Op]:
    """A dense layer's FFN."""
    width = -(-dense_width(p.model) // p.tp)
    touched = 1.0 if np.ndim(p.tokens) == 0 else np.ones(np.shape(p.tokens))  # one FFN, every token
    return ffn_ops(p, tag, count, routed=p.tokens * 1, touched=touched, d_ff=width, moe=False)
