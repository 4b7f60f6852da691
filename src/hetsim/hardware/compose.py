"""Systems composed from parts: an accelerator (one or several), its host CPU (one or more
sockets) with the host's DRAM, an NVMe drive, and the links that join them.

``-H rtx-4090+xeon-8480x2`` or a file ``{name, compose: {gpu, gpus, host, sockets, dram, pcie,
nvme}}`` gives one device whose sides are the accelerator's memory (with its units), host
DRAM with the CPU's units (its compute priced from the CPU preset's datasheet numbers and the
CPU fit, :mod:`hetsim.calibration.cpu_fit`), and the drive (storage only), joined by
``gpu <-PCIe-> host <-PCIe x4-> nvme``. The GPU-host link runs at the lower PCIe generation of
the two parts (or the one given) at the accelerator's lane count, at the fitted fraction of
its bandwidth a bulk stream reaches (:data:`PCIE_EFFICIENCY`, the offload fit's knob).

Several accelerators (``rtx-4090x2+...``) are ``n_devices`` devices joined by the accelerator's
own interconnect; each is priced with an equal share of the host (DRAM capacity, bandwidth and
CPU cores divided by the number of accelerators), as a tensor-parallel engine runs one worker
per GPU.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hetsim.errors import ConfigError, UnknownNameError
from hetsim.hardware.efficiency import FULL
from hetsim.hardware.provenance import Provenance
from hetsim.hardware.spec import ComputeUnit, Device, Link, MemoryTier, Side, SideLink
from hetsim.units import parse_quantity

PCIE_EFFICIENCY = 0.6  # hetsim.experiments.offload_fit.LINK_EFFICIENCY (one global value)
PCIE_EFFICIENCY_SOURCE = (
    "calibrated: offload knob, one global value for every PCIe host link; fitted on FlexGen's own T4 rows "
    "of data/measurements/offload_flexgen_t4.csv (hetsim.experiments.offload_fit)"
)
# PCIe generation -> GB/s per lane per direction (PCI-SIG base specifications; 128b/130b for
# generations 3-5, generation 6 before FLIT overhead)
PCIE_LANE_GB_PER_S = {3: 0.985, 4: 1.969, 5: 3.938, 6: 8.0}


@dataclass(frozen=True, slots=True)
class Drive:
    capacity_bytes: float
    read_bytes_per_s: float
    pcie: int
    source: str


DRIVES: dict[str, Drive] = {
    "nvme": Drive(2e12, 7.0e9, 4, "assumed: a common 2 TB PCIe 4.0 x4 NVMe drive, 7 GB/s sequential read"),
    "samsung-990-pro": Drive(
        2e12, 7.45e9, 4, "datasheet: Samsung 990 PRO data sheet, 2 TB, sequential read up to 7,450 MB/s"
    ),
    "pny-cs3040": Drive(2e12, 5.6e9, 4, "datasheet: PNY CS3040 2 TB, 5,600 MB/s sequential read"),
    "crucial-t705": Drive(
        2e12, 14.5e9, 5, "datasheet: Crucial T705 data sheet, 2 TB, sequential read up to 14,500 MB/s"
    ),
    "intel-p5800x": Drive(
        1.6e12,
        7.2e9,
        4,
        "datasheet: Intel Optane SSD DC P5800X data sheet, 1.6 TB, 7,200 MB/s sequential read",
    ),
}


@dataclass(frozen=True, slots=True)
class Parts:
    gpu: str = ""
    gpus: int = 1
    host: str = ""
    sockets: int = 1
    dram_bytes: float = 0.0
    pcie: int = 0
    nvme: str = ""


def _count_suffix(part: str, known: list[str]) -> tuple[str, int]:
    """``xeon-8480x2`` -> (``xeon-8480``, 2); a name that is itself known keeps its count of 1."""
    m = re.fullmatch(r"(.+)x(\d+)", part)
    if part in known or m is None or m.group(1) not in known:
        return part, 1
    n = int(m.group(2))
    if not 1 <= n <= 64:
        raise ConfigError(f"composition part {part!r}: the count after 'x' must be 1 to 64")
    return m.group(1), n


def parse_spec(spec: str) -> Parts:
    """Parts of ``gpu[xN]+cpu[xS]+dram:<size>+pcie<gen>+nvme[:<drive>]`` (any order after the first)."""
    from hetsim.hardware.loader import HARDWARE, get_hardware, preset_aliases

    known = [*HARDWARE.names(), *preset_aliases()]
    out: dict[str, Any] = {}
    for raw in spec.split("+"):
        part = raw.strip().lower()
        if not part:
            raise ConfigError(
                f"composition {spec!r}: empty part; join parts with '+', e.g. rtx-4090+xeon-8480x2"
            )
        if part.startswith("dram:"):
            size = re.sub(
                r"(?i)([0-9.])\s*([kmgt]i?b)$",
                lambda m: f"{m.group(1)} {m.group(2).upper().replace('IB', 'iB')}",
                raw.strip()[5:],
            )
            out["dram_bytes"] = parse_quantity(size, "bytes", where=f"composition {spec!r} dram")
        elif re.fullmatch(r"pcie\d", part):
            out["pcie"] = int(part[4:])
        elif part == "nvme" or part.startswith("nvme:"):
            out["nvme"] = part.partition(":")[2] or "nvme"
        else:
            name, n = _count_suffix(part, known)
            dev = get_hardware(name)  # unknown: "did you mean"
            role = "host" if is_host(dev) else "gpu"
            if role in out:
                raise ConfigError(
                    f"composition {spec!r}: {out[role]} and {dev.name} are both "
                    f"{'host CPUs' if role == 'host' else 'accelerators'}; "
                    "no link joins two of them: compose one accelerator (xN) with one host CPU (xsockets)"
                )
            out[role] = dev.name
            out["gpus" if role == "gpu" else "sockets"] = n
    return Parts(**out)


def is_host(dev: Device) -> bool:
    """A CPU part: every unit of its primary side is a CPU's (matrix engines included)."""
    return dev.architecture in _cpu_archs() and len(dev.sides) == 1


def _cpu_archs() -> set[str]:
    from hetsim.hardware.family import ARCHITECTURES

    return {a for a, (_, kind) in ARCHITECTURES.items() if kind == "cpu"}


def _scaled_unit(u: ComputeUnit, k: float) -> ComputeUnit:
    return dataclasses.replace(
        u,
        peak_flop_per_s={d: r * k for d, r in u.peak_flop_per_s.items()},
        n_parallel=max(1, round(u.n_parallel * k)) if u.n_parallel else 0,
    )


def _host_side(cpu: Device, parts: Parts) -> Side:
    """The host's DRAM and cores: every socket's, shared equally by the accelerators."""
    share = parts.sockets / parts.gpus
    mem = cpu.primary.memory
    cap = parts.dram_bytes or mem.capacity_bytes * parts.sockets
    prov = dict(mem.provenance)
    if parts.dram_bytes:
        prov["capacity"] = Provenance("assumed", "host DRAM as the composition gives it")
    memory = dataclasses.replace(
        mem,
        capacity_bytes=cap / parts.gpus,
        bandwidth_bytes_per_s=mem.bandwidth_bytes_per_s * share,
        provenance=prov,
    )
    return Side("host", memory, tuple(_scaled_unit(u, share) for u in cpu.primary.units))


def _pcie(gen: int, lanes: int, name: str, source: str) -> Link:
    bw = PCIE_LANE_GB_PER_S[gen] * lanes * 1e9
    prov = {
        "bandwidth": Provenance(
            "datasheet",
            f"PCI-SIG PCIe {gen}.0: {PCIE_LANE_GB_PER_S[gen]} GB/s per lane per direction "
            f"x {lanes} ({source})",
        ),
        "efficiency": Provenance.parse(PCIE_EFFICIENCY_SOURCE),
    }
    return Link(
        name, bw, latency_s=10e-6, energy_j_per_bit=10e-12, efficiency=PCIE_EFFICIENCY, provenance=prov
    )


def _gen_of(link: Link | None) -> int:
    m = re.match(r"pcie(\d)", link.name.lower()) if link is not None else None
    return int(m.group(1)) if m else 0


def _accelerators(gpu: Device, parts: Parts, name: str, description: str) -> Device:
    """N accelerators alone: their scale-up domains (node_devices) joined by their scale_out
    network."""
    nodes = (
        f" in {-(-parts.gpus // gpu.node_devices)} nodes of {gpu.node_devices}"
        if gpu.node_devices and parts.gpus > gpu.node_devices
        else ""
    )
    return dataclasses.replace(
        gpu,
        name=name or f"{gpu.name}x{parts.gpus}",
        n_devices=parts.gpus,
        description=description or f"{parts.gpus}x {gpu.name}{nodes}",
    )


def _cpu_only(cpu: Device, parts: Parts, name: str, description: str) -> Device:
    """A CPU-only system: the host side alone, its sockets' power and price summed."""
    side = _host_side(cpu, dataclasses.replace(parts, gpus=1))
    label = f"{parts.sockets}x {cpu.name}" if parts.sockets > 1 else cpu.name
    return dataclasses.replace(
        cpu,
        name=name or label,
        description=description or label,
        sides=(side,),
        static_power_w=cpu.static_power_w * parts.sockets,
        tdp_w=cpu.tdp_w * parts.sockets,
        host_link=None,
        price_usd=cpu.price_usd * parts.sockets,
    )


def _label(gpu: Device, cpu: Device | None, parts: Parts) -> str:
    """The composition written back as a ``-H`` spec."""
    return "+".join(
        x
        for x in (
            f"{gpu.name}x{parts.gpus}" if parts.gpus > 1 else gpu.name,
            (f"{cpu.name}x{parts.sockets}" if parts.sockets > 1 else cpu.name) if cpu else "",
            f"dram:{parts.dram_bytes / 1e9:g}GB" if parts.dram_bytes else "",
            f"pcie{parts.pcie}" if parts.pcie else "",
            (f"nvme:{parts.nvme}" if parts.nvme != "nvme" else "nvme") if parts.nvme else "",
        )
        if x
    )


def compose(parts: Parts, name: str = "", description: str = "") -> Device:
    """One device of ``parts`` (see the module docstring)."""
    from hetsim.hardware.loader import get_hardware

    if not parts.gpu and not parts.host:
        raise ConfigError("a composition needs an accelerator or a host CPU preset")
    gpu = get_hardware(parts.gpu) if parts.gpu else None
    cpu = get_hardware(parts.host) if parts.host else None
    if gpu is not None and not parts.host and not parts.nvme and not parts.dram_bytes:
        if parts.gpus == 1:
            raise ConfigError(
                f"composition of {parts.gpu} alone: add a host CPU (e.g. +xeon-8480x2) or use -H {parts.gpu}"
            )
        return _accelerators(gpu, parts, name, description)
    if gpu is None:
        assert cpu is not None
        return _cpu_only(cpu, parts, name, description)
    if len(gpu.sides) > 1:
        raise ConfigError(
            f"no link joins {gpu.name} to a host: it already has {len(gpu.sides)} memory sides "
            f"({', '.join(s.name for s in gpu.sides)}); use -H {gpu.name} as it is"
        )
    if gpu.host_link is None:
        raise ConfigError(
            f"no link joins {gpu.name} to {parts.host or 'host DRAM'}: "
            f"{gpu.name} has no host_link (PCIe) in its preset; "
            "add one to a copy of its file"
        )
    sides = [dataclasses.replace(gpu.primary, name="gpu")]
    links: list[SideLink] = []
    lanes = round(
        gpu.host_link.bandwidth_bytes_per_s / 1e9 / PCIE_LANE_GB_PER_S.get(_gen_of(gpu.host_link), 1.969)
    )
    gen = parts.pcie or min(
        g for g in (_gen_of(gpu.host_link), _gen_of(cpu.host_link if cpu else None) or 9) if g
    )
    if gen not in PCIE_LANE_GB_PER_S:
        raise ConfigError(
            f"pcie{gen}: PCIe generations are {', '.join(f'pcie{g}' for g in PCIE_LANE_GB_PER_S)}"
        )
    if cpu is not None or parts.dram_bytes:
        host = _host_side(cpu, parts) if cpu is not None else _dram_only(parts)
        sides.append(host)
        links.append(
            SideLink(
                "gpu",
                "host",
                _pcie(
                    gen,
                    max(lanes, 1),
                    f"PCIe{gen}-x{max(lanes, 1)}",
                    f"{gpu.name} host link at generation {gen}",
                ),
            )
        )
    if parts.nvme:
        sides.append(_nvme_side(parts.nvme))
        drive = DRIVES[parts.nvme]
        end = "host" if len(sides) > 2 else "gpu"
        links.append(
            SideLink(
                end,
                "ssd",
                _pcie(
                    min(drive.pcie, gen if cpu else drive.pcie),
                    4,
                    f"PCIe{drive.pcie}-x4",
                    "an NVMe drive's x4 link",
                ),
            )
        )
    k = parts.sockets / parts.gpus
    return dataclasses.replace(
        gpu,
        name=name or _label(gpu, cpu, parts),
        description=description or _describe(gpu, cpu, parts, gen),
        sides=tuple(sides),
        links=tuple(links),
        side_link=None,
        n_devices=parts.gpus,
        host_link=None,
        static_power_w=gpu.static_power_w + (cpu.static_power_w * k if cpu else 0.0),
        tdp_w=gpu.tdp_w + (cpu.tdp_w * k if cpu else 0.0),
        price_usd=gpu.price_usd + (cpu.price_usd * k if cpu else 0.0),
        calibration_notes=(*gpu.calibration_notes, f"composed: {_describe(gpu, cpu, parts, gen)}"),
    )


def _describe(gpu: Device, cpu: Device | None, parts: Parts, gen: int) -> str:
    host = f" + {parts.sockets}x {cpu.name}" if cpu else ""
    host_mem = parts.dram_bytes or (cpu.primary.memory.capacity_bytes * parts.sockets if cpu else 0.0)
    dram = f" ({host_mem / 1e9:,.0f} GB host DRAM)" if host_mem else ""
    per = f", each of {parts.gpus} accelerators with 1/{parts.gpus} of the host" if parts.gpus > 1 else ""
    nvme = f" + NVMe ({parts.nvme})" if parts.nvme else ""
    return f"{gpu.name}{host}{dram}{nvme}, PCIe {gen}.0{per}"


def _dram_only(parts: Parts) -> Side:
    mem = MemoryTier(
        "DDR5",
        parts.dram_bytes / parts.gpus,
        100e9,
        100e-9,
        15e-12,
        FULL,
        "DDR5",
        provenance={
            "capacity": Provenance("assumed", "host DRAM as the composition gives it"),
            "bandwidth": Provenance("assumed", "host DRAM without a CPU preset: 100 GB/s"),
        },
    )
    return Side("host", mem, ())


def _nvme_side(key: str) -> Side:
    if key not in DRIVES:
        raise UnknownNameError("NVMe drive", key, DRIVES)
    d = DRIVES[key]
    prov = {"capacity": Provenance.parse(d.source), "bandwidth": Provenance.parse(d.source)}
    mem = MemoryTier(
        "NVMe",
        d.capacity_bytes,
        d.read_bytes_per_s,
        100e-6,
        50e-12,
        FULL,
        f"NVMe SSD (PCIe Gen{d.pcie})",
        provenance=prov,
    )
    return Side("ssd", mem, ())


def compose_spec(spec: str) -> Device:
    """``-H rtx-4090+xeon-8480x2+dram:1TB+nvme`` -> one composed device."""
    return compose(parse_spec(spec))


COMPOSE_KEYS = ("gpu", "gpus", "host", "sockets", "dram", "pcie", "nvme")


def compose_mapping(raw: Mapping[str, Any], name: str, description: str, where: str) -> Device:
    """A hardware file's ``compose:`` mapping (see :data:`COMPOSE_KEYS`)."""
    from hetsim.datafiles import check_keys

    check_keys(raw, COMPOSE_KEYS, f"{where}.compose")
    parts = [str(raw["gpu"]) + (f"x{raw['gpus']}" if raw.get("gpus", 1) != 1 else "")] if "gpu" in raw else []
    if "host" in raw:
        parts.append(str(raw["host"]) + (f"x{raw['sockets']}" if raw.get("sockets", 1) != 1 else ""))
    if "dram" in raw:
        parts.append(f"dram:{raw['dram']}")
    if "pcie" in raw:
        parts.append(f"pcie{raw['pcie']}")
    if "nvme" in raw:
        parts.append("nvme" if raw["nvme"] in (True, "nvme") else f"nvme:{raw['nvme']}")
    return compose(parse_spec("+".join(parts)), name, description)
