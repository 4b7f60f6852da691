"""Request traces from files: CSV (a header row) or JSON Lines (one object per line).

Fields, with the names public traces use for them:

- arrival: ``arrival_s`` (seconds), ``arrival_ms`` or ``timestamp`` (milliseconds, the Mooncake
  traces: github.com/kvcache-ai/Mooncake, FAST'25 traces ``timestamp``), or ``TIMESTAMP`` (a date
  and time, the Azure LLM inference traces of Splitwise, Patel et al., ISCA 2024:
  github.com/Azure/AzurePublicDataset); times given as milliseconds or dates are shifted so the
  first request arrives at 0;
- prompt tokens: ``input_len``, ``input_length`` (Mooncake), ``ContextTokens`` (Azure);
- output tokens: ``output_len``, ``output_length`` (Mooncake), ``GeneratedTokens`` (Azure);
- optional ``prefix_id`` (or ``session_id``): requests with the same id share the first
  ``prefix_len`` tokens of their prompts (a system prompt, a conversation's previous turns); and
  ``priority`` (an integer, lower served first by the ``priority`` scheduler).

Other columns are ignored. Every row is checked (finite numbers, whole token counts from 1 to
:data:`~hetsim.serving.requests.MAX_LENGTH_TOKENS`, a prefix shorter than its prompt) and a bad
one is reported with its line number. Text that is not UTF-8 is read as Latin-1 (the numbers
are ASCII in both). Rows are sorted by arrival.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from hetsim.errors import ConfigError
from hetsim.serving.requests import MAX_LENGTH_TOKENS, RequestSet

MAX_TRACE_BYTES = 2 * 2**30  # 2 GiB: tens of millions of rows
MAX_TRACE_ROWS = 20_000_000
ARRIVAL = {"arrival_s": 1.0, "arrival_ms": 1e-3, "timestamp": 1e-3, "TIMESTAMP": None}
INPUT = ("input_len", "input_length", "ContextTokens")
OUTPUT = ("output_len", "output_length", "GeneratedTokens")
PREFIX_ID = ("prefix_id", "session_id")
PREFIX_LEN = ("prefix_len",)


def _text(p: Path) -> str:
    try:
        if p.is_dir():
            raise ConfigError(f"trace {p} is a folder; give a CSV or JSON Lines file")
        size = p.stat().st_size
        if size > MAX_TRACE_BYTES:
            raise ConfigError(f"trace {p} is {size:,} bytes, over the {MAX_TRACE_BYTES:,}-byte limit")
        data = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"trace {p}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read trace {p}: {exc.strerror or exc}") from None
    if b"\x00" in data:
        raise ConfigError(f"trace {p} is a binary file; give a CSV or JSON Lines text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _rows(p: Path, text: str) -> tuple[list[str], Iterator[tuple[int, dict[str, Any]]]]:
    """(field names, iterator of (line number, row)) of a CSV or JSON Lines text."""
    head = text.lstrip()[:1]
    if p.suffix.lower() in (".jsonl", ".ndjson") or head == "{":
        objs: list[tuple[int, dict[str, Any]]] = []
        for n, line in enumerate(io.StringIO(text), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line, parse_constant=lambda c: float("nan"))
            except (ValueError, RecursionError):
                obj = None
            if not isinstance(obj, dict):
                raise ConfigError(f"trace {p}, line {n}: not a JSON object")
            objs.append((n, obj))
        return (list(objs[0][1]) if objs else []), iter(objs)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    names = [str(x).strip() for x in (reader.fieldnames or [])]
    reader.fieldnames = names

    def lines() -> Iterator[tuple[int, dict[str, Any]]]:
        try:
            for row in reader:
                extra = row.get(None) or []  # csv's restkey
                if any(
                    str(v).strip() for v in extra
                ):  # values beyond the header (empty ones: a trailing comma)
                    raise ConfigError(f"trace {p}, line {reader.line_num}: more fields than the header has")
                yield reader.line_num, row
        except csv.Error as exc:
            raise ConfigError(f"trace {p}, line {reader.line_num}: {exc}") from None

    return names, lines()


def _pick(names: list[str], options: tuple[str, ...] | list[str]) -> str | None:
    return next((o for o in options if o in names), None)


def _number(p: Path, n: int, name: str, value: Any) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ConfigError(f"trace {p}, line {n}: {name} is missing")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"trace {p}, line {n}: {name} must be a number, got {str(value)[:40]!r}") from None
    if not math.isfinite(x):
        raise ConfigError(f"trace {p}, line {n}: {name} must be finite, got {value}")
    return x


def _tokens(p: Path, n: int, name: str, value: Any, lo: int = 1) -> int:
    x = _number(p, n, name, value)
    if x != int(x) or not lo <= x <= MAX_LENGTH_TOKENS:
        raise ConfigError(
            f"trace {p}, line {n}: {name} must be a whole number of tokens from {lo} to "
            f"{MAX_LENGTH_TOKENS:,}, got {value}"
        )
    return int(x)


def _seconds(p: Path, n: int, col: str, value: Any) -> float:
    scale = ARRIVAL[col]
    if scale is None:  # a date and time (Azure traces)
        try:
            return datetime.fromisoformat(str(value).strip()[:26]).timestamp()
        except ValueError:
            raise ConfigError(f"trace {p}, line {n}: {col} must be a date and time, got {value!r}") from None
    x = _number(p, n, col, value) * scale
    if x < 0:
        raise ConfigError(f"trace {p}, line {n}: {col} must be >= 0, got {value}")
    return x


def load_trace(path: str | Path, *, prefix_len: int = 0) -> RequestSet:
    """Requests from a CSV or JSON Lines trace (see the module docstring for the fields)."""
    p = Path(path)
    names, rows = _rows(p, _text(p))
    arr_col = _pick(names, list(ARRIVAL))
    in_col, out_col = _pick(names, INPUT), _pick(names, OUTPUT)
    need = (
        ("arrival", arr_col, list(ARRIVAL)),
        ("prompt length", in_col, INPUT),
        ("output length", out_col, OUTPUT),
    )
    missing = [f"{what} ({' or '.join(opts)})" for what, col, opts in need if col is None]
    if missing:
        raise ConfigError(
            f"trace {p}: missing column(s) {'; '.join(missing)}; found {', '.join(names[:8]) or 'none'}"
        )
    assert arr_col is not None and in_col is not None and out_col is not None
    pid_col, plen_col = _pick(names, PREFIX_ID), _pick(names, PREFIX_LEN)
    pri_col = "priority" if "priority" in names else None
    t: list[float] = []
    x: list[int] = []
    g: list[int] = []
    pid: list[int] = []
    plen: list[int] = []
    pri: list[int] = []
    ids: dict[str, int] = {}
    for n, row in rows:
        if len(t) >= MAX_TRACE_ROWS:
            raise ConfigError(f"trace {p}: more than {MAX_TRACE_ROWS:,} requests; split it")
        t.append(_seconds(p, n, arr_col, row.get(arr_col)))
        x.append(_tokens(p, n, in_col, row.get(in_col)))
        g.append(_tokens(p, n, out_col, row.get(out_col)))
        raw = row.get(pid_col) if pid_col else None
        key = "" if raw is None else str(raw).strip()
        shared = _tokens(p, n, plen_col, row.get(plen_col) or 0, lo=0) if plen_col else 0
        if shared and not key:
            raise ConfigError(f"trace {p}, line {n}: prefix_len needs a prefix_id (which prompts share it)")
        if shared >= x[-1]:
            raise ConfigError(
                f"trace {p}, line {n}: prefix_len ({shared}) must be shorter than the prompt ({x[-1]})"
            )
        pid.append(ids.setdefault(key, len(ids)) if key and shared else -1)
        plen.append(shared)
        if pri_col:
            v = _number(p, n, "priority", row.get(pri_col) or 0)
            if v != int(v) or abs(v) > 2**31:
                raise ConfigError(f"trace {p}, line {n}: priority must be a whole number, got {v:g}")
            pri.append(int(v))
    if not t:
        raise ConfigError(f"trace {p}: no requests")
    order = np.argsort(np.asarray(t), kind="stable")
    arrival = np.asarray(t, dtype=float)[order]
    if ARRIVAL[arr_col] != 1.0:
        arrival -= arrival[0]
    per_prefix = any(i >= 0 for i in pid)
    return RequestSet(
        arrival,
        np.asarray(x, dtype=np.int64)[order],
        np.asarray(g, dtype=np.int64)[order],
        "trace",
        prefix_len=prefix_len,
        prefix_id=np.asarray(pid, dtype=np.int64)[order] if per_prefix else None,
        prefix_tokens=np.asarray(plen, dtype=np.int64)[order] if per_prefix else None,
        priority=np.asarray(pri, dtype=np.int64)[order] if pri_col else None,
    )
