"""Named unit constants (SI inside) and parsers for quantities written in data files.

Decimal prefixes mean powers of ten (``GB = 10**9``); binary ones are spelled ``GiB``; ``B``
is a byte and ``b`` a bit. Input files write quantities with their unit (``"3 TB/s"``,
``"300 ns"``, ``"400 Gb/s"``) or put the unit in the key's name (``static_power_w: 100``);
they are converted once, at load, by :func:`parse_quantity` / :func:`parse_number`.
"""

from __future__ import annotations

import math
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
GIGA = 1e9

# Prefixes: decimal ones are powers of ten, binary ones (Ki, Mi, ...) powers of two; "k" and
# "K" both mean 10**3. Symbols are case-sensitive where case changes the meaning: "B" is a
# byte and "b" a bit (so "400 Gb/s" is 50 GB/s), "M" is mega and "m" milli ("500 Ms" is refused).
_SI = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
_BINARY = {"Ki": float(KiB), "Mi": float(MiB), "Gi": float(GiB), "Ti": float(TiB), "Pi": float(2**50)}
_BYTE_SYMBOLS = {"B": 1.0, "byte": 1.0, "bytes": 1.0, "b": 1 / 8, "bit": 1 / 8, "bits": 1 / 8}


def _sizes() -> dict[str, float]:
    out = {}
    for sym, per in _BYTE_SYMBOLS.items():
        for pre, f in (_SI | _BINARY).items():
            if len(sym) > 1 and pre:
                continue  # "kbyte", "Gbits": spell them kB, Gb
            out[pre + sym] = f * per
    return out


_SIZE = _sizes()
_TIME = {"s": 1.0, "ms": MS, "us": US, "µs": US, "ns": NS}
_RATE = {f"{pre}{sym}": f for pre, f in _SI.items() if pre != "k"
         for sym in ("FLOP/s", "flop/s", "FLOPS", "OP/s", "op/s", "OPS")}  # fmt: skip
_POWER = {"W": 1.0, "kW": 1e3}
_ENERGY_PER_BIT = {"pJ/bit": PJ, "pJ/b": PJ}
_FREQUENCY = {"Hz": 1.0, "kHz": 1e3, "MHz": 1e6, "GHz": GIGA}

_KINDS: dict[str, dict[str, float]] = {
    "bytes": _SIZE,
    "bytes_per_s": {f"{k}/s": v for k, v in _SIZE.items()},
    "s": _TIME,
    "flop_per_s": _RATE,
    "w": _POWER,
    "j_per_bit": _ENERGY_PER_BIT,
    "hz": _FREQUENCY,
}
_EXAMPLE = {"bytes": "80 GB", "bytes_per_s": "3.35 TB/s", "s": "500 ns", "flop_per_s": "989 TFLOP/s",
            "w": "700 W", "j_per_bit": "3.9 pJ/bit", "hz": "1980 MHz"}  # fmt: skip
_NUMBER_UNIT = re.compile(r"^\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-zµ/]*)\s*$")


def yaml_number_hint(value: object) -> str:
    """A hint for text that reads as a number: YAML 1.1 takes ``6.7e9`` or ``175e9`` (an
    exponent without a dot and a sign) as a string."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return ""
        return " (YAML reads it as text; write the exponent with a dot and a sign, e.g. 6.7e+9)"
    return ""


def parse_number(value: object, *, where: str, minimum: float | None = 0.0) -> float:
    """A plain finite number (a count, ratio, or a quantity whose unit is in its key's name,
    like ``static_power_w``) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: expected a number, got {value!r}{yaml_number_hint(value)}")
    try:
        x = float(value)
    except OverflowError:
        raise ConfigError(f"{where}: {value} is too large") from None
    if not math.isfinite(x):
        raise ConfigError(f"{where}: must be a finite number, got {value!r}")
    if minimum is not None and x < minimum:
        raise ConfigError(f"{where}: must be at least {minimum:g}, got {value!r}")
    return x


def parse_quantity(value: object, kind: str, *, where: str = "", unit_in_name: bool = False) -> float:
    """Return ``value`` in SI base units of ``kind`` (bytes, bytes_per_s, s, flop_per_s, w,
    j_per_bit, hz), finite and non-negative.

    ``value`` is a string with its unit (``"3 TB/s"``, ``"400 Gb/s"``, ``"50 MiB"``). A bare
    number is refused, since it cannot say whether it means bytes or gigabytes, unless the
    unit is part of the key's name (``unit_in_name``: ``kernel_latency_s: 4.0e-6``).
    """
    table = _KINDS.get(kind)
    if table is None:
        raise ValueError(f"unknown quantity kind {kind!r}")
    example = _EXAMPLE.get(kind, "")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not unit_in_name:
            raise ConfigError(f"{where}: {value!r} has no unit; write it with one, e.g. '{example}'")
        return parse_number(value, where=where)
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a quantity with a unit like '{example}', got {value!r}")
    match = _NUMBER_UNIT.match(value)
    if not match:
        raise ConfigError(f"{where}: cannot read quantity {value!r}; write e.g. '{example}'")
    number, unit = float(match.group(1)), match.group(2)
    if not unit:
        raise ConfigError(f"{where}: {value!r} has no unit; write it with one, e.g. '{example}'")
    if unit not in table:
        folded = [k for k in table if k.lower() == unit.lower()]
        hint = f" (did you mean {' or '.join(repr(k) for k in folded)}? case matters)" if folded else ""
        raise ConfigError(f"{where}: {unit!r} is not a unit of {kind.replace('_per_', '/')}{hint}; "
                          f"write e.g. '{example}'")  # fmt: skip
    x = number * table[unit]
    if not math.isfinite(x) or x < 0:
        raise ConfigError(f"{where}: must be a finite, non-negative quantity, got {value!r}")
    return x


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
