"""Hugging Face ``config.json`` -> :class:`ModelSpec` for the llama, mistral, mixtral,
qwen2, gpt2, gptj, opt and falcon families."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hetsim.errors import ConfigError
from hetsim.workload.model import ModelSpec

Cfg = dict[str, Any]


def is_hf_config(data: Cfg) -> bool:
    return "model_type" in data or "architectures" in data


def _need(cfg: Cfg, *keys: str) -> Any:
    for key in keys:
        if key in cfg and cfg[key] is not None:
            return cfg[key]
    raise ConfigError(f"config.json lacks {' or '.join(repr(k) for k in keys)}")


def _llama_like(cfg: Cfg, name: str, family: str, bias: str = "none") -> ModelSpec:
    d = int(_need(cfg, "hidden_size"))
    heads = int(_need(cfg, "num_attention_heads"))
    experts = int(cfg.get("num_local_experts") or cfg.get("num_experts") or 1)
    return ModelSpec(
        name=name,
        family=family,
        n_layers=int(_need(cfg, "num_hidden_layers")),
        d_model=d,
        n_heads=heads,
        n_kv_heads=int(cfg.get("num_key_value_heads") or heads),
        head_dim=int(cfg.get("head_dim") or d // heads),
        d_ff=int(_need(cfg, "intermediate_size")),
        vocab_size=int(_need(cfg, "vocab_size")),
        ffn="gated",
        n_experts=experts,
        experts_per_token=int(cfg.get("num_experts_per_tok") or 1) if experts > 1 else 1,
        norm="rmsnorm",
        bias=bias,  # type: ignore[arg-type]
        tied_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        max_seq_len=int(cfg.get("max_position_embeddings") or 4096),
        sliding_window=_window(cfg),
        source="Hugging Face config.json",
    )


def _window(cfg: Cfg) -> int:
    """``sliding_window`` of a mistral / mixtral / qwen2 config (null: full attention; Qwen2 only
    when ``use_sliding_window`` is true), or 0."""
    w = cfg.get("sliding_window")
    if w is None or cfg.get("use_sliding_window") is False:
        return 0
    if isinstance(w, bool) or not isinstance(w, int) or w < 1:
        raise ConfigError(f"config.json sliding_window must be a positive whole number or null, got {w!r}")
    max_len = cfg.get("max_position_embeddings")
    if isinstance(max_len, int) and w >= max_len:
        return 0
    # Qwen2 slides only in layers >= max_window_layers; one window for some layers is not
    # representable, so a partly sliding model counts full attention (the larger KV cache)
    first = cfg.get("max_window_layers")
    return 0 if isinstance(first, int) and first > 0 else w


def _gpt2(cfg: Cfg, name: str) -> ModelSpec:
    d = int(_need(cfg, "n_embd", "hidden_size"))
    heads = int(_need(cfg, "n_head", "num_attention_heads"))
    n_pos = int(cfg.get("n_positions") or cfg.get("n_ctx") or 1024)
    return ModelSpec(
        name=name,
        family="gpt",
        n_layers=int(_need(cfg, "n_layer", "num_hidden_layers")),
        d_model=d,
        n_heads=heads,
        n_kv_heads=heads,
        head_dim=d // heads,
        d_ff=int(cfg.get("n_inner") or 4 * d),
        vocab_size=int(_need(cfg, "vocab_size")),
        ffn="plain",
        norm="layernorm",
        bias="all",
        tied_embeddings=True,
        learned_positions=n_pos,
        max_seq_len=n_pos,
        source="Hugging Face config.json",
    )


def _gptj(cfg: Cfg, name: str) -> ModelSpec:
    d = int(_need(cfg, "n_embd"))
    heads = int(_need(cfg, "n_head"))
    return ModelSpec(
        name=name,
        family="gptj",
        n_layers=int(_need(cfg, "n_layer")),
        d_model=d,
        n_heads=heads,
        n_kv_heads=heads,
        head_dim=d // heads,
        d_ff=int(cfg.get("n_inner") or 4 * d),
        vocab_size=int(_need(cfg, "vocab_size")),
        ffn="plain",
        norm="layernorm",
        parallel_block=True,
        tied_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        max_seq_len=int(cfg.get("n_positions") or 2048),
        source="Hugging Face config.json",
    )


def _opt(cfg: Cfg, name: str) -> ModelSpec:
    d = int(_need(cfg, "hidden_size"))
    heads = int(_need(cfg, "num_attention_heads"))
    n_pos = int(cfg.get("max_position_embeddings") or 2048)
    return ModelSpec(
        name=name,
        family="opt",
        n_layers=int(_need(cfg, "num_hidden_layers")),
        d_model=d,
        n_heads=heads,
        n_kv_heads=heads,
        head_dim=d // heads,
        d_ff=int(_need(cfg, "ffn_dim")),
        vocab_size=int(_need(cfg, "vocab_size")),
        ffn="plain",
        norm="layernorm",
        bias="all",
        tied_embeddings=bool(cfg.get("tie_word_embeddings", True)),
        learned_positions=n_pos + 2,  # OPT offsets learned positions by 2
        max_seq_len=n_pos,
        source="Hugging Face config.json",
    )


def _falcon(cfg: Cfg, name: str) -> ModelSpec:
    d = int(_need(cfg, "hidden_size", "n_embed"))
    heads = int(_need(cfg, "num_attention_heads", "n_head"))
    if cfg.get("new_decoder_architecture"):
        kv = int(cfg.get("num_kv_heads") or heads)
    else:
        kv = 1 if cfg.get("multi_query", True) else heads
    return ModelSpec(
        name=name,
        family="falcon",
        n_layers=int(_need(cfg, "num_hidden_layers", "n_layer")),
        d_model=d,
        n_heads=heads,
        n_kv_heads=kv,
        head_dim=d // heads,
        d_ff=int(cfg.get("ffn_hidden_size") or 4 * d),
        vocab_size=int(_need(cfg, "vocab_size")),
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
}
SUPPORTED = ("llama", "mistral", "mixtral", "qwen2", "gpt2", "gptj", "opt", "falcon")


def model_from_hf_config(cfg: Cfg, name: str = "custom") -> ModelSpec:
    """Read a Hugging Face ``config.json`` mapping into a :class:`ModelSpec`."""
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
