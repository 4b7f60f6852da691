"""Hardware files (YAML/JSON) -> :class:`Device`. Quantities may carry units ("3 TB/s");
every number must name its provenance in the ``provenance`` mapping beside it, or the file
gives a ``default_provenance`` for the numbers it leaves unsourced."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hetsim.datafiles import Registry, check_keys, preset_files, read_mapping
from hetsim.errors import ConfigError
from hetsim.hardware.family import apply, choose, parse_family, uncalibrated_notes
from hetsim.hardware.fields import (
    Ctx,
    Raw,
    read_count,
    read_link,
    read_memory,
    read_number,
    read_quantity,
    read_unit,
)
from hetsim.hardware.provenance import Provenance
from hetsim.hardware.spec import Device, Execution, Side, SideLink

DEVICE_KEYS = (
    "name",
    "description",
    "sides",
    "side_link",
    "interconnect",
    "kernel_overhead",
    "host_dispatch_scale",
    "static_power_w",
    "active_power_w",
    "tdp_w",
    "n_devices",
    "price_usd",
    "provenance",
    "default_provenance",
    "aliases",
    "links",
    "family",
    "host_link",
    "scale_out",
    "node_devices",
    "compose",
    "execution",
)
EXECUTION_KEYS = ("group_sync", "shared_everywhere")
EXECUTION_SHARING = ("shared_memory", "channel_contention")


def _execution(raw: Any, ctx: Ctx, where: str) -> Execution:
    """``execution: {group_sync: true, shared_everywhere: true, shared_memory: [a, b],
    channel_contention: 0.1, provenance: {...}}``."""
    if raw is None:
        return Execution()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: must be a mapping of {', '.join(EXECUTION_KEYS)} to true or false")
    check_keys(raw, (*EXECUTION_KEYS, *EXECUTION_SHARING, "provenance"), where)
    flags = {}
    for key in EXECUTION_KEYS:
        value = raw.get(key, False)
        if not isinstance(value, bool):
            raise ConfigError(f"{where}.{key}: must be true or false, got {value!r}")
        flags[key] = value
    shared = raw.get("shared_memory", [])
    if not isinstance(shared, list) or not all(isinstance(x, str) for x in shared):
        raise ConfigError(f"{where}.shared_memory: must be a list of two side names, e.g. [npu, pim]")
    contention = raw.get("channel_contention", 0.0)
    if isinstance(contention, bool) or not isinstance(contention, int | float):
        raise ConfigError(f"{where}.channel_contention: must be a number between 0 and 1, got {contention!r}")
    given = [k for k in (*EXECUTION_KEYS, *EXECUTION_SHARING) if k in raw]
    return Execution(
        **flags,
        shared_memory=tuple(shared),
        channel_contention=float(contention),
        provenance=ctx.sources(raw, given, where),
    )


def _side_links(raw: Any, ctx: Ctx, where: str) -> tuple[SideLink, ...]:
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
        link = read_link({k: v for k, v in item.items() if k != "between"}, ctx, w)
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
    if "compose" in raw:  # a system built from parts (hardware/compose.py)
        from hetsim.hardware.compose import compose_mapping

        check_keys(raw, ("name", "description", "compose"), where)
        if not isinstance(raw["compose"], Mapping):
            raise ConfigError(
                f"{where}.compose: must map gpu, gpus, host, sockets, dram, pcie, nvme to values"
            )
        return compose_mapping(raw["compose"], name, str(raw.get("description", "")), where)
    vendor, arch = parse_family(raw["family"], f"{where}.family") if "family" in raw else ("", "")
    default = raw.get("default_provenance")
    ctx = Ctx(where, Provenance.parse(default, f"{where}.default_provenance") if default else None)
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
        units = tuple(read_unit(u, ctx, f"{w}.units[{j}]") for j, u in enumerate(units_raw))
        sides.append(
            Side(str(s.get("name", f"side{i}")), read_memory(s["memory"], ctx, f"{w}.memory"), units)
        )
    power = ("static_power_w", "active_power_w", "tdp_w")
    numbers = [
        k for k in ("kernel_overhead", "host_dispatch_scale", *power, "price_usd", "node_devices") if k in raw
    ]
    n_devices = read_count(raw.get("n_devices", 1), f"{where}.n_devices", minimum=1)
    return Device(
        name=name,
        description=str(raw.get("description", "")),
        sides=tuple(sides),
        side_link=read_link(raw.get("side_link"), ctx, f"{name}.side_link"),
        interconnect=read_link(raw.get("interconnect"), ctx, f"{name}.interconnect"),
        links=_side_links(raw.get("links"), ctx, f"{name}.links"),
        kernel_overhead_s=read_quantity(raw, "kernel_overhead", "s", where),
        host_dispatch_scale=read_number(raw, "host_dispatch_scale", where)
        if "host_dispatch_scale" in raw
        else 1.0,
        static_power_w=read_number(raw, "static_power_w", where),
        tdp_w=read_number(raw, "tdp_w", where),
        # above idle while kernels run; absent: cost/power.py's calibrated share of the headroom
        active_power_w=read_number(raw, "active_power_w", where) if "active_power_w" in raw else None,
        n_devices=n_devices,
        price_usd=read_number(raw, "price_usd", where),
        provenance=ctx.sources(raw, numbers, where),
        vendor=vendor,
        architecture=arch,
        host_link=read_link(raw.get("host_link"), ctx, f"{name}.host_link"),
        scale_out=read_link(raw.get("scale_out"), ctx, f"{name}.scale_out"),
        node_devices=read_count(raw.get("node_devices", 0), f"{where}.node_devices", minimum=0),
        execution=_execution(raw.get("execution"), ctx, f"{name}.execution"),
    )


_ALIASES: dict[str, str] = {}


def with_calibration(dev: Device, *, preset: bool = False) -> Device:
    """``dev`` with what prices it (:func:`hetsim.hardware.family.choose`): a preset's own
    calibrated overlay (``preset``), else the knobs its family transfers, else none (the
    datasheet roofline with its efficiency curves); the rule and knobs in its notes."""
    return apply(dev, choose(dev, preset=preset))


def _load_presets() -> dict[str, Device]:
    out: dict[str, Device] = {}
    for path in preset_files("hetsim.hardware.presets"):
        raw = read_mapping(path)
        dev = device_from_mapping(raw, path.name)
        out[dev.name] = with_calibration(dev, preset=True)
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
        dev = get_hardware(name_or_path)
        notes = (*(n for n in dev.calibration_notes if "shadows" in n), *uncalibrated_notes(dev))
        return dataclasses.replace(dev, kernels=None, calibration="none", calibration_notes=notes)
    if isinstance(name_or_path, Device):
        return name_or_path
    text = str(name_or_path)
    path = Path(text)
    if path.suffix in (".yaml", ".yml", ".json") or path.is_file():
        if not path.exists():
            raise ConfigError(f"hardware file {path} does not exist")
        raw = read_mapping(path)
        dev = device_from_mapping(raw, str(path))
        if "compose" not in raw:  # a composition carries its accelerator's calibration already
            dev = with_calibration(dev)
        return dataclasses.replace(dev, calibration_notes=(*_shadows(dev, path), *dev.calibration_notes))
    names = {*HARDWARE.names(), *_ALIASES}
    for alias, target in _ALIASES.items():
        HARDWARE.add_alias(alias, target)
    if "+" in text or (re.fullmatch(r".+x\d+", text.strip().lower()) and text.strip().lower() not in names):
        from hetsim.hardware.compose import compose_spec

        return compose_spec(text)
    return hardware_preset(text)


def _shadows(dev: Device, path: Path | None = None) -> tuple[str, ...]:
    """A note where a hardware file is named like a preset (the file's numbers are used)."""
    if path is None or dev.name.lower() not in HARDWARE.names():
        return ()
    return (
        f"hardware file {path} is named {dev.name!r} like the preset {dev.name!r}: it shadows that "
        "preset (this file's numbers price the run, and the preset's own calibrated overlay is not "
        "applied); rename it to keep the two apart",
    )


def preset_aliases() -> list[str]:
    """Every alias of a hardware preset (``h100`` for ``h100-sxm``)."""
    HARDWARE.names()
    return sorted(_ALIASES)


def hardware_preset(name: str) -> Device:
    """A shipped preset by name or alias, never a file nor a composition (whose parts may be
    files): what the dashboard takes."""
    HARDWARE.names()
    for alias, target in _ALIASES.items():
        HARDWARE.add_alias(alias, target)
    return HARDWARE.get_item(name)
