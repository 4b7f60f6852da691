"""Money: the capital and operating cost of a system, and what a token costs on it.

Capex is built from parts: the compute chip(s) of each device plus each memory side's capacity
at the per-GB price of its technology (HBM3, HBM3e, LPDDR5X, DDR5, GDDR7, CXL, NVMe, ...). A
device sold whole (a GPU card) has a street price; its logic part is that price less its own
memory at the per-GB price, so a hypothetical capacity changes capex by capacity x $/GB.

    $/hour    = capex / (amortization_years x 8760 h x utilization) + power x PUE x $/kWh
    $/Mtoken  = $/hour / (tokens/s x 3600 s/h) x 1e6

Every price is a :class:`Price` with its source and date (``prices.yaml``); a spec or caller
overrides any of them by key (:meth:`PriceBook.with_overrides`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from hetsim.datafiles import read_mapping
from hetsim.errors import ConfigError, UnknownNameError
from hetsim.hardware.spec import Device
from hetsim.units import GB

HOURS_PER_YEAR = 8760.0
_SCALARS = ("electricity_usd_per_kwh", "pue", "amortization_years", "utilization")
_TABLES = ("memory_usd_per_gb", "devices", "chips")


@dataclass(frozen=True, slots=True)
class Price:
    """One number with where it comes from (``source`` starts with "assumed" when no public
    figure was found) and when it was stated (``date``)."""

    value: float
    source: str
    date: str = ""

    def __post_init__(self) -> None:
        if not (isinstance(self.value, int | float) and np.isfinite(self.value) and self.value >= 0):
            raise ConfigError(f"price must be a non-negative number, got {self.value!r}")


@dataclass(frozen=True, slots=True)
class PriceBook:
    electricity_usd_per_kwh: Price
    pue: Price
    amortization_years: Price
    utilization: Price
    memory_usd_per_gb: Mapping[str, Price]
    devices: Mapping[str, Price]
    chips: Mapping[str, Price]
    chip_of_device: Mapping[str, tuple[str, int]]  # device -> (chip, chips per device)

    def __post_init__(self) -> None:
        if self.pue.value < 1:
            raise ConfigError(f"pue must be at least 1, got {self.pue.value}")
        if not 0 < self.utilization.value <= 1:
            raise ConfigError(f"utilization must be in (0, 1], got {self.utilization.value}")
        if self.amortization_years.value <= 0:
            raise ConfigError("amortization_years must be positive")

    def with_overrides(self, raw: Mapping[str, Any] | None, *, where: str = "prices") -> PriceBook:
        """A copy with the entries of ``raw`` (same layout as ``prices.yaml``; a bare number
        is taken as a user-stated price) replacing the book's."""
        if not raw:
            return self
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where}: expected a mapping like {{memory_usd_per_gb: {{HBM3e: 12}}}}")
        changes: dict[str, Any] = {}
        for key, value in raw.items():
            if key in _SCALARS:
                changes[key] = _price(value, f"{where}.{key}", "stated in the spec")
            elif key in _TABLES:
                if not isinstance(value, Mapping):
                    raise ConfigError(f"{where}.{key}: expected a mapping of name to price")
                table = dict(getattr(self, key))
                for name, v in value.items():
                    table[str(name)] = _price(v, f"{where}.{key}.{name}", "stated in the spec")
                changes[key] = table
            elif key == "chip_of_device":
                if not isinstance(value, Mapping):
                    raise ConfigError(
                        f"{where}.chip_of_device: expected {{DEVICE: {{chip: NAME, count: N}}}}"
                    )
                extra = {str(k): _chip_of(v, f"{where}.chip_of_device.{k}") for k, v in value.items()}
                changes[key] = {**self.chip_of_device, **extra}
            else:
                raise UnknownNameError(f"{where} entry", str(key), (*_SCALARS, *_TABLES, "chip_of_device"))
        return replace(self, **changes)


def _price(raw: Any, where: str, default_source: str) -> Price:
    if isinstance(raw, Mapping):
        if "value" not in raw:
            raise ConfigError(f"{where}: give a value (and a source and date)")
        try:
            return Price(
                float(raw["value"]), str(raw.get("source", default_source)), str(raw.get("date", ""))
            )
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: value must be a number, got {raw['value']!r}") from None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ConfigError(f"{where}: expected a number or {{value, source, date}}, got {raw!r}")
    return Price(float(raw), default_source)


def _chip_of(raw: Any, where: str) -> tuple[str, int]:
    if not isinstance(raw, Mapping) or "chip" not in raw:
        raise ConfigError(f"{where}: expected {{chip: NAME, count: N}}")
    count = raw.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConfigError(f"{where}: count must be a positive integer, got {count!r}")
    return str(raw["chip"]), count


@cache
def default_prices() -> PriceBook:
    """The committed price book (``hetsim/cost/prices.yaml``)."""
    raw = read_mapping(Path(__file__).with_name("prices.yaml"))
    where = "prices.yaml"
    s = {k: _price(raw[k], f"{where}.{k}", "") for k in _SCALARS}
    t = {k: {n: _price(v, f"{where}.{k}.{n}", "") for n, v in raw[k].items()} for k in _TABLES}
    return PriceBook(
        s["electricity_usd_per_kwh"],
        s["pue"],
        s["amortization_years"],
        s["utilization"],
        t["memory_usd_per_gb"],
        t["devices"],
        t["chips"],
        chip_of_device={
            str(k): _chip_of(v, f"{where}.chip_of_device.{k}") for k, v in raw["chip_of_device"].items()
        },
    )


@dataclass(frozen=True, slots=True)
class Capex:
    """Capital cost of ONE device, split into logic and memory (USD), with what it rests on."""

    logic_usd: float
    memory_usd: float
    sources: dict[str, str]

    @property
    def total_usd(self) -> float:
        return self.logic_usd + self.memory_usd


def memory_usd(device: Device, book: PriceBook) -> tuple[float, dict[str, str]]:
    """Price of every memory side of ``device`` at its technology's $/GB."""
    total, sources = 0.0, {}
    for side in device.sides:
        tech = side.memory.technology or side.memory.name
        price = book.memory_usd_per_gb.get(tech)
        if price is None:
            raise UnknownNameError(f"memory technology (side {side.name!r} of {device.name})", tech,
                                   book.memory_usd_per_gb)  # fmt: skip
        total += side.memory.capacity_bytes / GB * price.value
        sources[f"memory_usd_per_gb.{tech}"] = f"{price.value} $/GB: {price.source} ({price.date})"
    return total, sources


def device_capex(device: Device, book: PriceBook | None = None, *, base: Device | None = None) -> Capex:
    """Capex of one ``device``. ``base`` is the preset whose street price is known when
    ``device`` is a variant of it (other memory sizes); default ``device`` itself."""
    book = book or default_prices()
    base = base or device
    mem, sources = memory_usd(device, book)
    name = base.name
    if name in book.chip_of_device:
        chip, count = book.chip_of_device[name]
        if chip not in book.chips:
            raise UnknownNameError("chip price", chip, book.chips)
        p = book.chips[chip]
        sources[f"chips.{chip}"] = f"{count} x {p.value} $: {p.source} ({p.date})"
        return Capex(p.value * count, mem, sources)
    if name in book.devices:
        p = book.devices[name]
        sources[f"devices.{name}"] = f"{p.value} $: {p.source} ({p.date})"
        whole = p.value
    elif base.price_usd > 0:
        whole = base.price_usd
        sources[f"devices.{name}"] = f"{whole} $: {base.provenance.get('price_usd', 'hardware preset')}"
    else:
        raise ConfigError(
            f"no price for hardware {name!r}: add it to the spec, e.g. prices: {{devices: {{{name}: 20000}}}}"
        )
    base_mem, _ = memory_usd(base, book)
    return Capex(max(whole - base_mem, 0.0), mem, sources)


def usd_per_hour(capex_usd: Any, power_w: Any, book: PriceBook | None = None) -> Any:
    """Owning plus running cost per hour of a system (arrays broadcast)."""
    book = book or default_prices()
    own = np.asarray(capex_usd, dtype=float) / (
        book.amortization_years.value * HOURS_PER_YEAR * book.utilization.value
    )
    run = np.asarray(power_w, dtype=float) / 1e3 * book.pue.value * book.electricity_usd_per_kwh.value
    return own + run


def usd_per_mtoken(usd_per_hour_: Any, tokens_per_s: Any) -> Any:
    """$ per million tokens at ``tokens_per_s`` (inf where nothing is produced)."""
    tps = np.asarray(tokens_per_s, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(tps > 0, np.asarray(usd_per_hour_, dtype=float) / (tps * 3600.0) * 1e6, np.inf)


@dataclass(frozen=True, slots=True)
class SystemCost:
    """A system of ``n_devices`` devices: capex (USD) and $/hour at ``power_w``."""

    n_devices: int
    capex_usd: float
    power_w: float
    usd_per_hour: float
    sources: dict[str, str]


def system_cost(
    device: Device, n_devices: int = 1, power_w: float | None = None, book: PriceBook | None = None
) -> SystemCost:
    """Capex and $/hour of ``n_devices`` x ``device`` drawing ``power_w`` (default: TDP each)."""
    if n_devices < 1:
        raise ConfigError("n_devices must be at least 1")
    book = book or default_prices()
    cap = device_capex(device, book)
    watts = n_devices * device.tdp_w if power_w is None else power_w
    capex = n_devices * cap.total_usd
    return SystemCost(n_devices, capex, watts, float(usd_per_hour(capex, watts, book)), cap.sources)
