"""Multi-head latent attention (DeepSeek-V2, arXiv 2405.04434, Sec. 2.1; DeepSeek-V3, Kimi K2).

Each token's keys and values are compressed to one ``kv_lora_rank`` latent c (after an RMSNorm)
plus one ``qk_rope_dim`` RoPE key shared by all heads; the cache holds those r + d_r elements
per token and layer, whatever the number of heads. Queries come through an optional low-rank
``q_lora_rank`` bottleneck. Per head, k = [W_uk c, k_rope] (d_n + d_r), v = W_uv c (d_v).

Two algebraically equal forms (both in vLLM's ``MLACommonImpl``; DeepSeek-V2 Sec. 2.1.2):

- **non-absorbed** (MHA over decompressed K and V): ``kv_up`` multiplies every cached latent by
  W_ukv (B c tokens x r -> heads (d_n + d_v)), then attention has head dims d_n + d_r and d_v;
- **absorbed** (MQA over the latent): W_uk folds into the query (q_nope W_uk: d_n -> r per head)
  and W_uv into the output (r -> d_v per head), a grouped GEMM over the new tokens only; the
  kernel attends with head dims r + d_r and r and reads the latent once for all heads (FlashMLA).

Each element of a pass takes the form with fewer flop (decode: absorbed, its K/V are never
decompressed; a fresh prefill: non-absorbed, the same kv_up flop but narrower attention heads).

Under tensor parallelism the heads split; the down projections (q_a, kv_a) and the latent
cache are replicated on every device (vLLM ``ReplicatedLinear``), so the KV per device does
not shrink with tp.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hetsim.workload.blocks.attention_gqa import causal_pairs
from hetsim.workload.blocks.common import Pass, Shard, named, norm_op
from hetsim.workload.model import ModelSpec
from hetsim.workload.ops import Num, Op


def _q_params(m: ModelSpec) -> tuple[int, int]:
    """(replicated, split) parameters of the query path."""
    width = m.n_heads * (m.qk_nope_dim + m.qk_rope_dim)
    if m.q_lora_rank:
        return m.d_model * m.q_lora_rank + m.q_lora_rank, m.q_lora_rank * width
    return 0, m.d_model * width


def replicated_params(model: ModelSpec) -> int:
    """q_a projection and norm, kv_a projection (latent + RoPE key) and norm."""
    r = model.kv_lora_rank
    return _q_params(model)[0] + model.d_model * (r + model.qk_rope_dim) + r


def qkv_params(model: ModelSpec) -> int:
    """Query path, kv_a projection and norm, and kv_b (W_uk and W_uv of every head)."""
    r = model.kv_lora_rank
    up = r * model.n_heads * (model.qk_nope_dim + model.v_head_dim)
    return sum(_q_params(model)) + model.d_model * (r + model.qk_rope_dim) + r + up


def params(model: ModelSpec, kind: str = "full") -> int:
    return qkv_params(model) + model.n_heads * model.v_head_dim * model.d_model


def cache_per_token(model: ModelSpec, tp: int) -> int:
    """The latent and the RoPE key, one copy per device whatever ``tp``."""
    return model.kv_lora_rank + model.qk_rope_dim


def state(model: ModelSpec, tp: int) -> int:
    return 0


def widest(model: ModelSpec, sh: Shard) -> int:
    return sh.heads * (2 * model.qk_nope_dim + model.qk_rope_dim + model.v_head_dim)


def _gemm(name: str, count: int, T: Num, n: int, k: int, p: Pass, *, parts: int = 1, **kw: Any) -> Op:
    return Op(name, "qkv", "gemm", "matrix", count, flop=2.0 * T * n * k, weight_bytes=n * k * p.wb,
              act_read_bytes=T * k * p.ab, act_write_bytes=kw.pop("write", T * n * p.ab),
              split="head" if parts > 1 else "none", n_parts=parts, gemm_m=T, gemm_n=float(n),
              gemm_k=float(k), **kw)  # fmt: skip


def _pick(absorbed: Any, a: Num, b: Num) -> Num:
    out = np.where(absorbed, a, b)
    return float(out) if np.ndim(out) == 0 else out


def ops(p: Pass, tag: str, count: int, kind: str) -> list[Op]:
    m, T, H = p.model, p.tokens, p.shard.heads
    d, r, qr = m.d_model, m.kv_lora_rank, m.q_lora_rank
    dn, dr, dv, ab, kb = m.qk_nope_dim, m.qk_rope_dim, m.v_head_dim, p.ab, p.kb
    out: list[Op] = []
    if qr:
        out += [_gemm(named(tag, "q_down"), count, T, qr, d, p),
                norm_op(p, named(tag, "q_norm"), count, qr),
                _gemm(named(tag, "q_up"), count, T, H * (dn + dr), qr, p, parts=H)]  # fmt: skip
    else:
        out.append(_gemm(named(tag, "q_proj"), count, T, H * (dn + dr), d, p, parts=H))
    out += [_gemm(named(tag, "kv_down"), count, T, r + dr, d, p, write=0.0, kv_write_bytes=T * (r + dr) * kb),
            norm_op(p, named(tag, "kv_norm"), count, r)]  # fmt: skip
    window = m.sliding_window if kind == "sliding" else 0
    pairs = p.batch * causal_pairs(p.q_len, p.context, window)
    cached = p.batch * p.context  # latents of every cached token (the new ones included)
    up_n, up_a = 2.0 * cached * r * H * (dn + dv), 2.0 * T * H * r * (dn + dv)
    att_n = 2.0 * H * (dn + dr + dv) * pairs + 5.0 * H * pairs
    att_a = 2.0 * H * (2 * r + dr) * pairs + 5.0 * H * pairs
    absorbed = np.asarray(up_a + att_a) <= np.asarray(up_n + att_n)
    out.append(
        Op(
            named(tag, "kv_up"),
            "qkv",
            "gemm",
            "matrix",
            count,
            flop=_pick(absorbed, up_a, up_n),
            weight_bytes=r * H * (dn + dv) * p.wb,
            kv_read_bytes=_pick(absorbed, 0.0, cached * r * kb),  # non-absorbed: the cached latents
            act_read_bytes=_pick(absorbed, T * H * (dn + r) * ab, 0.0),  # q_nope in, latent output in
            act_write_bytes=_pick(absorbed, T * H * (r + dv) * ab, cached * H * (dn + dv) * ab),
            split="head",
            n_parts=H,
            # absorbed: the per-head q W_uk and o W_uv GEMMs over the new tokens, priced as one
            # GEMM of the same weights and flop (M = tokens); non-absorbed: M = every cached token
            gemm_m=_pick(absorbed, T, cached),
            gemm_n=float(H * (dn + dv)),
            gemm_k=float(r),
        )
    )
    out.append(
        Op(
            named(tag, "attention"),
            "attention",
            "attention",
            "matvec" if p.decode else "matrix",
            count,
            flop=_pick(absorbed, att_a, att_n),
            # absorbed: latent + RoPE key once for all heads; else the RoPE keys (K, V decompressed)
            kv_read_bytes=_pick(absorbed, cached * (r + dr) * kb, cached * dr * kb),
            act_read_bytes=_pick(
                absorbed, T * H * (r + dr) * ab, T * H * (dn + dr) * ab + cached * H * (dn + dv) * ab
            ),
            act_write_bytes=_pick(absorbed, T * H * r * ab, T * H * dv * ab),
            split="none",
            n_parts=1,
        )
    )
    out.append(Op(named(tag, "out_proj"), "fc", "gemm", "matrix", count, flop=2.0 * T * H * dv * d,
                  weight_bytes=H * dv * d * p.wb, act_read_bytes=T * H * dv * ab, act_write_bytes=T * d * ab,
                  split="column", n_parts=H, gemm_m=T, gemm_n=float(d), gemm_k=float(H * dv)))  # fmt: skip
    return out
