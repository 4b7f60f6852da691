"""Model names as users write them resolve to a preset and the precision the name states."""

from __future__ import annotations

import pytest

from hetsim.errors import UnknownNameError
from hetsim.workload.names import aliases_of, resolve
from hetsim.workload.quantization import resolve_precision

CASES = [
    ("meta-llama/Llama-3.1-8B-Instruct", "llama3.1-8b", ""),
    ("Llama-3.1-8B-Instruct", "llama3.1-8b", ""),
    ("Qwen/Qwen3-30B-A3B-FP8", "qwen3-30b-a3b", "fp8"),
    ("deepseek-ai/DeepSeek-V3", "deepseek-v3", ""),
    ("deepseek-ai/DeepSeek-R1", "deepseek-v3", ""),
    ("Llama 3.3 70B", "llama3.3-70b", ""),
    ("LLaMA v3.1 405B", "llama3.1-405b", ""),
    ("Mixtral 8x7B", "mixtral-8x7b", ""),
    ("Qwen3-30B-A3B", "qwen3-30b-a3b", ""),
    ("Qwen3-235B-A22B-Instruct-2507-FP8", "qwen3-235b-a22b", "fp8"),
    ("Qwen/Qwen2.5-72B-Instruct-AWQ", "qwen2.5-72b", "awq"),
    ("Qwen/Qwen2.5-7B-Instruct-GPTQ-Int4", "qwen2.5-7b", "gptq"),
    ("openai/gpt-oss-120b-MXFP4", "gpt-oss-120b", "mxfp4"),
    ("nvidia/Llama-3.1-405B-Instruct-NVFP4", "llama3.1-405b", "nvfp4"),
    ("bartowski/Meta-Llama-3.1-8B-Instruct-Q4_K_M", "llama3.1-8b", "q4_k_m"),
    ("unsloth/gpt-oss-20b-GGUF", "gpt-oss-20b", ""),
    ("google/gemma-3-27b-it", "gemma3-27b", ""),
    ("microsoft/Phi-3-mini-4k-instruct", "phi3-mini", ""),
    ("mistralai/Mistral-7B-Instruct-v0.1", "mistral-7b", ""),
    ("meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8", "llama4-maverick", "fp8"),
    ("moonshotai/Kimi-K2-Instruct", "kimi-k2", ""),
    ("zai-org/GLM-4.5-Air-FP8", "glm-4.5-air", "fp8"),
    ("RedHatAI/Meta-Llama-3.1-70B-Instruct-quantized.w4a16", "llama3.1-70b", "gptq"),
    ("Llama-2-70b-chat-hf", "llama2-70b", ""),
    ("llama-2-70b", "llama2-70b", ""),
    ("GPT-J-6B", "gpt-j-6b", ""),
]


@pytest.mark.parametrize(("text", "preset", "fmt"), CASES)
def test_names_resolve(text: str, preset: str, fmt: str) -> None:
    r = resolve(text)
    assert (r.model.name, r.weight_format) == (preset, fmt)


@pytest.mark.parametrize("text", ["llama-7b", "llama2-70", "DeepSeek-R1-Distill-Llama-70B", "qwen3-31b-a3b"])
def test_no_guessing_unknown_names_get_the_closest_and_the_config_route(text: str) -> None:
    with pytest.raises(UnknownNameError, match=r"config\.json") as err:
        resolve(text)
    assert "hetsim models" in str(err.value)


def test_close_names_are_suggested() -> None:
    with pytest.raises(UnknownNameError, match="did you mean llama2-70b"):
        resolve("llama2-70")


def test_the_stated_precision_is_the_run_s_unless_one_is_given() -> None:
    assert resolve_precision("Qwen/Qwen3-30B-A3B-FP8", None, None, None, None).label == "Wfp8/Afp16/KVfp16"
    assert resolve_precision("Qwen2.5-72B-Instruct-AWQ", None, None, None, None).weight_bits == 4.25
    assert resolve_precision("Qwen/Qwen3-30B-A3B-FP8", "bf16", None, None, None).weight.name == "bf16"
    assert resolve_precision("llama3.1-8b", None, None, None, None).weight.name == "fp16"


def test_aliases_are_listed() -> None:
    assert "deepseek-r1" in aliases_of("deepseek-v3")
