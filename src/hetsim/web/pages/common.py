"""Inputs shared by several pages: model, hardware (preset or upload), data types, workload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hetsim.api.lookup import (
    DTYPES,
    ENGINES,
    HARDWARE,
    MODELS,
    Device,
    ModelSpec,
    Precision,
    get_model,
    model_preset,
    policy_names,
)
from hetsim.errors import ConfigError
from hetsim.options import BY_NAME, OPTIONS, AnalysisOptions
from hetsim.web.context import Context
from hetsim.web.view import Field, Inputs

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
        Field("act_dtype", "activations", "select", "", ("", *DTYPE_NAMES),
              help="empty: the weight type if float, else fp16", group="dtypes"),
        Field("kv_dtype", "KV cache", "select", "", ("", *DTYPE_NAMES), help="empty: the activation type",
              group="dtypes"),
        Field("gemm_dtype", "GEMM inputs", "select", "", ("", *DTYPE_NAMES),
              help="empty: fp8/fp4 weights run fp8/fp4 GEMMs, others 16-bit", group="dtypes"),
        Field("weight_group", "weights per scale (int4)", "number", "", group="dtypes",
              help="empty: the format's default (128); -1: one scale per channel"),
    ]  # fmt: skip


def option_fields(skip: tuple[str, ...] = (), ignore_capacity: bool = True) -> list[Field]:
    """The fields of the analysis options (hetsim.options) other than model and hardware:
    data types, placement, parallelism, framework, capacity check, calibration."""
    policy = BY_NAME["policy"].help
    out = [
        *precision_fields(),
        Field("policy", "placement policy", "select", "auto", tuple(policy_names()), group="placement",
              help=policy),
        Field("static_placement", "place once for the full length (no re-map)", "checkbox", False,
              group="placement"),
        Field("tp", "tensor parallel", "number", 1, group="parallel"),
        Field("pp", "pipeline stages", "number", 1, group="parallel"),
        Field("attention", "attention", "select", "fused", BY_NAME["attention"].choices, group="parallel"),
        Field("overlap", "compute/memory overlap", "select", "max", BY_NAME["overlap"].choices,
              group="parallel"),
        Field("framework", "framework profile", "select", "", ("", *(e.name for e in ENGINES)),
              group="engine", help=BY_NAME["framework"].help),
        Field("ignore_capacity", "report a run that does not fit", "checkbox", ignore_capacity,
              group="engine"),
        Field("uncalibrated", "datasheet roofline (no calibrated kernels)", "checkbox", False,
              group="engine"),
        Field("ep", "expert parallel (MoE)", "number", 1, group="parallel", help=BY_NAME["ep"].help),
        Field("dp_attention", "DP attention (each EP device a rank)", "checkbox", False, group="parallel",
              help=BY_NAME["dp_attention"].help),
        Field("ep_skew", "EP load skew", "number", "", group="parallel",
              help="empty: balanced (1); " + BY_NAME["ep_skew"].help),
        Field("ep_redundant", "redundant expert replicas", "number", 0, group="parallel",
              help=BY_NAME["ep_redundant"].help),
        Field("ep_shared_devices", "shared-expert devices", "number", 0, group="parallel",
              help=BY_NAME["ep_shared_devices"].help),
        Field("spec", "speculative decoding", "text", "", group="engine", help=BY_NAME["spec"].help),
        Field("interleave", "interleaved sub-batches", "number", 1, group="parallel",
              help=BY_NAME["interleave"].help),
    ]  # fmt: skip
    return [f for f in out if f.name not in skip]


# dashboard field -> (option, negated): the two checkboxes that say the opposite of the option
NEGATED = {"static_placement": "dynamic", "uncalibrated": "calibrated"}


def read_options(inp: Inputs, ctx: Context, *, ignore_capacity: bool = True, **fixed: Any) -> AnalysisOptions:
    """The analysis options of a form (model and hardware read as uploads or preset names),
    checked by the one validator; ``fixed`` sets options the page decides itself."""
    values: dict[str, Any] = {}
    for o in OPTIONS:
        if o.name in fixed or o.name in ("model", "hardware"):
            continue
        if o.name in NEGATED.values():
            field = next(k for k, v in NEGATED.items() if v == o.name)
            if field in inp.values:
                values[o.name] = not inp.flag(field)
            continue
        raw = inp.values.get(o.name)
        if raw is None or raw == "":
            continue
        values[o.name] = _typed(o.kind, o.flag, raw) if o.kind != "bool" else inp.flag(o.name)
    values.setdefault("ignore_capacity", ignore_capacity)
    if "model" not in fixed:
        values["model"] = read_model(inp, ctx)
    if "hardware" not in fixed:
        values["hardware"] = read_hardware(inp, ctx)
    return AnalysisOptions.parse({**values, **fixed})


def _typed(kind: str, flag: str, raw: Any) -> Any:
    """A form value as the option's type (numbers arrive as text or JSON numbers)."""
    if kind == "number":
        try:
            return float(str(raw).strip())
        except ValueError:
            raise ConfigError(f"{flag} must be a number, got {str(raw)[:40]!r}") from None
    if kind not in ("count", "slots", "group"):
        return str(raw).strip()
    text = str(raw).strip()
    if isinstance(raw, bool) or not text.lstrip("+-").isdigit() or len(text) > 19:
        raise ConfigError(f"{flag} must be a whole number, got {text[:40]!r}")
    return int(text)


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
    from hetsim.api.lookup import get_hardware, hardware_preset

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
