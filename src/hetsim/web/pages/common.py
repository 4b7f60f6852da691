"""Inputs shared by several pages: model, hardware (preset or upload), data types, workload."""

from __future__ import annotations

from pathlib import Path

from hetsim.hardware.loader import HARDWARE
from hetsim.hardware.spec import Device
from hetsim.web.context import Context
from hetsim.web.view import Field, Inputs
from hetsim.workload.dtypes import DTYPES, Precision
from hetsim.workload.model import ModelSpec
from hetsim.workload.registry import MODELS, get_model, model_preset

MODEL_SUFFIXES = (".json", ".yaml", ".yml")
HARDWARE_SUFFIXES = (".yaml", ".yml", ".json")
DTYPE_NAMES = tuple(DTYPES)


def model_fields(default: str = "llama2-7b") -> list[Field]:
    return [
        Field("model", "model preset", "select", default, tuple(MODELS.names()), group="model"),
        Field(
            "model_file",
            "or upload config.json / model YAML",
            "file",
            accept=",".join(MODEL_SUFFIXES),
            help="A Hugging Face config.json or a preset-style YAML; it replaces the preset.",
            group="model",
        ),
    ]


def hardware_field(
    name: str = "hardware",
    default: str = "a100-80gb-sxm",
    label: str = "hardware preset",
    group: str = "hardware",
    allow_none: bool = False,
) -> Field:
    options = (("",) if allow_none else ()) + tuple(HARDWARE.names())
    return Field(name, label, "select", default, options, group=group, blank="(none)")


def hardware_upload_field(name: str = "hardware_file") -> Field:
    return Field(
        name,
        "or upload hardware YAML",
        "file",
        accept=",".join(HARDWARE_SUFFIXES),
        help="A file in the preset schema (see hardware/presets/h100-sxm.yaml).",
        group="hardware",
    )


def precision_fields() -> list[Field]:
    return [
        Field("weight_dtype", "weights", "select", "fp16", DTYPE_NAMES, group="dtypes"),
        Field(
            "act_dtype",
            "activations",
            "select",
            "",
            ("", *DTYPE_NAMES),
            help="empty: the weight type if float, else fp16",
            group="dtypes",
        ),
        Field(
            "kv_dtype",
            "KV cache",
            "select",
            "",
            ("", *DTYPE_NAMES),
            help="empty: the activation type",
            group="dtypes",
        ),
    ]


def workload_fields(batch: int = 1, input_len: int = 512, output_len: int = 128) -> list[Field]:
    return [
        Field("batch", "batch (sequences)", "number", batch, group="workload"),
        Field("input_len", "prompt tokens", "number", input_len, group="workload"),
        Field("output_len", "generated tokens", "number", output_len, group="workload"),
    ]


def read_model(inp: Inputs, ctx: Context) -> ModelSpec:
    """The uploaded model file, else the preset named (a name, never a path)."""
    up = inp.uploads.get("model_file")
    if up is not None:
        return get_model(ctx.save_upload(up, MODEL_SUFFIXES, hf_model=True))
    return model_preset(inp.text("model", "llama2-7b"))


def read_hardware(inp: Inputs, ctx: Context, name: str = "hardware", upload: str = "hardware_file") -> Device:
    """The uploaded hardware file, else the preset named (a name, never a path)."""
    from hetsim.hardware.loader import get_hardware, hardware_preset

    up = inp.uploads.get(upload)
    if up is not None:
        path = ctx.save_upload(up, HARDWARE_SUFFIXES)
        _refuse_composed_files(path)
        return get_hardware(path)
    return hardware_preset(inp.text(name, "a100-80gb-sxm"))


def read_precision(inp: Inputs) -> Precision:
    return Precision.of(
        inp.text("weight_dtype", "fp16"), inp.text("act_dtype") or None, inp.text("kv_dtype") or None
    )


def _refuse_composed_files(path: Path) -> None:
    """An uploaded composition (``compose: {gpu: ..., host: ...}``) names its parts by preset: a
    part that names a file would make the server read one of its own files."""
    from hetsim.datafiles import read_mapping
    from hetsim.errors import ConfigError

    raw = read_mapping(path)
    parts = raw.get("compose") if isinstance(raw, dict) else None
    if not isinstance(parts, dict):
        return
    for key in ("gpu", "host"):
        value = str(parts.get(key, ""))
        if "/" in value or "\\" in value or value.lower().endswith((".yaml", ".yml", ".json")):
            raise ConfigError(
                f"{path.name}: compose.{key} names a file ({value!r}); the dashboard takes preset "
                "names only (`hetsim hardware` lists them), or run the composition with the CLI"
            )
