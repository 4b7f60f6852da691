"""Named unit constants (SI inside) and parsers for quantities written in data files.

Decimal prefixes mean powers of ten (``GB = 10**9``); binary ones are spelled ``GiB``.
Input files may say ``capacity_gb: 96``, ``"3 TB/s"`` or ``"300 ns"``; they are converted
once, at load, by :func:`parse_quantity`.
"""

from __future__ import annotations

import re

from hetsim.errors import ConfigError

KB = 10**3
MB = 10**6
GB = 10**9
TB = 10**12
KiB = 2**10
MiB = 2**20
GiB = 2**30
TiB = 2**40

NS = 1e-9
US = 1e-6
MS = 1e-3

PJ = 1e-12  # joules per picojoule
TERA = 1e12
GIGA = 1e9

_BYTES = {
    "b": 1,
    "kb": KB,
    "mb": MB,
    "gb": GB,
    "tb": TB,
    "kib": KiB,
    "mib": MiB,
    "gib": GiB,
    "tib": TiB,
}
_TIME = {"s": 1.0, "ms": MS, "us": US, "µs": US, "ns": NS}
_RATE = {"flop/s": 1.0, "gflop/s": GIGA, "tflop/s": TERA, "pflop/s": 1e15, "tops": TERA}
_POWER = {"w": 1.0, "kw": 1e3}
_ENERGY_PER_BIT = {"pj/bit": PJ, "pj/b": PJ}
_FREQUENCY = {"hz": 1.0, "khz": 1e3, "mhz": 1e6, "ghz": GIGA}

_KINDS: dict[str, dict[str, float]] = {
    "bytes": {k: float(v) for k, v in _BYTES.items()},
    "bytes_per_s": {f"{k}/s": float(v) for k, v in _BYTES.items()},
    "s": _TIME,
    "flop_per_s": _RATE,
    "w": _POWER,
    "j_per_bit": _ENERGY_PER_BIT,
    "hz": _FREQUENCY,
}

_NUMBER_UNIT = re.compile(r"^\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-zµ/]*)\s*$")


def parse_quantity(value: object, kind: str, *, where: str = "") -> float:
    """Return ``value`` in SI base units of ``kind`` (bytes, bytes_per_s, s, flop_per_s, ...).

    A bare number is taken as already in SI units; a string such as ``"3 TB/s"`` is parsed.
    """
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a number or a string like '3 TB/s', got {value!r}")
    match = _NUMBER_UNIT.match(value)
    if not match:
        raise ConfigError(f"{where}: cannot read quantity {value!r}")
    number, unit = float(match.group(1)), match.group(2).lower()
    if not unit:
        return number
    table = _KINDS.get(kind)
    if table is None or unit not in table:
        known = ", ".join(sorted(table or {}))
        raise ConfigError(f"{where}: unit {match.group(2)!r} is not a {kind} unit (use one of {known})")
    return number * table[unit]


def fmt_bytes(n: float) -> str:
    """Human-readable decimal size: ``fmt_bytes(3e9) == '3.00 GB'``."""
    for unit, size in (("TB", TB), ("GB", GB), ("MB", MB), ("kB", KB)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n:.0f} B"


def fmt_time(t: float) -> str:
    """Human-readable duration: ``fmt_time(0.0123) == '12.30 ms'``."""
    if t >= 1:
        return f"{t:.3f} s"
    if t >= MS:
        return f"{t / MS:.2f} ms"
    if t >= US:
        return f"{t / US:.2f} µs"
    return f"{t / NS:.1f} ns"
