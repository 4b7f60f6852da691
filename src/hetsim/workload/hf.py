"""Hugging Face ``config.json`` -> :class:`ModelSpec`: the llama, mistral, mixtral, qwen2,
gpt2, gptj, opt and falcon families here, the 2024-26 families in :mod:`hf_modern`. A
multimodal config's ``text_config`` is read as the language model."""

from __future__ import annotations

from collections.abc import Callable

from hetsim.errors import ConfigError
from hetsim.workload import hf_modern as modern
from hetsim.workload.hf_common import Cfg, need, text_part, window
from hetsim.workload.hf_common import is_hf_config as is_hf_config
from hetsim.workload.model import ModelSpec


def _llama_like(cfg: Cfg, name: str, family: str, bias: str = "none") -> ModelSpec:
    d = int(need(cfg, "hidden_size"))
    heads = int(need(cfg, "num_attention_heads"))
    experts = int(cfg.get("num_local_experts") or cfg.get("num_experts") or 1)
    return ModelSpec(
        name=name,
        family=family,
        n_layers=int(need(cfg, "num_hidden_layers")),
        d_model=d,
        n_heads=heads,
        n_kv_heads=int(cfg.get("num_key_value_heads") or heads),
        head_dim=int(cfg.get("head_dim") or d // heads),
        d_ff=int(need(cfg, "intermediate_size")),
        vocab_size=int(need(cfg, "vocab_size")),
        ffn="gated",
        n_experts=experts,
        experts_per_token=int(cfg.get("num_experts_per_tok") or 1) if experts > 1 else 1,
        norm="rmsnorm",
        bias=bias,  # type: ignore[arg-type]
        tied_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        max_seq_len=int(cfg.get("max_position_embeddings") or 4096),
        sliding_window=window(cfg),
        source="Hugging Face config.json",
    )


def _gpt2(cfg: Cfg, name: str) -> ModelSpec:
    d = int(need(cfg, "n_embd", "hidden_size"))
    heads = int(need(cfg, "n_head", "num_attention_heads"))
    n_pos = int(cfg.get("n_positions") or cfg.get("n_ctx") or 1024)
    return ModelSpec(
        name=name,
        family="gpt",
        n_layers=int(need(cfg, "n_layer", "num_hidden_layers")),
        d_model=d,
        n_heads=heads,
        n_kv_heads=heads,
        head_dim=d // heads,
        d_ff=int(cfg.get("n_inner") or 4 * d),
        vocab_size=int(need(cfg, "vocab_size")),
        ffn="plain",
        norm="layernorm",
        bias="all",
        tied_embeddings=True,
        learned_positions=n_pos,
        max_seq_len=n_pos,
        source="Hugging Face config.json",
    )


def _gptj(cfg: Cfg, name: str) -> ModelSpec:
    d = int(need(cfg, "n_embd"))
    heads = int(need(cfg, "n_head"))
    return ModelSpec(
        name=name,
        family="gptj",
        n_layers=int(need(cfg, "n_layer")),
        d_model=d,
        n_heads=heads,
        n_kv_heads=heads,
        head_dim=d // heads,
        d_ff=int(cfg.get("n_inner") or 4 * d),
        vocab_size=int(need(cfg, "vocab_size")),
        ffn="plain",
        norm="layernorm",
        parallel_block=True,
        tied_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        max_seq_len=int(cfg.get("n_positions") or 2048),
        source="Hugging Face config.json",
    )


def _opt(cfg: Cfg, name: str) -> ModelSpec:
    d = int(need(cfg, "hidden_size"))
    heads = int(need(cfg, "num_attention_heads"))
    n_pos = int(cfg.get("max_position_embeddings") or 2048)
    return ModelSpec(
        name=name,
        family="opt",
        n_layers=int(need(cfg, "num_hidden_layers")),
        d_model=d,
        n_heads=heads,
        n_kv_heads=heads,
        head_dim=d // heads,
        d_ff=int(need(cfg, "ffn_dim")),
        vocab_size=int(need(cfg, "vocab_size")),
        ffn="plain",
        norm="layernorm",
        bias="all",
        tied_embeddings=bool(cfg.get("tie_word_embeddings", True)),
        learned_positions=n_pos + 2,  # OPT offsets learned positions by 2
        max_seq_len=n_pos,
        source="Hugging Face config.json",
    )


def _falcon(cfg: Cfg, name: str) -> ModelSpec:
    d = int(need(cfg, "hidden_size", "n_embed"))
    heads = int(need(cfg, "num_attention_heads", "n_head"))
    if cfg.get("new_decoder_architecture"):
        kv = int(cfg.get("num_kv_heads") or heads)
    else:
        kv = 1 if cfg.get("multi_query", True) else heads
    return ModelSpec(
        name=name,
        family="falcon",
        n_layers=int(need(cfg, "num_hidden_layers", "n_layer")),
        d_model=d,
        n_heads=heads,
        n_kv_heads=kv,
        head_dim=d // heads,
        d_ff=int(cfg.get("ffn_hidden_size") or 4 * d),
        vocab_size=int(need(cfg, "vocab_size")),
        ffn="plain",
        norm="layernorm",
        bias="all" if cfg.get("bias") else "none",
        parallel_block=bool(cfg.get("parallel_attn", True)),
        tied_embeddings=bool(cfg.get("tie_word_embeddings", True)),
        max_seq_len=int(cfg.get("max_position_embeddings") or 2048),
        source="Hugging Face config.json",
    )


_FAMILIES: dict[str, Callable[[Cfg, str], ModelSpec]] = {
    "llama": lambda c, n: _llama_like(c, n, "llama"),
    "mistral": lambda c, n: _llama_like(c, n, "mistral"),
    "mixtral": lambda c, n: _llama_like(c, n, "mixtral"),
    "qwen2": lambda c, n: _llama_like(c, n, "qwen2", bias="qkv"),
    "gpt2": _gpt2,
    "gptj": _gptj,
    "opt": _opt,
    "falcon": _falcon,
    "refinedweb": _falcon,
    "refinedwebmodel": _falcon,
    "deepseek_v2": modern.deepseek,
    "deepseek_v3": modern.deepseek,
    "kimi_k2": modern.deepseek,
    "qwen3": modern.qwen3,
    "qwen2_moe": modern.qwen3,
    "qwen3_moe": modern.qwen3,
    "qwen3_next": modern.qwen3_next,
    "llama4": modern.llama4,
    "llama4_text": modern.llama4,
    "gpt_oss": modern.gpt_oss,
    "glm4_moe": modern.glm4_moe,
    "minimax_m2": modern.minimax_m2,
    "gemma2": modern.gemma,
    "gemma3": modern.gemma,
    "gemma3_text": modern.gemma,
    "phi3": modern.phi3,
}
SUPPORTED = ("llama", "mistral", "mixtral", "qwen2", "gpt2", "gptj", "opt", "falcon", "deepseek_v2",
             "deepseek_v3", "kimi_k2", "qwen3", "qwen2_moe", "qwen3_moe", "qwen3_next", "llama4", "gpt_oss",
             "glm4_moe", "minimax_m2", "gemma2", "gemma3", "phi3")  # fmt: skip


def model_from_hf_config(cfg: Cfg, name: str = "custom") -> ModelSpec:
    """Read a Hugging Face ``config.json`` mapping into a :class:`ModelSpec`."""
    cfg = text_part(cfg)
    kind = str(cfg.get("model_type", "")).lower()
    builder = _FAMILIES.get(kind)
    if builder is None:
        raise ConfigError(
            f"unsupported architecture {kind or cfg.get('architectures')!r}: "
            f"supported model_type values are {', '.join(SUPPORTED)}"
        )
    try:
        return builder(cfg, name or kind)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ConfigError(f"config.json for {kind}: {exc}") from None
    except ZeroDivisionError:
        raise ConfigError(f"config.json for {kind}: a head count or size is 0") from None
