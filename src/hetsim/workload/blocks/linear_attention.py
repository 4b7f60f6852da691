"""Linear-attention layers with a constant-size state: gated DeltaNet (Yang, Kautz and
Hatamizadeh, "Gated Delta Networks", arXiv 2412.06464; the linear layers of Qwen3-Next). A
Mamba-2 layer (Dao and Gu, arXiv 2405.21060) has the same shape with key heads = value heads
and key dim = d_state.

Per layer (shapes per token, per device of a ``tp`` group; k = key heads x k_dim, v = value
heads x v_dim): an input projection d -> q, k (k each), v, z (v each) and one decay and one
write strength per value head; a causal depthwise convolution of width ``linear_conv`` over
q, k, v; the recurrence; a gated RMSNorm per value head; an output projection v -> d.

The recurrence keeps S (value heads x k_dim x v_dim) per sequence:
S <- a S + b (v - a S k) k^T, output S q. Per token and value head: decay (k_dim v_dim), the
read S k (2 k_dim v_dim), the rank-one write (2 k_dim v_dim) and the output S q (2 k_dim v_dim):
**8 k_dim v_dim flop**, and a decode step reads and writes S once: its cost does not grow with
the context. Prefill runs the chunked form (chunk C = 64, flash-linear-attention's
``chunk_gated_delta_rule``): per token and head the state terms (4 k_dim v_dim: S q and the
chunk's k^T v into S) plus the causal intra-chunk products (q k^T and k k^T over the chunk,
then scores x v: 2 C (k_dim + v_dim)); S is read and written once per sequence.
The state is kept at the activation type (vLLM's ``mamba_ssm_cache_dtype`` "auto").
"""

from __future__ import annotations

from hetsim.workload.blocks.common import Pass, Shard, named
from hetsim.workload.model import ModelSpec
from hetsim.workload.ops import Op

CHUNK = 64  # tokens per chunk of the chunked prefill form (flash-linear-attention default)
DECODE_FLOP_PER_STATE = 8.0  # per state element and token (see the module text)
PREFILL_FLOP_PER_STATE = 4.0


def _dims(model: ModelSpec, tp: int) -> tuple[int, int, int, int]:
    """(key heads, value heads, key width, value width) per device."""
    nk, nv = model.linear_k_heads // tp, model.linear_v_heads // tp
    return nk, nv, nk * model.linear_k_dim, nv * model.linear_v_dim


def _proj_width(model: ModelSpec, tp: int) -> int:
    """Output width of the input projection: q, k, v, z, and a decay and a strength per head."""
    _, nv, kd, vd = _dims(model, tp)
    return 2 * kd + 2 * vd + 2 * nv


def _conv_dim(model: ModelSpec, tp: int) -> int:
    _, _, kd, vd = _dims(model, tp)
    return 2 * kd + vd


def params(model: ModelSpec, kind: str = "linear") -> int:
    _, nv, _, vd = _dims(model, 1)
    proj = model.d_model * _proj_width(model, 1)
    conv = _conv_dim(model, 1) * model.linear_conv
    return proj + conv + 2 * nv + model.linear_v_dim + vd * model.d_model  # + A_log, dt_bias, norm


def replicated_params(model: ModelSpec) -> int:
    return 0


def qkv_params(model: ModelSpec) -> int:
    return model.d_model * _proj_width(model, 1)


def cache_per_token(model: ModelSpec, tp: int) -> int:
    return 0


def state(model: ModelSpec, tp: int) -> int:
    """Recurrent state plus the convolution's last ``linear_conv - 1`` inputs, per sequence."""
    _, nv, _, _ = _dims(model, tp)
    recurrent = nv * model.linear_k_dim * model.linear_v_dim
    return recurrent + _conv_dim(model, tp) * max(model.linear_conv - 1, 0)


def widest(model: ModelSpec, sh: Shard) -> int:
    return _proj_width(model, model.n_heads // sh.heads)


def ops(p: Pass, tag: str, count: int, kind: str) -> list[Op]:
    m, T, B, tp = p.model, p.tokens, p.batch, p.tp
    nk, nv, _, vd = _dims(m, tp)
    d, ab, wb = m.d_model, p.ab, p.wb
    width, conv = _proj_width(m, tp), _conv_dim(m, tp)
    rec = nv * m.linear_k_dim * m.linear_v_dim  # state elements per sequence
    conv_state = conv * max(m.linear_conv - 1, 0)
    sb = ab  # the state's bytes per element
    unit = "matvec" if p.decode else "matrix"
    intra = 2.0 * CHUNK * nv * (m.linear_k_dim + m.linear_v_dim)  # causal products within a chunk
    per_token = DECODE_FLOP_PER_STATE * rec if p.decode else PREFILL_FLOP_PER_STATE * rec + intra
    out = [
        Op(named(tag, "in_proj"), "qkv", "gemm", "matrix", count, flop=2.0 * T * width * d,
           weight_bytes=d * width * wb, act_read_bytes=T * d * ab, act_write_bytes=T * width * ab,
           split="head", n_parts=nk, gemm_m=T, gemm_n=float(width), gemm_k=float(d)),
        Op(named(tag, "conv"), "attention", "elementwise", "vector", count,
           flop=2.0 * T * conv * m.linear_conv, kv_read_bytes=B * conv_state * sb,
           kv_write_bytes=B * conv_state * sb, act_read_bytes=T * conv * ab, act_write_bytes=T * conv * ab,
           split="head", n_parts=nk),
        Op(named(tag, "recurrence"), "attention", "attention", unit, count, flop=T * per_token,
           kv_read_bytes=B * rec * sb, kv_write_bytes=B * rec * sb,
           act_read_bytes=T * (conv + 2 * nv) * ab, act_write_bytes=T * vd * ab, split="head", n_parts=nk),
        Op(named(tag, "gated_norm"), "norm", "norm", "vector", count, flop=7.0 * T * vd,
           weight_bytes=m.linear_v_dim * wb, act_read_bytes=2 * T * vd * ab, act_write_bytes=T * vd * ab,
           rows=T),
        Op(named(tag, "out_proj"), "fc", "gemm", "matrix", count, flop=2.0 * T * vd * d,
           weight_bytes=vd * d * wb, act_read_bytes=T * vd * ab, act_write_bytes=T * d * ab,
           split="column", n_parts=nv, gemm_m=T, gemm_n=float(d), gemm_k=float(vd)),
    ]  # fmt: skip
    return out
