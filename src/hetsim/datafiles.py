"""Reading YAML/JSON data files with one-line errors, and small registry helpers."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from hetsim.errors import ConfigError, UnknownNameError
from hetsim.safeload import parse_text, read_text

T = TypeVar("T")
_PACKAGE = Path(__file__).resolve().parent


def read_mapping(path: Path) -> dict[str, Any]:
    """Parse a YAML or JSON file whose top level is a mapping."""
    text = read_text(path)
    trusted = _PACKAGE in path.resolve().parents  # a file shipped inside hetsim itself
    data = parse_text(text, "json" if path.suffix == ".json" else "yaml", str(path), trusted=trusted)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys to values")
    return data


def preset_files(package: str) -> list[Path]:
    """The ``*.yaml`` files shipped in ``package`` (a presets folder)."""
    root = resources.files(package)
    return sorted(Path(str(p)) for p in root.iterdir() if str(p).endswith(".yaml"))


def check_keys(data: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    """Refuse keys outside ``allowed`` (and keys that are not strings, e.g. ``1:`` or ``null:``),
    and a value that is not a mapping at all."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: must be a mapping of keys to values, got {data!r:.60}")
    odd = [k for k in data if not isinstance(k, str)]
    if odd:
        raise ConfigError(f"{where}: key {odd[0]!r} is not a name; keys must be text")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        close = {k: difflib.get_close_matches(k, list(allowed), n=1, cutoff=0.6) for k in unknown}
        hint = "; ".join(f"did you mean {c[0]!r} for {k!r}?" for k, c in close.items() if c)
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; {hint + ' ' if hint else ''}"
            f"allowed: {', '.join(sorted(allowed))}"
        )


class Registry(dict[str, T]):
    """Name -> item, with aliases and a did-you-mean error."""

    def __init__(self, kind: str, loader: Callable[[], Mapping[str, T]]) -> None:
        super().__init__()
        self.kind = kind
        self._loader = loader
        self._aliases: dict[str, str] = {}
        self._loaded = False

    def _load(self) -> None:
        if not self._loaded:
            self.update(self._loader())
            self._loaded = True

    def add_alias(self, alias: str, name: str) -> None:
        self._aliases[alias] = name

    def names(self) -> list[str]:
        self._load()
        return sorted(self.keys())

    def get_item(self, name: str) -> T:
        self._load()
        key = name.strip().lower()
        key = self._aliases.get(key, key)
        if key not in self:
            raise UnknownNameError(self.kind, name, self.keys())
        return self[key]
