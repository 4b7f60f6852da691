"""Mixture-of-experts counts: how many experts a batch touches, and the routing kernels an MoE
layer runs beside its router and expert GEMMs.

Routing kernels (documented, vLLM ``model_executor/layers/fused_moe/fused_moe.py``):
``fused_topk`` runs ``topk_softmax`` over the router logits, ``fused_experts`` sorts the
token-expert pairs into per-expert blocks (``moe_align_block_size``), runs the two grouped GEMMs
(the second writes one row per token-expert pair, ``intermediate_cache3`` of shape
(M, top_k, d)), and ``moe_sum`` adds each token's top-k rows into its output. TensorRT-LLM's MoE
plugin has the same three steps (top-k gating softmax, permute, finalize routing). Each is a
small kernel: at decode they cost their launch and latency, at prefill the combine streams the
(T k, d) rows.
"""

from __future__ import annotations

import numpy as np

from hetsim.workload.model import ModelSpec
from hetsim.workload.ops import Num, Op

INDEX_BYTES = 4.0  # int32 expert ids / fp32 routing weights per token-expert pair


def expected_experts(n_experts: int, top_k: int, tokens: Num) -> Num:
    """Expected number of distinct experts touched by ``tokens`` tokens routed uniformly to
    ``top_k`` of ``n_experts`` each: E (1 - (1 - k/E)^T)."""
    if n_experts == 1:
        return 1.0 if np.ndim(tokens) == 0 else np.ones(np.shape(tokens))
    return n_experts * (1.0 - np.power(1.0 - top_k / n_experts, tokens))


def routing_ops(model: ModelSpec, tokens: Num, act_bytes: float) -> tuple[list[Op], Op]:
    """(the ops between the router GEMM and the first expert GEMM, the combine after the last)
    of one MoE layer on one device for ``tokens`` tokens. The combine reads the (T k, d) expert
    outputs and writes (T, d)."""
    L, d, E, k = model.n_layers, model.d_model, model.n_experts, model.experts_per_token
    routed = tokens * k
    topk = Op(
        "moe_topk",
        "fc",
        "softmax",
        "vector",
        L,
        flop=5.0 * tokens * E,
        act_read_bytes=tokens * E * act_bytes,  # (T, E) logits
        act_write_bytes=routed * 2 * INDEX_BYTES,  # (T, k) weights and ids
    )
    align = Op(
        "moe_align",
        "fc",
        "lookup",
        "vector",
        L,
        flop=0.0,
        act_read_bytes=routed * INDEX_BYTES,
        act_write_bytes=routed * INDEX_BYTES + E * INDEX_BYTES,  # sorted pair ids, per-expert offsets
    )
    combine = Op(
        "moe_combine",
        "fc",
        "elementwise",
        "vector",
        L,
        flop=2.0 * routed * d,  # weighted sum of each token's k rows
        act_read_bytes=routed * d * act_bytes + routed * INDEX_BYTES,
        act_write_bytes=tokens * d * act_bytes,
    )
    return [topk, align], combine
