"""Model presets and the loader that accepts a preset name, a preset-style YAML file or a
Hugging Face ``config.json``."""

from __future__ import annotations

from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from hetsim.datafiles import Registry, check_keys, preset_files, read_mapping
from hetsim.errors import ConfigError, UnknownNameError
from hetsim.workload.hf import is_hf_config, model_from_hf_config
from hetsim.workload.model import ModelSpec

_FIELDS = {f.name for f in fields(ModelSpec)}


def model_from_mapping(data: dict[str, Any], where: str) -> ModelSpec:
    """Build a spec from a preset-style mapping (keys are :class:`ModelSpec` fields)."""
    check_keys(data, _FIELDS, where)
    if "name" not in data:
        raise ConfigError(f"{where}: missing key 'name'")
    missing = [f.name for f in fields(ModelSpec) if f.default is MISSING and f.name not in data]
    if missing:
        raise ConfigError(f"{where}: missing key(s) {', '.join(missing)}")
    data = dict(data)
    aliases = data.get("aliases") or ()
    if not isinstance(aliases, list | tuple):
        raise ConfigError(f"{where}: aliases must be a list of names")
    data["aliases"] = tuple(aliases)
    try:
        return ModelSpec(**data)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _load_presets() -> dict[str, ModelSpec]:
    out: dict[str, ModelSpec] = {}
    for path in preset_files("hetsim.workload.presets"):
        spec = model_from_mapping(read_mapping(path), str(path.name))
        out[spec.name] = spec
    return out


MODELS: Registry[ModelSpec] = Registry("model", _load_presets)


def list_models() -> list[ModelSpec]:
    return [MODELS.get_item(n) for n in MODELS.names()]


def get_model(name_or_path: str | Path) -> ModelSpec:
    """A preset by any name users write (see :mod:`hetsim.workload.names`), or a model file:
    preset-style YAML, a Hugging Face ``config.json`` (a directory holding one also works) or
    a GGUF file (its header)."""
    if isinstance(name_or_path, ModelSpec):
        return name_or_path
    text = str(name_or_path)
    path = Path(text)
    if path.is_dir():
        path = path / "config.json"
    if path.suffix in (".json", ".yaml", ".yml", ".gguf") or path.exists():
        if not path.exists():
            raise ConfigError(f"model file {path} does not exist")
        if path.suffix == ".gguf":
            from hetsim.workload.gguf_file import model_from_gguf

            return model_from_gguf(path)
        data = read_mapping(path)
        if is_hf_config(data):
            return model_from_hf_config(data, name=path.parent.name or path.stem)
        return model_from_mapping(data, str(path))
    return model_preset(text)


def model_preset(name: str) -> ModelSpec:
    """A shipped preset by any name that resolves to one (aliases, hub ids, tags), never a file:
    what the dashboard takes."""
    from hetsim.workload.names import resolve

    try:
        return resolve(name).model
    except UnknownNameError as err:  # the CLI's hint offers a path; a dashboard takes none
        raise UnknownNameError("model", name, MODELS.names()) from err
