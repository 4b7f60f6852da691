"""The data types a Hugging Face checkpoint stores: ``torch_dtype`` and, when present,
``quantization_config`` (AWQ, GPTQ, bitsandbytes, FP8, compressed-tensors, MXFP4). A loader
that reads ``torch_dtype`` alone takes a 4-bit AWQ checkpoint for 2-byte weights.

Weight-only formats (AWQ, GPTQ, int8/int4 bitsandbytes, MXFP4 on the checkpoint) dequantise
to the activation type for their GEMMs; FP8 checkpoints (``quant_method: fp8``) and
compressed-tensors schemes with quantised input activations run narrow GEMMs.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from hetsim.datafiles import read_mapping
from hetsim.errors import ConfigError
from hetsim.workload.dtypes import Precision, dtype

Cfg = dict[str, Any]


def _act(cfg: Cfg) -> str:
    """The checkpoint's 16-bit activation type (``torch_dtype``; fp16 when absent)."""
    t = str(cfg.get("torch_dtype") or cfg.get("dtype") or "float16").lower()
    return "bf16" if "bfloat16" in t or t == "bf16" else "fp32" if t in ("float32", "fp32") else "fp16"


def _int_bits(bits: Any, where: str) -> str:
    try:
        b = int(bits)
    except (TypeError, ValueError):
        raise ConfigError(f"config.json quantization_config: {where} bits {bits!r} is not a number") from None
    if b not in (4, 8):
        raise ConfigError(
            f"config.json quantization_config: {b}-bit {where} weights are not modelled (4 or 8)"
        )
    return f"int{b}"


def _group(value: Any) -> int:
    """The checkpoint's weights per scale group (-1: per channel; 0: not stated)."""
    if value is None:
        return 0
    try:
        g = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"config.json quantization_config: group_size {value!r} is not a number") from None
    if g == 0 or g < -1:
        raise ConfigError(
            f"config.json quantization_config: group_size {g} must be positive or -1 (per channel)"
        )
    return g


def _compressed_tensors(q: Cfg, act: str) -> Precision:
    groups = q.get("config_groups") or {}
    if not isinstance(groups, dict) or not groups:
        raise ConfigError("config.json quantization_config (compressed-tensors): no config_groups")
    scheme = next(iter(groups.values()))
    w = scheme.get("weights") or {}
    a = scheme.get("input_activations") or {}
    w_float = str(w.get("type", "int")).lower() == "float"
    bits = int(w.get("num_bits", 16))
    weight = ("fp8" if bits == 8 else "fp4") if w_float else _int_bits(bits, "compressed-tensors")
    # strategy "channel": one scale per output channel; "group" / "tensor_group": group_size
    group = -1 if str(w.get("strategy", "")).lower() == "channel" else _group(w.get("group_size"))
    if a and int(a.get("num_bits", 16)) < 16:  # W8A8 / FP8 dynamic: narrow GEMM inputs
        gemm = weight if w_float else "int8"
        return Precision.of(weight, act, act, gemm, group)
    return Precision.of(weight, act, act, act, group)


def precision_from_hf_config(cfg: Cfg) -> Precision:
    """The precision a checkpoint runs at (weights, GEMM inputs, activations, KV cache)."""
    act = _act(cfg)
    q = cfg.get("quantization_config")
    if not q:
        return Precision.of(act)
    if not isinstance(q, dict):
        raise ConfigError("config.json quantization_config must be a mapping")
    method = str(q.get("quant_method", "")).lower()
    if method in ("awq", "gptq", "aqlm", "hqq", "marlin"):
        weight = _int_bits(q.get("bits", q.get("w_bit", 4)), method)
        return Precision.of(weight, act, act, act, _group(q.get("group_size", q.get("q_group_size"))))
    if method == "bitsandbytes":
        weight = "int4" if q.get("load_in_4bit") else "int8"
        return Precision.of(weight, act, act, act)
    if method in ("fp8", "fbgemm_fp8"):
        if q.get("weight_block_size"):  # DeepSeek-V3's 128x128 blocks, one FP32 scale each
            return Precision.of("fp8-block", act, act)
        return Precision.of("fp8", act, act, "fp8")
    if method == "mxfp4":
        return Precision.of("fp4", act, act, act, 32)  # MXFP4: E8M0 scale per 32; weight-only: dequantised
    if method == "compressed-tensors":
        return _compressed_tensors(q, act)
    known = "awq, gptq, bitsandbytes, fp8, mxfp4, compressed-tensors"
    raise ConfigError(f"config.json quantization_config: quant_method {method!r} is not modelled ({known})")


def checkpoint_precision(model: str) -> Precision | None:
    """The checkpoint precision of a ``config.json`` path (or a folder holding one), of a GGUF
    file (its tensors' types), or of a model name with a precision suffix (``-FP8``, ``-AWQ``,
    ``-Q4_K_M`` ...); None for a plain preset name or a model YAML."""
    path = Path(model)
    if path.suffix == ".gguf" and path.is_file():
        from hetsim.workload.gguf_file import precision_from_gguf

        return precision_from_gguf(path)
    if path.is_dir():
        path = path / "config.json"
    if path.suffix == ".json" and path.is_file():
        return precision_from_hf_config(read_mapping(path))
    if path.suffix in (".json", ".yaml", ".yml", ".gguf") or path.exists():
        return None
    from hetsim.workload.names import normalise

    fmt = normalise(model)[1]
    return Precision.of(fmt) if fmt else None


def resolve_precision(
    model: str, weight: str | None, activation: str | None, kv: str | None, gemm: str | None
) -> Precision:
    """The precision of a run: the given types; where no weight type is given and ``model`` is
    a ``config.json``, the checkpoint's (each other given type still overrides its part)."""
    ckpt = checkpoint_precision(model) if weight is None else None
    if ckpt is None:
        return Precision.of(weight or "fp16", activation, kv, gemm)
    return replace(
        ckpt,
        activation=dtype(activation) if activation else ckpt.activation,
        kv=dtype(kv) if kv else ckpt.kv,
        gemm=dtype(gemm) if gemm else ckpt.gemm,
    )
