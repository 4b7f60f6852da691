"""Model specs: parameter counts against published ones, KV sizes by hand, HF loading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hetsim.errors import ConfigError, UnknownNameError
from hetsim.workload.dtypes import Precision, dtype
from hetsim.workload.graph import kv_bytes_per_token
from hetsim.workload.model import ModelSpec
from hetsim.workload.registry import get_model, list_models

# Published totals (model cards / papers) the counts must match within 0.5%.
PUBLISHED = {
    "llama2-7b": 6.74e9,
    "llama2-13b": 13.02e9,
    "llama2-70b": 68.98e9,
    "llama3-8b": 8.03e9,
    "llama3-70b": 70.55e9,
    "llama3.1-405b": 405.85e9,
    "mistral-7b": 7.24e9,
    "mixtral-8x7b": 46.7e9,
    "gpt3-175b": 175.0e9,
    "gpt-j-6b": 6.05e9,
    "falcon-180b": 180.0e9,
    "qwen2.5-72b": 72.7e9,
}


@pytest.mark.parametrize(("name", "published"), sorted(PUBLISHED.items()))
def test_param_count_matches_published(name: str, published: float) -> None:
    assert get_model(name).params == pytest.approx(published, rel=0.005)


def test_chinchilla_decoder_matches_h2m2_footprint() -> None:
    # Chinchilla's "70B" is a rounded name; H2M2 states 64.4 GB of INT8 decoder weights.
    assert get_model("chinchilla-70b").decoder_params == pytest.approx(64.4e9, rel=0.005)


def test_every_required_preset_exists() -> None:
    names = {m.name for m in list_models()}
    assert set(PUBLISHED) | {"chinchilla-70b"} <= names


def test_mixtral_active_params() -> None:
    # Mixtral paper: 12.9 B active parameters per token (top-2 of 8 experts).
    assert get_model("mixtral-8x7b").active_params == pytest.approx(12.9e9, rel=0.01)


def test_kv_bytes_per_token_llama2_70b_fp16_by_hand() -> None:
    # 2 (K,V) x 80 layers x 8 KV heads x 128 head_dim x 2 bytes
    assert kv_bytes_per_token(get_model("llama2-70b"), Precision()) == 2 * 80 * 8 * 128 * 2 == 327_680


def test_kv_bytes_gpt3_int8_matches_h2m2() -> None:
    # H2M2 states 2.36 MB of INT8 KV per token for GPT3-175B
    kv = kv_bytes_per_token(get_model("gpt3-175b"), Precision.of("int8", "int8", "int8"))
    assert kv == pytest.approx(2.36e6, rel=0.01)


def test_int4_is_never_zero_bytes() -> None:
    d = dtype("int4")
    assert d.bits == 4 and d.storage_bytes == 1 and d.nbytes(2) == 1.0


def test_precision_compute_type_is_wider_operand() -> None:
    assert Precision.of("int4").compute.name == "fp16"
    assert Precision.of("int8", "int8", "int8").compute.name == "int8"
    assert Precision.of("fp8", "fp8").compute.name == "fp8"


def test_alias_and_unknown_name() -> None:
    assert get_model("llama-2-70b").name == "llama2-70b"
    with pytest.raises(UnknownNameError, match="did you mean llama2-70b"):
        get_model("llama2-70")


def test_invalid_spec_raises() -> None:
    with pytest.raises(ConfigError, match="multiple of"):
        ModelSpec("x", 1, 64, 6, 4, 16, 128, 100)
    with pytest.raises(ConfigError, match="positive"):
        ModelSpec("x", 0, 64, 4, 4, 16, 128, 100)


HF_CONFIGS = {
    "llama": (
        {"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
         "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 128256},
        8.03e9,
    ),
    "mixtral": (
        {"model_type": "mixtral", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
         "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 32000,
         "num_local_experts": 8, "num_experts_per_tok": 2},
        46.7e9,
    ),
    "qwen2": (
        {"model_type": "qwen2", "hidden_size": 8192, "num_hidden_layers": 80, "num_attention_heads": 64,
         "num_key_value_heads": 8, "intermediate_size": 29568, "vocab_size": 152064},
        72.7e9,
    ),
    "gpt2": (
        {"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "vocab_size": 50257,
         "n_positions": 1024},
        124.4e6,
    ),
    "gptj": (
        {"model_type": "gptj", "n_embd": 4096, "n_layer": 28, "n_head": 16, "vocab_size": 50400,
         "n_positions": 2048},
        6.05e9,
    ),
    "opt": (
        {"model_type": "opt", "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
         "ffn_dim": 3072, "vocab_size": 50272, "max_position_embeddings": 2048},
        125.2e6,
    ),
    "falcon": (
        {"model_type": "falcon", "hidden_size": 4544, "num_hidden_layers": 32, "num_attention_heads": 71,
         "multi_query": True, "parallel_attn": True, "vocab_size": 65024},
        6.92e9,
    ),
    "mistral": (
        {"model_type": "mistral", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
         "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 32000},
        7.24e9,
    ),
}  # fmt: skip


@pytest.mark.parametrize("family", sorted(HF_CONFIGS))
def test_hf_config_loads_each_family(family: str, tmp_path: Path) -> None:
    cfg, published = HF_CONFIGS[family]
    path = tmp_path / family / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps(cfg))
    spec = get_model(str(path))
    assert spec.params == pytest.approx(published, rel=0.005)
    assert get_model(str(path.parent)).params == spec.params  # a folder works too


def test_hf_falcon_7b_is_mqa(tmp_path: Path) -> None:
    cfg, _ = HF_CONFIGS["falcon"]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    spec = get_model(str(tmp_path / "config.json"))
    assert spec.n_kv_heads == 1 and spec.attention_kind == "MQA"


def test_hf_unsupported_architecture_names_supported(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "mamba", "hidden_size": 8}))
    with pytest.raises(ConfigError, match="supported model_type values are llama, mistral"):
        get_model(str(tmp_path / "config.json"))
