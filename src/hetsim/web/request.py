"""What the dashboard accepts from a request, checked before any page sees it.

- A body is strict JSON: one object, no ``NaN``/``Infinity``, no number outside a float's
  range (``1e400``), no integer longer than :data:`MAX_INT_DIGITS` digits, nested at most a
  few levels, strings without control characters or lone surrogates. Every failure is one
  :class:`ConfigError` line (answered 400), never a dropped connection.
- ``values`` is a flat mapping of field name to text, number, true/false or null.
- ``uploads`` maps a file field to the id of an upload the dashboard holds (``u-...``, from
  ``POST /api/upload``) or to the file itself, ``{"name", "text"}``; never to a path.
- :class:`Origins` is who may talk to the dashboard: a request whose ``Host`` is not one of
  the dashboard's own names, or whose ``Origin`` is another site's, is refused (DNS
  rebinding; a web page posting to a server on localhost).
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hetsim.errors import ConfigError
from hetsim.web.context import Context
from hetsim.web.view import Inputs, Upload

MAX_INT_DIGITS = 18  # every count the pages take fits in far fewer
MAX_TEXT_CHARS = 10_000  # a form value (file contents go in uploads)
MAX_NAME_CHARS = 255
MAX_DEPTH = 4  # {"uploads": {"field": {"name": ...}}}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
WILDCARD = ("0.0.0.0", "::", "")


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ConfigError(f"the number {text[:12]}... has {len(text)} digits; numbers here have at most 18")
    return int(text)


def _float(text: str) -> float:
    x = float(text)
    if not math.isfinite(x):
        raise ConfigError(f"the number {text[:24]} is out of range; give a finite number")
    return x


def _constant(name: str) -> float:
    raise ConfigError(f"{name} is not allowed in JSON; give a finite number")


def _depth(obj: Any, level: int = 0) -> None:
    if level > MAX_DEPTH:
        raise ConfigError(f"the request is nested deeper than {MAX_DEPTH} levels")
    if isinstance(obj, dict):
        for v in obj.values():
            _depth(v, level + 1)
    elif isinstance(obj, list):
        for v in obj:
            _depth(v, level + 1)


def _text(value: str, where: str, limit: int) -> str:
    if len(value) > limit:
        raise ConfigError(f"{where} is {len(value):,} characters; the limit is {limit:,}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"{where} is not valid Unicode text (a lone surrogate)") from None
    if _CONTROL.search(value):
        raise ConfigError(f"{where} holds a control character (e.g. NUL); remove it")
    return value


def parse_body(raw: bytes) -> dict[str, Any]:
    """A request body -> a JSON object, or one :class:`ConfigError` line."""
    try:
        data = json.loads(raw or b"{}", parse_int=_int, parse_float=_float, parse_constant=_constant)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ConfigError("the request body is not JSON") from None
    except RecursionError:
        raise ConfigError(f"the request is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # int() of a long literal (sys.set_int_max_str_digits)
        raise ConfigError(f"the request body is not usable JSON: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError("the request body must be a JSON object")
    _depth(data)
    return data


def parse_request(raw: bytes, ctx: Context) -> Inputs:
    """A page's POST body -> :class:`Inputs` (uploads resolved to the files the dashboard holds)."""
    data = parse_body(raw)
    values = data.get("values") or {}
    ups = data.get("uploads") or {}
    if not isinstance(values, dict) or not isinstance(ups, dict):
        raise ConfigError("values and uploads must be JSON objects")
    for name, v in values.items():
        _text(name, "a field name", MAX_NAME_CHARS)
        if isinstance(v, str):
            _text(v, f"values.{name[:40]}", MAX_TEXT_CHARS)
        elif v is not None and not isinstance(v, bool | int | float):
            raise ConfigError(f"values.{name[:40]} must be text, a number, true/false or null")
    uploads = {}
    for name, up in ups.items():
        _text(name, "an upload field name", MAX_NAME_CHARS)
        if isinstance(up, str):
            uploads[name] = ctx.held(up)
        elif isinstance(up, dict):
            uploads[name] = parse_upload(up)
            ctx.hold(uploads[name])  # size checked here; a file sent again is not written again
        else:
            raise ConfigError(f"upload {name[:40]!r} must be the id of an upload or {{name, text}}")
    return Inputs(values, uploads)


def parse_upload(data: dict[str, Any]) -> Upload:
    """``{"name", "text"}`` -> :class:`Upload` (the name is kept only as a label)."""
    name, text = data.get("name"), data.get("text")
    if not isinstance(name, str) or not isinstance(text, str) or set(data) - {"name", "text"}:
        raise ConfigError("an upload is {name, text}: the file's name and its text")
    return Upload(_text(name, "the upload's name", MAX_NAME_CHARS), _text_file(text))


def _text_file(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError("the uploaded file is not valid Unicode text (a lone surrogate)") from None
    if "\x00" in text:
        raise ConfigError("the uploaded file holds a NUL byte; upload a text file")
    return text


@dataclass(frozen=True, slots=True)
class Origins:
    """The ``Host`` values (``name:port``) under which the dashboard answers; an ``Origin`` is
    allowed when it is ``http://`` one of them."""

    hosts: frozenset[str]

    @classmethod
    def of(cls, bound: str, port: int, extra: Iterable[str] = ()) -> Origins:
        names = {*LOOPBACK, *extra}
        if bound in WILDCARD:  # every address of this machine
            names |= _own_names()
        else:
            names.add(f"[{bound}]" if ":" in bound and not bound.startswith("[") else bound)
        hosts = {f"{n.lower()}:{port}" for n in names}
        if port == 80:
            hosts |= {n.lower() for n in names}
        return cls(frozenset(hosts))

    def refusal(self, host: str | None, origin: str | None) -> str:
        """Why a request with these headers is refused ("" when it is not)."""
        if not host or host.lower() not in self.hosts:
            return (
                f"Host {(host or '')[:80]!r} is not this dashboard's address (a page on another "
                "site cannot use it); open it as http://127.0.0.1:PORT, or start it with "
                "--allow-host NAME to reach it by another name"
            )
        if origin is not None and not (
            origin.lower().startswith("http://") and origin.lower()[len("http://") :] in self.hosts
        ):
            return (
                f"Origin {origin[:80]!r} is another site: a page elsewhere may not use the "
                "dashboard (open it directly, or start it with --allow-host NAME)"
            )
        return ""


def _own_names() -> set[str]:
    names = {socket.gethostname(), socket.getfqdn()}
    with contextlib.suppress(OSError):
        names |= set(socket.gethostbyname_ex(socket.gethostname())[2])
    return {n for n in names if n}
