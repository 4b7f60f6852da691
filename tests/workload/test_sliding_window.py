"""Mistral 7B v0.1's sliding-window attention (W = 4,096; Jiang et al. 2023, arXiv 2310.06825,
Sec. 2): each token attends to the last W tokens and the KV cache is a rolling buffer of W, so
decode KV reads and the KV footprint stop growing at W (they grew with the whole context)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hetsim.errors import ConfigError
from hetsim.sim.inference import Workload, analyze
from hetsim.workload.dtypes import Precision
from hetsim.workload.graph import build_ops
from hetsim.workload.hf import model_from_hf_config
from hetsim.workload.registry import get_model

MISTRAL = {
    "model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32,
    "num_key_value_heads": 8, "num_hidden_layers": 32, "vocab_size": 32000, "max_position_embeddings": 32768,
    "sliding_window": 4096, "torch_dtype": "bfloat16",
}  # fmt: skip


def _attn(model: str, phase: str, q: float, ctx: float) -> dict[str, float]:
    ops = build_ops(get_model(model), Precision(), phase=phase, batch=1.0, q_len=q, context=ctx)
    op = next(o for o in ops if o.name == "attention")
    return {"kv": float(op.kv_read_bytes), "flop": float(op.flop)}


def test_preset_has_the_window() -> None:
    assert get_model("mistral-7b").sliding_window == 4096
    assert get_model("mixtral-8x7b").sliding_window == 0  # Mixtral v0.1: full 32k attention
    assert get_model("llama2-7b").sliding_window == 0


def test_decode_reads_and_attends_to_the_window_only() -> None:
    at_window, beyond = _attn("mistral-7b", "decode", 1, 4096), _attn("mistral-7b", "decode", 1, 16384)
    assert beyond == pytest.approx(at_window)
    full = _attn("llama2-7b", "decode", 1, 16384)  # no window: grows with the context
    assert full["kv"] == pytest.approx(4 * _attn("llama2-7b", "decode", 1, 4096)["kv"])
    # prefill: each query sees min(position, W) keys
    pre = _attn("mistral-7b", "prefill", 8192, 8192)
    causal = _attn("mistral-7b", "prefill", 4096, 4096)
    pairs_ratio = (4096 * 4097 / 2 + 4096 * 4096) / (4096 * 4097 / 2)
    assert pre["flop"] / causal["flop"] == pytest.approx(pairs_ratio, rel=1e-9)


def test_kv_footprint_and_step_time_stop_growing() -> None:
    a = analyze("mistral-7b", "h100-sxm", Workload(8, 4096, 64))
    b = analyze("mistral-7b", "h100-sxm", Workload(8, 16384, 64))
    per_token = get_model("mistral-7b").kv_elements_per_token() * 2  # fp16 K and V, all layers
    assert b.footprint_breakdown["kv_cache"] == pytest.approx(8 * 4096 * per_token)
    assert b.footprint_breakdown["kv_cache"] == pytest.approx(a.footprint_breakdown["kv_cache"])
    assert b.tpot_s == pytest.approx(a.tpot_s, rel=0.02)  # before: 12.5 ms at 16k against 8.1 ms


def test_config_json_window(tmp_path: Path) -> None:
    assert model_from_hf_config(MISTRAL, "m").sliding_window == 4096
    # Mistral v0.2+ and Mixtral: null (full attention)
    assert model_from_hf_config({**MISTRAL, "sliding_window": None}, "m").sliding_window == 0
    qwen = {**MISTRAL, "model_type": "qwen2", "use_sliding_window": False}
    assert model_from_hf_config(qwen, "q").sliding_window == 0
    # Qwen2 slides only from layer max_window_layers on: partial windows count full attention
    assert (
        model_from_hf_config(
            {**qwen, "use_sliding_window": True, "max_window_layers": 28}, "q"
        ).sliding_window
        == 0
    )
    assert (
        model_from_hf_config({**qwen, "use_sliding_window": True, "max_window_layers": 0}, "q").sliding_window
        == 4096
    )
    with pytest.raises(ConfigError, match="sliding_window"):
        model_from_hf_config({**MISTRAL, "sliding_window": "4k"}, "m")
    path = tmp_path / "config.json"
    path.write_text(json.dumps(MISTRAL))
    assert get_model(str(path)).sliding_window == 4096
