"""Reading fields of a Hugging Face ``config.json``: required fields name themselves when
missing, optional ones have the defaults of the family's ``transformers`` config class."""

from __future__ import annotations

from typing import Any

from hetsim.errors import ConfigError

Cfg = dict[str, Any]
LAYER_TYPES = {"full_attention": "G", "sliding_attention": "S", "chunked_attention": "C",
               "linear_attention": "L"}  # fmt: skip


def is_hf_config(data: Cfg) -> bool:
    return "model_type" in data or "architectures" in data


def need(cfg: Cfg, *keys: str) -> Any:
    """The first of ``keys`` present (and not null); a missing one names every spelling."""
    for key in keys:
        if key in cfg and cfg[key] is not None:
            return cfg[key]
    raise ConfigError(f"config.json lacks {' or '.join(repr(k) for k in keys)}")


def whole(cfg: Cfg, key: str, default: int = 0) -> int:
    """An optional whole-number field (null: ``default``)."""
    value = cfg.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value or value < 0:
        raise ConfigError(f"config.json {key} must be a whole number, got {value!r}")
    return int(value)


def window(cfg: Cfg) -> int:
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


def period(letters: list[str]) -> str:
    """The shortest unit that, repeated, gives the per-layer ``letters``."""
    n = len(letters)
    for p in range(1, n + 1):
        if all(letters[i] == letters[i % p] for i in range(n)):
            return "".join(letters[:p])
    return "".join(letters)


def pattern_from_layer_types(cfg: Cfg) -> str | None:
    """The attention pattern a ``layer_types`` list gives (transformers >= 4.54), or None."""
    types = cfg.get("layer_types")
    if not types:
        return None
    if not isinstance(types, list) or any(t not in LAYER_TYPES for t in types):
        odd = next((t for t in types if t not in LAYER_TYPES), types) if isinstance(types, list) else types
        raise ConfigError(f"config.json layer_types: {odd!r} is not one of {', '.join(LAYER_TYPES)}")
    return period([LAYER_TYPES[t] for t in types])


def text_part(cfg: Cfg) -> Cfg:
    """A multimodal config's language model (``text_config``, merged over the top level)."""
    text = cfg.get("text_config")
    if isinstance(text, dict):
        return {**cfg, **text}
    return cfg
