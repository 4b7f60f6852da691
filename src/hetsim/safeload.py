"""Reading user files safely: size, encoding, nesting, aliases and duplicate keys are checked
before anything else sees the data, and every failure is one :class:`ConfigError` line.

Limits (all generous for real model/hardware files, which are a few kB):

- ``MAX_FILE_BYTES``: a file larger than this is refused before it is parsed;
- ``MAX_DEPTH``: mappings and lists nested deeper than this are refused (no ``RecursionError``);
- ``MAX_NODES``: the number of values after expanding YAML aliases (``*ref``), counted without
  expanding them, so a 600-byte "billion laughs" file is refused instead of hanging;
- duplicate keys in one mapping are refused (the last one silently winning hides mistakes);
- ``NaN``/``Infinity`` literals in JSON are refused (strict JSON has neither).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml

from hetsim.errors import ConfigError

MAX_FILE_BYTES = 4 * 2**20
MAX_DEPTH = 40
MAX_NODES = 200_000


def read_text(path: Path, what: str = "file", *, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of ``path``; one-line errors for missing, unreadable, huge or non-UTF-8 files."""
    try:
        if path.is_dir():
            raise ConfigError(f"{what} {path} is a directory; give a file")
        size = path.stat().st_size
        if size > max_bytes:
            raise ConfigError(f"{what} {path} is {size:,} bytes, over the {max_bytes:,}-byte limit")
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}{did_you_mean(path)}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{what} {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save it as UTF-8"
        ) from None


def did_you_mean(path: Path) -> str:
    """For a file that does not exist: '; did you mean X?' naming the closest files beside it
    (same kind of file), or ''."""
    import difflib

    folder = path.parent if str(path.parent) else Path(".")
    try:
        if path.exists() or not folder.is_dir():
            return ""
        siblings = [
            p.name for p in folder.iterdir() if p.suffix.lower() == path.suffix.lower() and p.is_file()
        ]
    except OSError:
        return ""
    stems = {Path(n).stem: n for n in siblings[:1000]}
    close = [stems[c] for c in difflib.get_close_matches(path.stem, stems, n=2, cutoff=0.7)]
    shown = [c if str(path.parent) in ("", ".") else str(folder / c) for c in close]
    return f"; did you mean {' or '.join(shown)}?" if shown else ""


class _Loader(yaml.SafeLoader):
    """SafeLoader that tracks nesting depth and refuses duplicate keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise ConfigError(f"nested deeper than {MAX_DEPTH} levels")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                dup = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key (a list or mapping used as a key)
                raise ConfigError(
                    f"line {key_node.start_mark.line + 1}: a key must be a plain value"
                ) from None
            if dup:
                raise ConfigError(
                    f"line {key_node.start_mark.line + 1}: duplicate key {key!r}; keep only one"
                )
        return super().construct_mapping(node, deep=deep)


def count_nodes(data: Any, limit: int = MAX_NODES) -> int:
    """Values in ``data`` with shared sub-objects counted once per reference (as a consumer
    walking it would see them), computed in time linear in the distinct objects."""
    memo: dict[int, int] = {}
    active: set[int] = set()

    def walk(x: Any, depth: int) -> int:
        if not isinstance(x, dict | list):
            return 1
        key = id(x)
        if key in memo:
            return memo[key]
        if key in active or depth > MAX_DEPTH:
            raise ConfigError("a value refers to itself (recursive YAML alias) or is nested too deep")
        active.add(key)
        children = list(x.keys()) + list(x.values()) if isinstance(x, dict) else x
        n = 1
        for c in children:
            n += walk(c, depth + 1)
            if n > limit:
                break
        active.discard(key)
        memo[key] = n
        return n

    return walk(data, 0)


def _no_constant(name: str) -> float:
    raise ConfigError(f"{name} is not allowed in strict JSON; write a finite number")


def parse_text(text: str, fmt: str, where: str, *, trusted: bool = False) -> Any:
    """Parse YAML (``fmt='yaml'``) or JSON text with the limits above. ``trusted`` YAML (the
    package's own presets, which a test parses with the strict loader) is read by libyaml's
    C loader when it is installed: ten times faster, which keeps the CLI's start-up short."""
    try:
        if fmt == "json":

            def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
                out: dict[str, Any] = {}
                for k, v in items:
                    if k in out:
                        raise ConfigError(f"duplicate key {k!r}; keep only one")
                    out[k] = v
                return out

            data = json.loads(text, object_pairs_hook=pairs, parse_constant=_no_constant)
        else:
            fast = getattr(yaml, "CSafeLoader", None) if trusted else None
            data = yaml.load(text, Loader=fast or _Loader)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply") from None
    except (yaml.YAMLError, ValueError) as exc:  # JSONDecodeError is a ValueError
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        mark = getattr(exc, "problem_mark", None)  # YAML: where the parser stopped (0-based)
        if mark is not None:
            first = (
                f"line {mark.line + 1}, column {mark.column + 1}: {getattr(exc, 'problem', None) or first}"
            )
        raise ConfigError(f"{where} is not valid {fmt.upper()}: {first}") from None
    try:
        n = count_nodes(data)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if n > MAX_NODES:
        raise ConfigError(f"{where}: more than {MAX_NODES:,} values once aliases are expanded")
    return data


def finite(value: float, where: str, *, minimum: float | None = 0.0, strict: bool = False) -> float:
    """``value`` if it is finite and at least ``minimum`` (above it when ``strict``)."""
    if not math.isfinite(value):
        raise ConfigError(f"{where}: must be a finite number, got {value!r}")
    if minimum is not None and (value < minimum or (strict and value == minimum)):
        bound = "greater than" if strict else "at least"
        raise ConfigError(f"{where}: must be {bound} {minimum:g}, got {value!r}")
    return value
