"""What a page shows, as plain records: summary cards, figures (Plotly JSON), tables, notes.

Pages build a :class:`View` from core-API results; ``static/dashboard.js`` renders it, in the
dashboard and in the static HTML report alike. Cards keep the exact API value beside the
formatted text (``data-value`` in the page), so a test can compare both with the API.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from hetsim.errors import ConfigError

FieldKind = Literal["select", "number", "file", "checkbox", "text"]
# How dashboard.js formats a table column (the CSV download keeps the raw numbers).
ColumnFmt = Literal["", "time", "bytes", "pct", "int", "float", "sci", "x"]
MAX_COUNT = 2**31  # the largest count a form takes, as the CLI's options


def clean(obj: Any) -> Any:
    """JSON-ready copy of ``obj``: non-finite floats become None, tuples become lists."""
    t = type(obj)  # the common exact types first: a view holds thousands of cells
    if t is str or t is int or t is bool or obj is None:
        return obj
    if t is float:
        return obj if math.isfinite(obj) else None
    if t is dict:
        return {str(k): clean(v) for k, v in obj.items()}
    if t is list or t is tuple:
        return [clean(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Mapping):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # NumPy scalar
        return clean(obj.item())
    return obj


@dataclass(frozen=True, slots=True)
class Card:
    key: str  # stable id (data-key in the page)
    label: str
    value: Any  # the exact API value (data-value)
    text: str  # what a person reads
    tone: Literal["", "good", "bad"] = ""


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    fmt: ColumnFmt = ""


@dataclass(frozen=True, slots=True)
class Table:
    id: str
    title: str
    columns: tuple[Column, ...]
    rows: list[list[Any]]
    caption: str = ""


@dataclass(frozen=True, slots=True)
class Figure:
    id: str
    title: str
    data: list[dict[str, Any]]  # Plotly traces
    layout: dict[str, Any]
    caption: str = ""


@dataclass(frozen=True, slots=True)
class View:
    title: str
    cards: list[Card] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = clean(
            {
                "title": self.title,
                "error": self.error,
                "notes": self.notes,
                "cards": [vars_of(c) for c in self.cards],
                "figures": [vars_of(f) for f in self.figures],
                "tables": [
                    {
                        "id": t.id,
                        "title": t.title,
                        "caption": t.caption,
                        "columns": [vars_of(c) for c in t.columns],
                        "rows": t.rows,
                    }
                    for t in self.tables
                ],
            }
        )
        return out


def vars_of(obj: Any) -> dict[str, Any]:
    return {k: getattr(obj, k) for k in obj.__slots__}


@dataclass(frozen=True, slots=True)
class Field:
    """One input of a page's form."""

    name: str
    label: str
    kind: FieldKind
    default: Any = ""
    options: tuple[str, ...] = ()
    help: str = ""
    accept: str = ""  # file inputs: ".yaml,.yml,.json"
    group: str = ""  # fields of one group share a box
    blank: str = "(auto)"  # how a select shows its "" option

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = clean(vars_of(self))
        return out


@dataclass(frozen=True, slots=True)
class Upload:
    name: str  # the file name the browser sent (never used as a path)
    text: str


@dataclass(frozen=True, slots=True)
class Inputs:
    """A form's values as the browser sent them (strings), with typed, checked getters that
    raise :class:`ConfigError` with a one-line message naming the field."""

    values: Mapping[str, Any]
    uploads: Mapping[str, Upload] = field(default_factory=dict)

    def text(self, name: str, default: str = "") -> str:
        v = self.values.get(name, default)
        return default if v is None else str(v).strip()

    def integer(self, name: str, default: int, minimum: int = 1, maximum: int | None = None) -> int:
        """A whole number in [minimum, maximum] (maximum 2**31 unless given: the CLI's bound)."""
        raw = self.text(name, str(default)) or str(default)
        top = MAX_COUNT if maximum is None else maximum
        v: int | None = None
        if raw.lstrip("+-").isdigit() and len(raw) <= 19:
            v = int(raw)
        else:
            try:
                x = float(raw)
            except ValueError:
                raise ConfigError(f"{name} must be a whole number, got {raw[:40]!r}") from None
            if math.isfinite(x) and x.is_integer():
                v = int(x)
        if v is None or not minimum <= v <= top:
            raise ConfigError(f"{name} must be a whole number from {minimum:,} to {top:,}, got {raw[:40]!r}")
        return v

    def flag(self, name: str, default: bool = False) -> bool:
        v = self.values.get(name, default)
        return v is True or str(v).lower() in ("1", "true", "on", "yes")

    def choice(self, name: str, options: tuple[str, ...], default: str) -> str:
        v = self.text(name, default) or default
        if v not in options:
            raise ConfigError(f"{name} must be one of {', '.join(options)}, got {v!r}")
        return v
