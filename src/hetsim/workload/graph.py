"""Operator graph builder: one forward pass of a decoder-only transformer, per device.

Prefill runs ``batch`` sequences of ``q_len`` new tokens each; a decode step runs ``batch``
sequences of one new token against ``context`` cached tokens (the new one included).
Tensor parallelism (``tp``) splits heads, KV groups, FFN columns and the vocabulary, and adds
two all-reduces per layer. Shapes in comments are per device.

A pass is the layer frame (norms, residuals, all-reduces: the same in every layer) around
the blocks of each layer kind (:mod:`hetsim.workload.layers`): each mixer kind's ops repeated
over its layers, then each FFN kind's; then the embedding, final norm and LM head. Ops of a
kind are named ``kind.op`` where a model mixes kinds (``moe.ffn_up``, ``sliding.attention``).
"""

from __future__ import annotations

from hetsim.workload import layers
from hetsim.workload.blocks import embed
from hetsim.workload.blocks.common import AttentionImpl as AttentionImpl
from hetsim.workload.blocks.common import Pass, allreduce_op, norm_op, residual_op
from hetsim.workload.blocks.common import Shard as Shard
from hetsim.workload.blocks.moe import expected_experts as expected_experts
from hetsim.workload.dtypes import Precision
from hetsim.workload.expert_parallel import NO_EP, ExpertParallel
from hetsim.workload.footprint import embedding_bytes as embedding_bytes
from hetsim.workload.footprint import kv_bytes_per_token as kv_bytes_per_token
from hetsim.workload.footprint import weight_bytes as weight_bytes
from hetsim.workload.model import ModelSpec
from hetsim.workload.ops import Num, Op, Phase


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
    experts: ExpertParallel = NO_EP,
) -> list[Op]:
    """Ops of one forward pass on one device of a ``tp``-way group. ``shared_kv_reads``:
    a decode attention kernel reads each cached KV head once for its whole group of query
    heads (GQA-aware kernels); False: once per query head (masked-MHA kernels without GQA
    sharing, e.g. TensorRT-LLM before its XQA kernel). ``experts``: expert parallelism of the
    MoE layers (:mod:`hetsim.workload.expert_parallel`)."""
    p = Pass(
        model, prec, phase, batch, q_len, context, tp, Shard.of(model, tp), attention, shared_kv_reads,
        tokens=batch * q_len, wb=prec.weight_bytes_per_element, ab=prec.activation.bytes_per_element,
        kb=prec.kv.bytes_per_element, experts=experts,
    )  # fmt: skip
    L = model.n_layers
    mix = layers.layer_mix(model)
    ops: list[Op] = [norm_op(p, "attn_norm", L)]
    for kind, n in mix.mixers:
        ops += layers.mixer_block(model, kind).ops(p, mix.tag(kind, "mixer"), n, kind)
    if model.sandwich_norm:
        ops.append(norm_op(p, "attn_post_norm", L))
    if tp > 1:
        ops.append(allreduce_op(p, "attn_allreduce", L))
    if not model.parallel_block:
        ops.append(residual_op(p, "attn_residual", L))
    if not (model.parallel_block and model.family == "gptj"):
        ops.append(norm_op(p, "ffn_norm", L))
    for kind, n in mix.ffns:
        ops += layers.ffn_block(kind).ops(p, mix.tag(kind, "ffn"), n)
    if model.sandwich_norm:
        ops.append(norm_op(p, "ffn_post_norm", L))
    if tp > 1:
        ops.append(allreduce_op(p, "ffn_allreduce", L))
    ops.append(residual_op(p, "ffn_residual", L))
    if include_embeddings:
        ops += embed.ops(p)
    return ops
