"""Trace a Hugging Face causal LM, built from its ``config.json`` mapping on the meta device
(no weights are loaded or allocated), for one prefill or one decode step (the ``torch``
extra plus ``transformers``)."""

from __future__ import annotations

from typing import Any, Literal

from hetsim.errors import ConfigError
from hetsim.ingest.records import IngestedGraph
from hetsim.ingest.torch_trace import trace

HfPhase = Literal["prefill", "decode"]


def _build(config: dict[str, Any]) -> tuple[Any, Any]:
    try:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM
    except ImportError as exc:
        raise ConfigError("tracing Hugging Face configs needs: pip install 'hetsim[torch]'") from exc
    cfg = dict(config)
    kind = cfg.pop("model_type", None)
    if not kind:
        raise ConfigError("the config has no model_type (llama, mistral, mixtral, qwen2, ...)")
    hf_cfg = AutoConfig.for_model(kind, **cfg)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(  # type: ignore[no-untyped-call]
            hf_cfg, dtype=torch.bfloat16, attn_implementation="sdpa"
        )
    return model.eval(), hf_cfg


def trace_hf(
    config: dict[str, Any],
    phase: HfPhase,
    *,
    batch: int = 1,
    q_len: int = 1,
    context: int = 1,
    name: str = "hf",
) -> IngestedGraph:
    """One forward pass: ``prefill`` of ``q_len`` tokens per sequence, or one ``decode`` step
    against ``context`` tokens (the new one included, as the builders count it)."""
    import torch
    from transformers import DynamicCache

    model, cfg = _build(config)
    kv: list[Any] = []
    cache = DynamicCache(config=cfg)
    if phase == "decode":
        heads = cfg.num_attention_heads
        kv_heads = getattr(cfg, "num_key_value_heads", None) or heads
        hd = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
        for layer in range(cfg.num_hidden_layers):
            k = torch.empty((batch, kv_heads, context - 1, hd), dtype=torch.bfloat16, device="meta")
            v = torch.empty_like(k)
            cache.update(k, v, layer)
            kv += [k, v]
        q_len = 1
    ids = torch.zeros((batch, q_len), dtype=torch.long, device="meta")
    weights = [*model.parameters(), *model.buffers()]
    if phase == "decode":  # the cache may hold its own references: mark those too
        kv += [t for layer in getattr(cache, "layers", []) for t in (layer.keys, layer.values)]

    def run() -> None:
        model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1)

    return trace(run, name=name, weights=weights, kv=kv, batch=batch, inputs=(("input_ids", (batch, q_len)),))
