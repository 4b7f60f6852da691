"""One field of a hardware file at a time: quantities with their units, efficiency curves,
compute units, memory tiers (a bandwidth, or DRAM timing) and links, each with its provenance
(``provenance`` beside the numbers, or the file's ``default_provenance``). The file as a whole
is read by :mod:`hetsim.hardware.loader`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hetsim.datafiles import check_keys
from hetsim.errors import ConfigError
from hetsim.hardware.dram import numbers_in as dram_numbers
from hetsim.hardware.dram import timing_from_mapping
from hetsim.hardware.efficiency import FULL, EfficiencyCurve
from hetsim.hardware.provenance import Provenance
from hetsim.hardware.spec import ComputeUnit, Link, MemoryTier
from hetsim.units import PJ, parse_number, parse_quantity

Raw = Mapping[str, Any]


class Ctx:
    def __init__(self, where: str, default: Provenance | None) -> None:
        self.where = where
        self.default = default

    def sources(self, raw: Raw, numbers: list[str], where: str) -> dict[str, Provenance]:
        given = raw.get("provenance", {}) or {}
        if not isinstance(given, Mapping):
            raise ConfigError(f"{where}: provenance must be a mapping of field -> 'kind: source'")
        out: dict[str, Provenance] = {}
        for key in numbers:
            if key in given:
                out[key] = Provenance.parse(given[key], f"{where}.provenance.{key}")
            elif self.default is not None:
                out[key] = self.default
            else:
                raise ConfigError(
                    f"{where}: {key!r} has no provenance; add provenance: {{{key}: "
                    f"'datasheet|paper|measured|calibrated|derived|assumed: <source>'}}"
                )
        for key in given:
            if key not in numbers:
                raise ConfigError(f"{where}: provenance names {key!r}, which is not set here")
        return out


# Schema of units (the rule every hardware file follows):
# - a quantity whose key has no unit in its name (capacity, bandwidth, latency, cache, clock,
#   kernel_overhead, peak.<dtype>) is a string with its unit: "80 GB", "3.35 TB/s", "400 Gb/s",
#   "500 ns", "1980 MHz", "989 TFLOP/s"; a bare number is refused;
# - a key that names its unit takes a bare number in that unit: energy_pj_per_flop,
#   energy_pj_per_bit, static_power_w, active_power_w, tdp_w, price_usd;
# - pure counts and ratios are bare numbers: n_parallel, tile_mn, n_devices, efficiency values
#   (fractions in (0, 1]) and sizes (flop or bytes of an op).
def read_quantity(raw: Raw, key: str, kind: str, where: str) -> float:
    """Quantity ``key`` of ``raw`` in SI units (0 when absent); the unit must be written."""
    return parse_quantity(raw[key], kind, where=f"{where}.{key}") if key in raw else 0.0


def read_number(raw: Raw, key: str, where: str) -> float:
    """Non-negative finite number ``key`` of ``raw`` (0 when absent); its unit is in its name."""
    return parse_number(raw[key], where=f"{where}.{key}") if key in raw else 0.0


def read_count(value: Any, where: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= 2**31:
        raise ConfigError(f"{where}: must be a whole number of at least {minimum}, got {value!r}")
    return value


def read_tile(raw: Any, where: str) -> tuple[int, int]:
    if not isinstance(raw, list | tuple) or len(raw) != 2:
        raise ConfigError(f"{where}: give [M, N], two whole numbers of output rows and columns")
    return read_count(raw[0], where, minimum=0), read_count(raw[1], where, minimum=0)


def read_curve(raw: Any, where: str) -> EfficiencyCurve:
    if raw is None:
        return FULL
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return EfficiencyCurve.constant(parse_number(raw, where=where))
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: efficiency must be a number or {{sizes, values, provenance}}")
    check_keys(raw, ("sizes", "values", "provenance"), where)
    prov = Provenance.parse(raw.get("provenance", "assumed: default"), f"{where}.provenance")
    sizes_raw, values_raw = raw.get("sizes", (1.0,)), raw.get("values")
    if not isinstance(sizes_raw, list | tuple) or not isinstance(values_raw, list | tuple):
        raise ConfigError(f"{where}: sizes and values must be lists of numbers")
    sizes = tuple(parse_number(s, where=f"{where}.sizes") for s in sizes_raw)
    values = tuple(parse_number(v, where=f"{where}.values") for v in values_raw)
    return EfficiencyCurve(sizes, values, prov)


def read_unit(raw: Raw, ctx: Ctx, where: str) -> ComputeUnit:
    check_keys(
        raw,
        (
            "name",
            "kind",
            "peak",
            "energy_pj_per_flop",
            "efficiency",
            "n_parallel",
            "tile_mn",
            "clock",
            "provenance",
        ),
        where,
    )
    peak_raw = raw.get("peak")
    if not isinstance(peak_raw, Mapping) or not peak_raw:
        raise ConfigError(f"{where}: peak must map data types to rates, e.g. {{fp16: 989 TFLOP/s}}")
    peak = {str(k): parse_quantity(v, "flop_per_s", where=f"{where}.peak.{k}") for k, v in peak_raw.items()}
    numbers = ["peak"] + [k for k in ("energy_pj_per_flop", "n_parallel", "tile_mn", "clock") if k in raw]
    tile = raw.get("tile_mn", (0, 0))
    return ComputeUnit(
        name=str(raw.get("name", raw.get("kind", "unit"))),
        kind=raw.get("kind", "matrix"),
        peak_flop_per_s=peak,
        energy_j_per_flop=read_number(raw, "energy_pj_per_flop", where) * PJ,
        efficiency=read_curve(raw.get("efficiency"), f"{where}.efficiency"),
        n_parallel=read_count(raw.get("n_parallel", 0), f"{where}.n_parallel", minimum=0),
        tile_mn=read_tile(tile, f"{where}.tile_mn"),
        clock_hz=read_quantity(raw, "clock", "hz", where),
        provenance=ctx.sources(raw, numbers, where),
    )


def read_memory(raw: Raw, ctx: Ctx, where: str) -> MemoryTier:
    check_keys(
        raw,
        (
            "name",
            "technology",
            "capacity",
            "bandwidth",
            "latency",
            "energy_pj_per_bit",
            "efficiency",
            "cache",
            "provenance",
            "dram",
        ),
        where,
    )
    if "dram" in raw:
        return read_dram_memory(raw, ctx, where)
    for key in ("capacity", "bandwidth"):
        if key not in raw:
            raise ConfigError(f"{where}: missing {key!r}")
    numbers = [k for k in ("capacity", "bandwidth", "latency", "energy_pj_per_bit", "cache") if k in raw]
    return MemoryTier(
        name=str(raw.get("name", "mem")),
        technology=str(raw.get("technology", "")),
        capacity_bytes=parse_quantity(raw["capacity"], "bytes", where=f"{where}.capacity"),
        bandwidth_bytes_per_s=parse_quantity(raw["bandwidth"], "bytes_per_s", where=f"{where}.bandwidth"),
        latency_s=read_quantity(raw, "latency", "s", where),
        energy_j_per_bit=read_number(raw, "energy_pj_per_bit", where) * PJ,
        efficiency=read_curve(raw.get("efficiency"), f"{where}.efficiency"),
        cache_bytes=read_quantity(raw, "cache", "bytes", where),
        provenance=ctx.sources(raw, numbers, where),
    )


def read_dram_memory(raw: Raw, ctx: Ctx, where: str) -> MemoryTier:
    """A memory whose bandwidth, size ramp and (unless given) access energy are derived from
    its ``dram:`` organisation and timing (:mod:`hetsim.hardware.dram`)."""
    block = raw["dram"]
    if not isinstance(block, Mapping):
        raise ConfigError(
            f"{where}.dram: must map channels, banks_per_channel, row, column, tRCD, ... to values"
        )
    for key in ("bandwidth", "efficiency"):
        if key in raw:
            raise ConfigError(f"{where}: give either {key!r} or a 'dram' block it is derived from, not both")
    if "capacity" not in raw:
        raise ConfigError(f"{where}: missing 'capacity'")
    t = timing_from_mapping(block, f"{where}.dram")
    src = {f"dram.{k}": v for k, v in ctx.sources(block, dram_numbers(block), f"{where}.dram").items()}
    numbers = [k for k in ("capacity", "latency", "energy_pj_per_bit", "cache") if k in raw]
    how = (f"{t.channels} channels x {t.banks_per_channel} banks, row {t.row_bytes:g} B, column "
           f"{t.column_bytes:g} B, tRCD+tRP {(t.trcd_s + t.trp_s) * 1e9:g} ns, column every "
           f"{t.column_s * 1e9:g} ns (hardware/dram.py)")  # fmt: skip
    derived = {"bandwidth": Provenance("derived", f"DRAM timing: {how}")}
    energy = read_number(raw, "energy_pj_per_bit", where) * PJ
    if "energy_pj_per_bit" not in raw and (t.activate_j > 0 or t.column_j > 0):
        energy = t.energy_j_per_bit
        derived["energy_pj_per_bit"] = Provenance("derived", "DRAM energy per ACT/PRE and per column access")
    sizes, values = t.efficiency_points()
    curve = EfficiencyCurve(sizes, values, Provenance("derived", "DRAM row activations of short streams"))
    return MemoryTier(
        name=str(raw.get("name", "mem")),
        technology=str(raw.get("technology", "")),
        capacity_bytes=parse_quantity(raw["capacity"], "bytes", where=f"{where}.capacity"),
        bandwidth_bytes_per_s=t.bandwidth_bytes_per_s,
        latency_s=read_quantity(raw, "latency", "s", where),
        energy_j_per_bit=energy,
        efficiency=curve,
        cache_bytes=read_quantity(raw, "cache", "bytes", where),
        provenance={**ctx.sources(raw, numbers, where), **derived, **src},
        dram=t,
    )


def read_link(raw: Any, ctx: Ctx, where: str) -> Link | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: must be a mapping")
    check_keys(
        raw,
        (
            "name",
            "bandwidth",
            "latency",
            "energy_pj_per_bit",
            "in_network_reduction",
            "efficiency",
            "provenance",
        ),
        where,
    )
    if "bandwidth" not in raw:
        raise ConfigError(f"{where}: missing 'bandwidth'")
    numbers = [
        k
        for k in ("bandwidth", "latency", "energy_pj_per_bit", "in_network_reduction", "efficiency")
        if k in raw
    ]
    eff = parse_number(raw["efficiency"], where=f"{where}.efficiency") if "efficiency" in raw else 1.0
    inr = raw.get("in_network_reduction", False)
    if not isinstance(inr, bool):
        raise ConfigError(f"{where}.in_network_reduction: must be true or false")
    return Link(
        name=str(raw.get("name", "link")),
        bandwidth_bytes_per_s=parse_quantity(raw["bandwidth"], "bytes_per_s", where=f"{where}.bandwidth"),
        latency_s=read_quantity(raw, "latency", "s", where),
        energy_j_per_bit=read_number(raw, "energy_pj_per_bit", where) * PJ,
        in_network_reduction=inr,
        efficiency=eff,
        provenance=ctx.sources(raw, numbers, where),
    )
