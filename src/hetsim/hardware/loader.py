"""Hardware files (YAML/JSON) -> :class:`Device`. Quantities may carry units ("3 TB/s");
every number must name its provenance in the ``provenance`` mapping beside it, or the file
gives a ``default_provenance`` for the numbers it leaves unsourced."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hetsim.datafiles import Registry, check_keys, preset_files, read_mapping
from hetsim.errors import ConfigError
from hetsim.hardware.efficiency import FULL, EfficiencyCurve
from hetsim.hardware.kernels import load_overlay
from hetsim.hardware.provenance import Provenance
from hetsim.hardware.spec import ComputeUnit, Device, Execution, Link, MemoryTier, Side, SideLink
from hetsim.units import PJ, parse_number, parse_quantity

Raw = Mapping[str, Any]


class _Ctx:
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
def _q(raw: Raw, key: str, kind: str, where: str) -> float:
    """Quantity ``key`` of ``raw`` in SI units (0 when absent); the unit must be written."""
    return parse_quantity(raw[key], kind, where=f"{where}.{key}") if key in raw else 0.0


def _n(raw: Raw, key: str, where: str) -> float:
    """Non-negative finite number ``key`` of ``raw`` (0 when absent); its unit is in its name."""
    return parse_number(raw[key], where=f"{where}.{key}") if key in raw else 0.0


def _count(value: Any, where: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= 2**31:
        raise ConfigError(f"{where}: must be a whole number of at least {minimum}, got {value!r}")
    return value


def _tile(raw: Any, where: str) -> tuple[int, int]:
    if not isinstance(raw, list | tuple) or len(raw) != 2:
        raise ConfigError(f"{where}: give [M, N], two whole numbers of output rows and columns")
    return _count(raw[0], where, minimum=0), _count(raw[1], where, minimum=0)


def _curve(raw: Any, where: str) -> EfficiencyCurve:
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


def _unit(raw: Raw, ctx: _Ctx, where: str) -> ComputeUnit:
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
        energy_j_per_flop=_n(raw, "energy_pj_per_flop", where) * PJ,
        efficiency=_curve(raw.get("efficiency"), f"{where}.efficiency"),
        n_parallel=_count(raw.get("n_parallel", 0), f"{where}.n_parallel", minimum=0),
        tile_mn=_tile(tile, f"{where}.tile_mn"),
        clock_hz=_q(raw, "clock", "hz", where),
        provenance=ctx.sources(raw, numbers, where),
    )


def _memory(raw: Raw, ctx: _Ctx, where: str) -> MemoryTier:
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
        ),
        where,
    )
    for key in ("capacity", "bandwidth"):
        if key not in raw:
            raise ConfigError(f"{where}: missing {key!r}")
    numbers = [k for k in ("capacity", "bandwidth", "latency", "energy_pj_per_bit", "cache") if k in raw]
    return MemoryTier(
        name=str(raw.get("name", "mem")),
        technology=str(raw.get("technology", "")),
        capacity_bytes=parse_quantity(raw["capacity"], "bytes", where=f"{where}.capacity"),
        bandwidth_bytes_per_s=parse_quantity(raw["bandwidth"], "bytes_per_s", where=f"{where}.bandwidth"),
        latency_s=_q(raw, "latency", "s", where),
        energy_j_per_bit=_n(raw, "energy_pj_per_bit", where) * PJ,
        efficiency=_curve(raw.get("efficiency"), f"{where}.efficiency"),
        cache_bytes=_q(raw, "cache", "bytes", where),
        provenance=ctx.sources(raw, numbers, where),
    )


def _link(raw: Any, ctx: _Ctx, where: str) -> Link | None:
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
        latency_s=_q(raw, "latency", "s", where),
        energy_j_per_bit=_n(raw, "energy_pj_per_bit", where) * PJ,
        in_network_reduction=inr,
        efficiency=eff,
        provenance=ctx.sources(raw, numbers, where),
    )


DEVICE_KEYS = (
    "name",
    "description",
    "sides",
    "side_link",
    "interconnect",
    "kernel_overhead",
    "static_power_w",
    "active_power_w",
    "tdp_w",
    "n_devices",
    "price_usd",
    "provenance",
    "default_provenance",
    "aliases",
    "links",
    "execution",
)
EXECUTION_KEYS = ("group_sync", "shared_everywhere")


def _execution(raw: Any, ctx: _Ctx, where: str) -> Execution:
    """``execution: {group_sync: true, shared_everywhere: true, provenance: {...}}``."""
    if raw is None:
        return Execution()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: must be a mapping of {', '.join(EXECUTION_KEYS)} to true or false")
    check_keys(raw, (*EXECUTION_KEYS, "provenance"), where)
    flags = {}
    for key in EXECUTION_KEYS:
        value = raw.get(key, False)
        if not isinstance(value, bool):
            raise ConfigError(f"{where}.{key}: must be true or false, got {value!r}")
        flags[key] = value
    given = [k for k in EXECUTION_KEYS if k in raw]
    return Execution(**flags, provenance=ctx.sources(raw, given, where))


def _side_links(raw: Any, ctx: _Ctx, where: str) -> tuple[SideLink, ...]:
    """``links: [{between: [a, b], name, bandwidth, ...}]`` joining named sides."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: must be a list of {{between: [side, side], bandwidth, ...}}")
    out = []
    for i, item in enumerate(raw):
        w = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{w}: must be a mapping")
        ends = item.get("between")
        if not isinstance(ends, list) or len(ends) != 2:
            raise ConfigError(f"{w}: 'between' must name two sides, e.g. between: [hbm, ddr]")
        link = _link({k: v for k, v in item.items() if k != "between"}, ctx, w)
        if link is None:
            raise ConfigError(f"{w}: missing link description")
        out.append(SideLink(str(ends[0]), str(ends[1]), link))
    return tuple(out)


def device_from_mapping(raw: Raw, where: str = "hardware") -> Device:
    """Build a :class:`Device` from a parsed hardware file."""
    check_keys(raw, DEVICE_KEYS, where)
    name = str(raw.get("name") or "")
    if not name:
        raise ConfigError(f"{where}: missing key 'name'")
    default = raw.get("default_provenance")
    ctx = _Ctx(where, Provenance.parse(default, f"{where}.default_provenance") if default else None)
    sides_raw = raw.get("sides")
    if not isinstance(sides_raw, list) or not sides_raw:
        raise ConfigError(f"{where}: 'sides' must be a non-empty list of {{name, memory, units}}")
    sides = []
    for i, s in enumerate(sides_raw):
        w = f"{name}.sides[{i}]"
        if not isinstance(s, Mapping):
            raise ConfigError(f"{w}: must be a mapping with name, memory and units")
        check_keys(s, ("name", "memory", "units"), w)
        if not isinstance(s.get("memory"), Mapping):
            raise ConfigError(f"{w}: missing 'memory' mapping")
        units_raw = s.get("units")
        if not isinstance(units_raw, list) or (i == 0 and not units_raw):
            raise ConfigError(
                f"{w}: 'units' must be a list, and the first (primary) side needs compute units"
            )
        units = tuple(_unit(u, ctx, f"{w}.units[{j}]") for j, u in enumerate(units_raw))
        sides.append(Side(str(s.get("name", f"side{i}")), _memory(s["memory"], ctx, f"{w}.memory"), units))
    power = ("static_power_w", "active_power_w", "tdp_w")
    numbers = [k for k in ("kernel_overhead", *power, "price_usd") if k in raw]
    n_devices = _count(raw.get("n_devices", 1), f"{where}.n_devices", minimum=1)
    return Device(
        name=name,
        description=str(raw.get("description", "")),
        sides=tuple(sides),
        side_link=_link(raw.get("side_link"), ctx, f"{name}.side_link"),
        interconnect=_link(raw.get("interconnect"), ctx, f"{name}.interconnect"),
        links=_side_links(raw.get("links"), ctx, f"{name}.links"),
        kernel_overhead_s=_q(raw, "kernel_overhead", "s", where),
        static_power_w=_n(raw, "static_power_w", where),
        tdp_w=_n(raw, "tdp_w", where),
        # above idle while kernels run; absent: cost/power.py's calibrated share of the headroom
        active_power_w=_n(raw, "active_power_w", where) if "active_power_w" in raw else None,
        n_devices=n_devices,
        price_usd=_n(raw, "price_usd", where),
        provenance=ctx.sources(raw, numbers, where),
        execution=_execution(raw.get("execution"), ctx, f"{name}.execution"),
    )


_ALIASES: dict[str, str] = {}

# The overlay whose knobs transfer to a device that has none (a preset without its own
# overlay, or any user file): the hardware the shared kernel parameters were fitted on.
TRANSFER_SOURCE = "a100-80gb-sxm"


def transferable(dev: Device) -> bool:
    """Whether the calibrated kernel model applies: the matrix unit has an SM/tile
    description (cores, output tile) for the shared GEMM shape to act on."""
    unit = dev.primary.unit_for("matrix")
    return unit.n_parallel > 0 and min(unit.tile_mn) > 0


def with_calibration(dev: Device) -> Device:
    """``dev`` with its calibrated kernel model: its own overlay when one exists, else the
    shared knobs of :data:`TRANSFER_SOURCE` applied to its own datasheet numbers (peak, SM
    count, clock, bandwidth), else none (the datasheet roofline)."""
    own = load_overlay(dev.name)
    if own is not None:
        return dataclasses.replace(dev, kernels=own, calibration=f"{dev.name} overlay")
    if transferable(dev):
        shared = load_overlay(TRANSFER_SOURCE)
        if shared is not None:
            return dataclasses.replace(
                dev, kernels=shared, calibration=f"transferred from {TRANSFER_SOURCE} overlay"
            )
    return dataclasses.replace(dev, kernels=None, calibration="none")


def _load_presets() -> dict[str, Device]:
    out: dict[str, Device] = {}
    for path in preset_files("hetsim.hardware.presets"):
        raw = read_mapping(path)
        dev = device_from_mapping(raw, path.name)
        out[dev.name] = with_calibration(dev)
        for alias in raw.get("aliases", []) or []:
            _ALIASES[str(alias)] = dev.name
    return out


HARDWARE: Registry[Device] = Registry("hardware", _load_presets)


def list_hardware() -> list[Device]:
    return [HARDWARE.get_item(n) for n in HARDWARE.names()]


def get_hardware(name_or_path: str | Path | Device, *, calibrated: bool = True) -> Device:
    """A preset by name, or a hardware YAML/JSON file. Presets carry their calibrated
    overlay (``hardware/calibrated/<name>.yaml``) when one exists, unless ``calibrated`` is
    False (the datasheet roofline)."""
    if not calibrated:
        return dataclasses.replace(get_hardware(name_or_path), kernels=None, calibration="none")
    if isinstance(name_or_path, Device):
        return name_or_path
    text = str(name_or_path)
    path = Path(text)
    if path.suffix in (".yaml", ".yml", ".json") or path.is_file():
        if not path.exists():
            raise ConfigError(f"hardware file {path} does not exist")
        return with_calibration(device_from_mapping(read_mapping(path), str(path)))
    HARDWARE.names()
    for alias, target in _ALIASES.items():
        HARDWARE.add_alias(alias, target)
    return HARDWARE.get_item(text)
