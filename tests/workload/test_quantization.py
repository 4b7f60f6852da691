"""``quantization_config`` in a Hugging Face ``config.json`` sets the weight data type (a
loader reading ``torch_dtype`` alone took 4-bit AWQ weights for 2-byte ones)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hetsim.errors import ConfigError
from hetsim.workload.quantization import precision_from_hf_config, resolve_precision

LLAMA: dict[str, Any] = {
    "model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008, "num_attention_heads": 32,
    "num_key_value_heads": 32, "num_hidden_layers": 32, "vocab_size": 32000, "torch_dtype": "bfloat16",
}  # fmt: skip


def names(cfg: dict[str, Any]) -> tuple[str, str, str, str]:
    p = precision_from_hf_config(cfg)
    return p.weight.name, p.compute.name, p.activation.name, p.kv.name


@pytest.mark.parametrize(
    ("q", "want"),
    [
        (None, ("bf16", "bf16", "bf16", "bf16")),
        ({"quant_method": "awq", "bits": 4, "group_size": 128}, ("int4", "bf16", "bf16", "bf16")),
        ({"quant_method": "gptq", "bits": 8}, ("int8", "bf16", "bf16", "bf16")),
        ({"quant_method": "bitsandbytes", "load_in_4bit": True}, ("int4", "bf16", "bf16", "bf16")),
        ({"quant_method": "fp8", "activation_scheme": "dynamic"}, ("fp8", "fp8", "bf16", "bf16")),
        ({"quant_method": "mxfp4"}, ("fp4", "bf16", "bf16", "bf16")),
        ({"quant_method": "compressed-tensors", "config_groups": {"group_0": {
            "weights": {"num_bits": 8, "type": "float"},
            "input_activations": {"num_bits": 8, "type": "float"}}}}, ("fp8", "fp8", "bf16", "bf16")),
        ({"quant_method": "compressed-tensors", "config_groups": {"group_0": {
            "weights": {"num_bits": 4, "type": "int"}}}}, ("int4", "bf16", "bf16", "bf16")),
        ({"quant_method": "compressed-tensors", "config_groups": {"group_0": {
            "weights": {"num_bits": 8, "type": "int"}, "input_activations": {"num_bits": 8, "type": "int"}}}},
         ("int8", "int8", "bf16", "bf16")),
    ],
)  # fmt: skip
def test_quantization_config_sets_the_weight_type(q: dict[str, Any] | None, want: tuple[str, ...]) -> None:
    cfg = {**LLAMA, **({"quantization_config": q} if q else {})}
    assert names(cfg) == want


def test_unknown_or_bad_schemes_are_refused() -> None:
    with pytest.raises(ConfigError, match="quant_method 'exl9' is not modelled"):
        precision_from_hf_config({**LLAMA, "quantization_config": {"quant_method": "exl9"}})
    with pytest.raises(ConfigError, match="3-bit"):
        precision_from_hf_config({**LLAMA, "quantization_config": {"quant_method": "gptq", "bits": 3}})


def test_cli_reads_the_checkpoint_precision(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**LLAMA, "quantization_config": {"quant_method": "awq", "bits": 4}}))
    res = run_cli("analyze", "-m", str(path), "-H", "h100-sxm", "--json")
    assert res.code == 0, res.err
    j = json.loads(res.out)
    assert j["precision"].startswith("Wint4/Abf16")
    # 4-bit weights, not 2 bytes each, with a 16-bit scale and zero per group of 128 (4.25 bits);
    # the embedding table and LM head (2 x 131M) stay 16-bit
    table = 32000 * 4096
    assert j["weight_bytes"] == pytest.approx((6.74e9 - 2 * table) * 4.25 / 8 + 2 * 2 * table, rel=0.03)
    # an explicit weight type overrides the checkpoint's
    assert resolve_precision(str(path), "fp16", None, None, None).weight.name == "fp16"
    assert resolve_precision("llama2-7b", None, None, None, None).weight.name == "fp16"
