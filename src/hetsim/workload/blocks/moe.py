"""Mixture-of-experts FFN: a router, top-k routing kernels, the routed experts as grouped GEMMs,
the combine, and shared experts every token passes through (DeepSeek-V2/V3, Llama 4,
Qwen3-Next). Layers before ``first_dense_layers`` (or off the ``moe_every`` step) are dense:
see :mod:`hetsim.workload.layers`.

Routing kernels (documented, vLLM ``model_executor/layers/fused_moe/fused_moe.py``):
``fused_topk`` runs ``topk_softmax`` over the router logits, ``fused_experts`` sorts the
token-expert pairs into per-expert blocks (``moe_align_block_size``), runs the two grouped GEMMs
(the second writes one row per token-expert pair, ``intermediate_cache3`` of shape
(M, top_k, d)), and ``moe_sum`` adds each token's top-k rows into its output. TensorRT-LLM's MoE
plugin has the same three steps (top-k gating softmax, permute, finalize routing). Each is a
small kernel: at decode they cost their launch and latency, at prefill the combine streams the
(T k, d) rows.

The experts a batch touches: uniform routing of T tokens to k of E experts touches
E (1 - (1 - k/E)^T) distinct experts in expectation, each reading its weights once.
"""

from __future__ import annotations

import numpy as np

from hetsim.workload.blocks.common import Pass, Shard, named
from hetsim.workload.blocks.ffn_dense import ffn_ops, ffn_params
from hetsim.workload.model import ModelSpec
from hetsim.workload.ops import Num, Op

INDEX_BYTES = 4.0  # int32 expert ids / fp32 routing weights per token-expert pair


def expected_experts(n_experts: int, top_k: int, tokens: Num) -> Num:
    """Expected number of distinct experts touched by ``tokens`` tokens routed uniformly to
    ``top_k`` of ``n_experts`` each: E (1 - (1 - k/E)^T)."""
    if n_experts == 1:
        return 1.0 if np.ndim(tokens) == 0 else np.ones(np.shape(tokens))
    return n_experts * (1.0 - np.power(1.0 - top_k / n_experts, tokens))


def shared_width(model: ModelSpec) -> int:
    """Width of the shared experts taken as one FFN (DeepSeek runs them as one MLP)."""
    return model.n_shared_experts * (model.shared_d_ff or model.d_ff)


def params(model: ModelSpec, active: bool = False) -> int:
    """One MoE layer: routed experts (``active``: the top-k), router, shared experts."""
    experts = model.experts_per_token if active else model.n_experts
    shared = ffn_params(model, shared_width(model)) if model.n_shared_experts else 0
    return experts * ffn_params(model, model.d_ff) + model.d_model * model.n_experts + shared


def widest(model: ModelSpec, sh: Shard) -> int:
    return (2 if model.ffn == "gated" else 1) * sh.d_ff


def routing_ops(p: Pass, tag: str, count: int) -> tuple[list[Op], Op]:
    """(the ops between the router GEMM and the first expert GEMM, the combine after the last)
    of ``count`` MoE layers on one device. The combine reads the (T k, d) expert outputs and
    writes (T, d)."""
    m, tokens, act_bytes = p.model, p.tokens, p.ab
    d, E, k = m.d_model, m.n_experts, m.experts_per_token
    routed = tokens * k
    topk = Op(
        named(tag, "moe_topk"),
        "fc",
        "softmax",
        "vector",
        count,
        flop=5.0 * tokens * E,
        act_read_bytes=tokens * E * act_bytes,  # (T, E) logits
        act_write_bytes=routed * 2 * INDEX_BYTES,  # (T, k) weights and ids
    )
    align = Op(
        named(tag, "moe_align"),
        "fc",
        "lookup",
        "vector",
        count,
        flop=0.0,
        act_read_bytes=routed * INDEX_BYTES,
        act_write_bytes=routed * INDEX_BYTES + E * INDEX_BYTES,  # sorted pair ids, per-expert offsets
    )
    combine = Op(
        named(tag, "moe_combine"),
        "fc",
        "elementwise",
        "vector",
        count,
        flop=2.0 * routed * d,  # weighted sum of each token's k rows
        act_read_bytes=routed * d * act_bytes + routed * INDEX_BYTES,
        act_write_bytes=tokens * d * act_bytes,
    )
    return [topk, align], combine


def all_to_all_op(p: Pass, tag: str, name: str, count: int) -> Op:
    """An expert-parallel dispatch (or combine) of ``count`` MoE layers: each device sends its
    tokens' k hidden-state rows to the devices holding their experts (``ep`` devices), and one
    more row to a shared-expert device where the group has them; a DP rank of ``tp`` devices
    holds its tokens on each, and each device sends a 1 / tp slice."""
    rows = p.tokens / p.tp * (p.model.experts_per_token + (1 if p.experts.shared_devices else 0))
    return Op(named(tag, name), "comm", "collective", "vector", count, flop=0.0,
              act_read_bytes=rows * p.model.d_model * p.ab, collective="all_to_all",
              group=p.experts.ep)  # fmt: skip


def ops(p: Pass, tag: str, count: int) -> list[Op]:
    """Router, routing, routed experts, combine and shared experts of ``count`` MoE layers."""
    m, T = p.model, p.tokens
    d, E, k = m.d_model, m.n_experts, m.experts_per_token
    router = Op(
        named(tag, "router"),
        "fc",
        "gemm",
        "matrix",
        count,
        flop=2.0 * T * d * E,
        weight_bytes=d * E * p.wb,
        act_read_bytes=T * d * p.ab,
        act_write_bytes=T * E * p.ab,
        gemm_m=T,
        gemm_n=float(E),
        gemm_k=float(d),
    )
    route, combine = routing_ops(p, tag, count)
    out = [router, *route]
    ep = p.experts
    if ep.ep > 1:  # whole experts, E / ep of them here, the busiest device's pairs
        routed, touched, width = ep.busiest_pairs(m, T), ep.touched(m, T), m.d_ff
    else:
        routed, touched, width = T * k, expected_experts(E, k, T), p.shard.d_ff
    if ep.dp > 1:
        out.append(all_to_all_op(p, tag, "moe_dispatch", count))
    shared_rows = ep.shared_rows(T)
    if ep.shared_devices and np.all(np.asarray(shared_rows) * shared_width(m) > np.asarray(routed) * width):
        # the busier device holds a shared-expert replica: its pass runs those rows
        out += ffn_ops(p, tag, count, routed=shared_rows, touched=1.0, d_ff=shared_width(m), moe=False,
                       prefix="shared")  # fmt: skip
    else:
        out += ffn_ops(p, tag, count, routed=routed, touched=touched, d_ff=width, moe=True)
    if ep.dp > 1:
        out.append(all_to_all_op(p, tag, "moe_combine_a2a", count))
    out.append(combine)  # each token's k expert rows summed (vLLM moe_sum)
    if m.n_shared_experts and not ep.shared_devices:
        width = -(-shared_width(m) // p.tp)
        out += ffn_ops(p, tag, count, routed=T * 1, touched=expected_experts(1, 1, T), d_ff=width, moe=False,
                       prefix="shared")  # fmt: skip
    return out
