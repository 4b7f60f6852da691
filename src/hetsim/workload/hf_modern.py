"""Hugging Face ``config.json`` -> :class:`ModelSpec` for the 2024-26 families: DeepSeek-V2/V3
and Kimi K2 (MLA + MoE), Qwen3 dense and MoE, Qwen3-Next (gated DeltaNet hybrid), Llama 4,
gpt-oss, GLM-4.5, MiniMax-M2, Gemma 2/3 and Phi-3/4. Field names and defaults follow each
family's ``transformers`` configuration class."""

from __future__ import annotations

from typing import Any

from hetsim.errors import ConfigError
from hetsim.workload.hf_common import Cfg, need, pattern_from_layer_types, whole, window
from hetsim.workload.model import ModelSpec

SOURCE = "Hugging Face config.json"


def _base(cfg: Cfg, name: str, family: str, **kw: Any) -> ModelSpec:
    """The fields every decoder config has, plus ``kw``."""
    d = int(need(cfg, "hidden_size"))
    heads = int(need(cfg, "num_attention_heads"))
    fields: dict[str, Any] = {
        "name": name,
        "family": family,
        "n_layers": int(need(cfg, "num_hidden_layers")),
        "d_model": d,
        "n_heads": heads,
        "n_kv_heads": int(cfg.get("num_key_value_heads") or heads),
        "head_dim": int(cfg.get("head_dim") or d // heads),
        "vocab_size": int(need(cfg, "vocab_size")),
        "tied_embeddings": bool(cfg.get("tie_word_embeddings", False)),
        "max_seq_len": int(cfg.get("max_position_embeddings") or 4096),
        "source": SOURCE,
    }
    fields.update(kw)
    return ModelSpec(**fields)


def deepseek(cfg: Cfg, name: str) -> ModelSpec:
    """deepseek_v2, deepseek_v3, kimi_k2: MLA, routed + shared experts, first dense layers."""
    experts = whole(cfg, "n_routed_experts")
    if whole(cfg, "moe_layer_freq", 1) != 1:
        raise ConfigError("config.json moe_layer_freq other than 1 is not modelled (every released "
                          "DeepSeek config has 1)")  # fmt: skip
    dense = int(need(cfg, "intermediate_size"))
    nope, rope = int(need(cfg, "qk_nope_head_dim")), int(need(cfg, "qk_rope_head_dim"))
    moe = {}
    if experts > 1:
        moe = {"n_experts": experts, "experts_per_token": int(need(cfg, "num_experts_per_tok")),
               "n_shared_experts": whole(cfg, "n_shared_experts"), "dense_d_ff": dense,
               "first_dense_layers": whole(cfg, "first_k_dense_replace")}  # fmt: skip
    return _base(
        cfg, name, "deepseek",
        n_kv_heads=int(need(cfg, "num_attention_heads")),
        head_dim=nope + rope,
        d_ff=int(need(cfg, "moe_intermediate_size")) if experts > 1 else dense,
        kv_lora_rank=int(need(cfg, "kv_lora_rank")),
        q_lora_rank=whole(cfg, "q_lora_rank"),
        qk_nope_dim=nope,
        qk_rope_dim=rope,
        v_head_dim=int(need(cfg, "v_head_dim")),
        mtp_layers=whole(cfg, "num_nextn_predict_layers"),
        **moe,
    )  # fmt: skip


def qwen3(cfg: Cfg, name: str) -> ModelSpec:
    """qwen3 (dense), qwen2_moe, qwen3_moe: GQA with q/k norms (Qwen3), routed experts."""
    kind = str(cfg.get("model_type", "")).lower()
    experts = whole(cfg, "num_experts")
    kw: dict[str, Any] = {"qk_norm": kind != "qwen2_moe", "bias": "qkv" if kind == "qwen2_moe" else "none",
                          "sliding_window": window(cfg)}  # fmt: skip
    if experts > 1:
        if cfg.get("mlp_only_layers") or whole(cfg, "decoder_sparse_step", 1) != 1:
            raise ConfigError("config.json mlp_only_layers / decoder_sparse_step other than [] / 1 are "
                              "not modelled")  # fmt: skip
        shared = whole(cfg, "shared_expert_intermediate_size")
        kw.update(n_experts=experts, experts_per_token=int(need(cfg, "num_experts_per_tok")),
                  d_ff=int(need(cfg, "moe_intermediate_size")), n_shared_experts=1 if shared else 0,
                  shared_d_ff=shared)  # fmt: skip
    else:
        kw["d_ff"] = int(need(cfg, "intermediate_size"))
    return _base(cfg, name, "qwen3" if kind != "qwen2_moe" else "qwen2", **kw)


def qwen3_next(cfg: Cfg, name: str) -> ModelSpec:
    """qwen3_next: gated DeltaNet layers with one gated-attention layer every
    ``full_attention_interval``, high-sparsity MoE with a shared expert."""
    layers = int(need(cfg, "num_hidden_layers"))
    interval = whole(cfg, "full_attention_interval", 4)
    pattern = pattern_from_layer_types(cfg) or ("L" * (interval - 1) + "G")
    shared = whole(cfg, "shared_expert_intermediate_size")
    return _base(
        cfg, name, "qwen3-next",
        d_ff=int(need(cfg, "moe_intermediate_size")),
        n_experts=int(need(cfg, "num_experts")),
        experts_per_token=int(need(cfg, "num_experts_per_tok")),
        n_shared_experts=1 if shared else 0,
        shared_d_ff=shared,
        attention_pattern=pattern[:layers],
        attention_gate=True,
        qk_norm=True,
        linear_k_heads=int(need(cfg, "linear_num_key_heads")),
        linear_v_heads=int(need(cfg, "linear_num_value_heads")),
        linear_k_dim=int(need(cfg, "linear_key_head_dim")),
        linear_v_dim=int(need(cfg, "linear_value_head_dim")),
        linear_conv=whole(cfg, "linear_conv_kernel_dim", 4),
        mtp_layers=whole(cfg, "mtp_num_hidden_layers"),
    )  # fmt: skip


def llama4(cfg: Cfg, name: str) -> ModelSpec:
    """llama4 / llama4_text: chunked local attention in three of four layers (the fourth global
    without RoPE), MoE with one shared expert every ``interleave_moe_layer_step`` layers."""
    chunk = whole(cfg, "attention_chunk_size")
    nope = cfg.get("no_rope_layers")
    pattern = "CCCG" if chunk else "G"  # transformers' default: every 4th layer global
    if isinstance(nope, list) and nope and chunk:
        from hetsim.workload.hf_common import period

        pattern = period(["C" if x else "G" for x in nope])
    step = whole(cfg, "interleave_moe_layer_step", 1)
    experts = whole(cfg, "num_local_experts", 1)
    return _base(
        cfg, name, "llama4",
        d_ff=int(need(cfg, "intermediate_size")),
        dense_d_ff=whole(cfg, "intermediate_size_mlp"),
        n_experts=experts,
        experts_per_token=int(cfg.get("num_experts_per_tok") or 1) if experts > 1 else 1,
        n_shared_experts=1 if experts > 1 else 0,
        moe_every=max(step, 1),
        attention_pattern=pattern,
        attention_chunk=chunk,
    )  # fmt: skip


def gpt_oss(cfg: Cfg, name: str) -> ModelSpec:
    """gpt_oss: alternating sliding-window (128) and full layers, learned attention sinks, biases
    on the attention and the experts."""
    return _base(
        cfg, name, "gpt-oss",
        d_ff=int(need(cfg, "intermediate_size")),
        n_experts=int(need(cfg, "num_local_experts")),
        experts_per_token=int(need(cfg, "num_experts_per_tok", "experts_per_token")),
        bias="all" if cfg.get("attention_bias", True) else "none",
        attention_pattern=pattern_from_layer_types(cfg) or "SG",
        sliding_window=int(need(cfg, "sliding_window")),
        attention_sinks=True,
    )  # fmt: skip


def glm4_moe(cfg: Cfg, name: str) -> ModelSpec:
    """glm4_moe (GLM-4.5, 4.6, 4.7): GQA with QKV bias and optional q/k norms, routed + shared
    experts after the first dense layers, an MTP layer."""
    return _base(
        cfg, name, "glm",
        d_ff=int(need(cfg, "moe_intermediate_size")),
        dense_d_ff=int(need(cfg, "intermediate_size")),
        n_experts=int(need(cfg, "n_routed_experts")),
        experts_per_token=int(need(cfg, "num_experts_per_tok")),
        n_shared_experts=whole(cfg, "n_shared_experts"),
        first_dense_layers=whole(cfg, "first_k_dense_replace"),
        bias="qkv" if cfg.get("attention_bias") else "none",
        qk_norm=bool(cfg.get("use_qk_norm", False)),
        mtp_layers=whole(cfg, "num_nextn_predict_layers"),
    )  # fmt: skip


def minimax_m2(cfg: Cfg, name: str) -> ModelSpec:
    """minimax_m2: GQA with q/k norms, 256 routed experts, no shared expert."""
    return _base(
        cfg, name, "minimax",
        d_ff=int(need(cfg, "intermediate_size")),
        n_experts=int(need(cfg, "num_local_experts")),
        experts_per_token=int(need(cfg, "num_experts_per_tok")),
        qk_norm=bool(cfg.get("use_qk_norm", True)),
        mtp_layers=whole(cfg, "num_mtp_modules") if cfg.get("use_mtp") else 0,
    )  # fmt: skip


def gemma(cfg: Cfg, name: str) -> ModelSpec:
    """gemma2 (local/global alternating), gemma3 / gemma3_text (five local per global; q/k
    norms): GeGLU FFN, tied embeddings, norms before and after each block."""
    kind = str(cfg.get("model_type", "")).lower()
    w = int(need(cfg, "sliding_window"))
    every = whole(cfg, "sliding_window_pattern", 2 if kind == "gemma2" else 6)
    pattern = pattern_from_layer_types(cfg) or ("S" * (every - 1) + "G")
    return _base(
        cfg, name, kind.replace("_text", ""),
        d_ff=int(need(cfg, "intermediate_size")),
        tied_embeddings=bool(cfg.get("tie_word_embeddings", True)),
        sliding_window=w,
        attention_pattern=pattern,
        sandwich_norm=True,
        qk_norm=kind != "gemma2",
    )  # fmt: skip


def phi3(cfg: Cfg, name: str) -> ModelSpec:
    """phi3 (Phi-3 and Phi-4): a Llama-shaped decoder with fused QKV and gate-up weights."""
    return _base(cfg, name, "phi", d_ff=int(need(cfg, "intermediate_size")), sliding_window=window(cfg))
