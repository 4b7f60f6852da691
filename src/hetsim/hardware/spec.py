"""Hardware specs: compute units, memory tiers, links, memory sides, devices, systems.

A *side* is one memory tier with the compute units attached to it ("compute goes where the
data is"). A plain GPU is a device with one side; H2M2 and GH200-like parts have two sides
joined by a link. A *system* is ``n_devices`` copies of a device joined by an interconnect
(tensor and pipeline parallelism). All numbers are SI (bytes, s, flop/s, W, J) and each
carries a :class:`Provenance`, kept per field name in ``provenance``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from hetsim.errors import ConfigError
from hetsim.hardware.dram import DramTiming
from hetsim.hardware.efficiency import FULL, EfficiencyCurve
from hetsim.hardware.kernels import KernelParams
from hetsim.hardware.provenance import Provenance
from hetsim.workload.dtypes import DType, dtype

UnitKind = Literal["matrix", "matvec", "vector", "sfu", "cpu"]
UNIT_KINDS = ("matrix", "matvec", "vector", "sfu", "cpu")
Sources = Mapping[str, Provenance]

# Which unit kinds can run an op that prefers a given kind, best first.
UNIT_FALLBACK: dict[str, tuple[str, ...]] = {
    "matrix": ("matrix", "cpu", "matvec", "vector"),
    "matvec": ("matvec", "matrix", "cpu", "vector"),
    "vector": ("vector", "cpu", "matvec", "matrix"),
    "sfu": ("sfu", "vector", "cpu", "matvec", "matrix"),
}


def _positive(owner: str, **values: float) -> None:
    for name, value in values.items():
        if not 0 < value < math.inf:
            raise ConfigError(f"{owner}: {name} must be positive and finite, got {value}")


def _non_negative(owner: str, **values: float) -> None:
    for name, value in values.items():
        if not 0 <= value < math.inf:
            raise ConfigError(f"{owner}: {name} must be non-negative and finite, got {value}")


@dataclass(frozen=True, slots=True)
class ComputeUnit:
    """A class of execution units on one side (e.g. all tensor cores of a GPU)."""

    name: str
    kind: UnitKind
    peak_flop_per_s: Mapping[str, float]  # data type name -> dense peak
    energy_j_per_flop: float = 0.0  # at 16-bit operands; scaled by bits/16 for others
    efficiency: EfficiencyCurve = FULL  # fraction of peak vs op flop
    n_parallel: int = 0  # SMs / cores that share a GEMM's tiles (0: no wave model)
    tile_mn: tuple[int, int] = (0, 0)  # output tile of one core (0: no tile model)
    clock_hz: float = 0.0  # boost clock of the cores (0: not described)
    provenance: Sources = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in UNIT_KINDS:
            raise ConfigError(f"unit {self.name!r}: kind must be one of {', '.join(UNIT_KINDS)}")
        if not self.peak_flop_per_s:
            raise ConfigError(f"unit {self.name!r}: give a peak rate for at least one data type")
        for name, rate in self.peak_flop_per_s.items():
            dtype(name)
            _positive(f"unit {self.name!r}", **{f"peak[{name}]": rate})
        _non_negative(f"unit {self.name!r}", energy_j_per_flop=self.energy_j_per_flop, clock=self.clock_hz)

    def peak(self, dt: DType | str) -> float:
        """Dense peak flop/s for ``dt``; a type without its own rate runs at the rate of the
        narrowest listed type at least as wide (same float/int class preferred)."""
        dt = dtype(dt)
        if dt.name in self.peak_flop_per_s:
            return self.peak_flop_per_s[dt.name]
        listed = [dtype(n) for n in self.peak_flop_per_s]
        wider = [d for d in listed if d.bits >= dt.bits]
        same = [d for d in wider if d.is_float == dt.is_float]
        pool = same or wider or listed
        best = min(pool, key=lambda d: d.bits) if (same or wider) else max(pool, key=lambda d: d.bits)
        return self.peak_flop_per_s[best.name]

    def energy_per_flop(self, dt: DType | str) -> float:
        return self.energy_j_per_flop * dtype(dt).bits / 16


@dataclass(frozen=True, slots=True)
class MemoryTier:
    name: str
    capacity_bytes: float
    bandwidth_bytes_per_s: float
    latency_s: float = 0.0
    energy_j_per_bit: float = 0.0
    efficiency: EfficiencyCurve = FULL  # fraction of peak bandwidth vs bytes moved
    technology: str = ""
    # on-chip last-level cache in front of this tier (GPU L2), bytes; 0: none described.
    # Only the calibrated kernel model uses it (operands just written by the previous kernel).
    cache_bytes: float = 0.0
    provenance: Sources = field(default_factory=dict, compare=False)
    # DRAM organisation and timing the bandwidth, size ramp and access energy were derived
    # from (hardware/dram.py); None: given directly
    dram: DramTiming | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        _positive(
            f"memory {self.name!r}",
            capacity=self.capacity_bytes,
            bandwidth=self.bandwidth_bytes_per_s,
        )
        _non_negative(f"memory {self.name!r}", cache=self.cache_bytes, latency=self.latency_s,
                      energy_j_per_bit=self.energy_j_per_bit)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Link:
    """A point-to-point or collective link; ``bandwidth`` is per direction per device."""

    name: str
    bandwidth_bytes_per_s: float
    latency_s: float = 0.0
    energy_j_per_bit: float = 0.0
    # the switch reduces in the network (NVLink SHARP / NVLS): an all-reduce sends and
    # receives each byte once per device instead of a ring's 2(p-1)/p
    in_network_reduction: bool = False
    # fraction of ``bandwidth`` a bulk stream between memory sides reaches (placement routes)
    efficiency: float = 1.0
    provenance: Sources = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        _positive(f"link {self.name!r}", bandwidth=self.bandwidth_bytes_per_s)
        _non_negative(f"link {self.name!r}", latency=self.latency_s, energy_j_per_bit=self.energy_j_per_bit)
        if not 0 < self.efficiency <= 1:
            raise ConfigError(f"link {self.name!r}: efficiency must be in (0, 1], got {self.efficiency}")


@dataclass(frozen=True, slots=True)
class Side:
    """One memory tier and the compute units next to it (none: a storage-only tier such as
    host DRAM behind PCIe or an NVMe drive, whose data must stream to another side)."""

    name: str
    memory: MemoryTier
    units: tuple[ComputeUnit, ...]

    @property
    def has_compute(self) -> bool:
        return bool(self.units)

    def unit_for(self, prefers: str) -> ComputeUnit:
        """The unit that runs an op preferring ``prefers`` (see ``UNIT_FALLBACK``)."""
        if not self.units:
            raise ConfigError(f"side {self.name!r} has no compute units; its data must stream elsewhere")
        by_kind = {u.kind: u for u in self.units}
        for kind in UNIT_FALLBACK.get(prefers, (prefers,)):
            if kind in by_kind:
                return by_kind[kind]
        return self.units[0]


@dataclass(frozen=True, slots=True)
class SideLink:
    """A link joining two memory sides of one device (named by side name); transfers are
    routed over a graph of these (``hetsim.placement.topology``)."""

    a: str
    b: str
    link: Link


@dataclass(frozen=True, slots=True)
class Execution:
    """How the sides of a device run the ops of one layer together (its execution model),
    read by the phase pricer (:mod:`hetsim.placement.phase`) on every run, so a command and a
    study price the same device alike.

    ``group_sync``: the sides computing parts of a split group (qkv, attention, fc) run the
    group's ops independently and meet once per layer at its end, exchanging the group's
    output once (head-parallel execution, H2M2 §3); off: they meet at every op.
    ``shared_everywhere``: norms and residuals run duplicated on every side with compute (the
    activations are duplicated, H2M2 §3) and the slowest bounds them; off: on the primary.

    One memory, two access paths (NeuPIMs): ``shared_memory`` names sides that are the same
    DRAM reached two ways (the primary's units through the channels' external interface, the
    banks' own MACs at the internal rate), so their capacity counts once (the first named
    side's). ``channel_contention`` is the fraction of the primary's time on the shared
    channels that also stalls the in-memory compute while both run sub-batches interleaved
    (the ``interleave`` option, :mod:`hetsim.sim.interleave`) (0: the
    paths never collide, e.g. dual row buffers with a spare command bus; 1: every external
    access blocks the banks)."""

    group_sync: bool = False
    shared_everywhere: bool = False
    shared_memory: tuple[str, ...] = ()
    channel_contention: float = 0.0
    provenance: Sources = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.channel_contention <= 1.0:
            raise ConfigError(
                f"execution.channel_contention must be between 0 and 1, got {self.channel_contention}"
            )
        if self.shared_memory and len(self.shared_memory) != 2:
            raise ConfigError("execution.shared_memory: name exactly two sides, e.g. [npu, pim]")


@dataclass(frozen=True, slots=True)
class Device:
    name: str
    sides: tuple[Side, ...]
    description: str = ""
    side_link: Link | None = None  # between sides (H2M2 chip link, NVLink-C2C)
    interconnect: Link | None = None  # device to device (NVLink, ICI, PCIe)
    kernel_overhead_s: float = 0.0  # launch + sync per kernel
    static_power_w: float = 0.0  # drawn whenever the device is on
    tdp_w: float = 0.0
    n_devices: int = 1  # devices in the preset system (e.g. 8 for an 8-way TP box)
    price_usd: float = 0.0
    provenance: Sources = field(default_factory=dict, compare=False)
    # calibrated kernel model (hardware/calibrated/<name>.yaml); None: datasheet roofline
    kernels: KernelParams | None = field(default=None, compare=False)
    # links between sides for three or more sides (``side_link`` joins sides 0 and 1 otherwise)
    links: tuple[SideLink, ...] = ()
    # which calibration ``kernels`` came from: "<name> overlay", "transferred from <name>
    # overlay" (the shared fitted knobs applied to this device's datasheet numbers) or "none"
    calibration: str = field(default="none", compare=False)
    # board power above idle while kernels run; None: the calibrated share of the headroom
    # above idle (cost/power.py::ACTIVE_POWER_FRACTION)
    active_power_w: float | None = None
    # family (hardware/family.py): vendor and architecture (tensor-core / core generation)
    vendor: str = ""
    architecture: str = ""
    # the rule that chose ``kernels``, its provenance, the knobs applied, fields to add
    calibration_notes: tuple[str, ...] = field(default=(), compare=False)
    # the device's link to a host CPU (PCIe generation and lanes): what composition joins
    host_link: Link | None = None
    # scale-out: each device's NIC into the network joining scale-up domains (InfiniBand,
    # RoCE), and the devices of one scale-up domain (an NVLink / xGMI / ICI node; 0: every
    # device of the system shares ``interconnect``)
    scale_out: Link | None = None
    node_devices: int = 0
    execution: Execution = Execution()  # how the sides run a layer together
    # the host CPU's time to issue one kernel relative to the x86 hosts the engines' dispatch
    # times (engines/, ``Serving.kernel_dispatch_s``) were calibrated on: a pass's host time
    # is kernels x dispatch x this (a Grace-hosted GH200 sets its own; 1: an x86 host)
    host_dispatch_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.active_power_w is not None:
            room = self.power_ceiling_w - self.static_power_w
            if not 0 <= self.active_power_w < room:
                raise ConfigError(
                    f"hardware {self.name!r}: active_power_w must be at least 0 W and below the board's "
                    f"headroom above idle ({room:g} W), got {self.active_power_w}"
                )
        if not self.sides:
            raise ConfigError(f"hardware {self.name!r}: needs at least one memory side")
        if not self.sides[0].units:
            raise ConfigError(f"hardware {self.name!r}: the first (primary) side needs compute units")
        if len(self.sides) > 1 and self.side_link is None and not self.links:
            raise ConfigError(f"hardware {self.name!r}: several sides need a side_link or links")
        names = [s.name for s in self.sides]
        if len(set(names)) != len(names):
            raise ConfigError(f"hardware {self.name!r}: side names must be unique, got {names}")
        for sl in self.links:
            for end in (sl.a, sl.b):
                if end not in names:
                    raise ConfigError(
                        f"hardware {self.name!r}: link {sl.link.name!r} names side {end!r}; "
                        f"sides are {', '.join(names)}"
                    )
        for end in self.execution.shared_memory:
            if end not in names:
                raise ConfigError(
                    f"hardware {self.name!r}: execution.shared_memory names side {end!r}; "
                    f"sides are {', '.join(names)}"
                )
        if self.n_devices < 1:
            raise ConfigError(f"hardware {self.name!r}: n_devices must be at least 1")
        if not 0 < self.host_dispatch_scale < math.inf:
            raise ConfigError(
                f"hardware {self.name!r}: host_dispatch_scale must be a positive number, "
                f"got {self.host_dispatch_scale}"
            )
        if self.node_devices < 0:
            raise ConfigError(f"hardware {self.name!r}: node_devices must be 0 (one domain) or more")
        _non_negative(
            f"hardware {self.name!r}",
            kernel_overhead=self.kernel_overhead_s,
            static_power_w=self.static_power_w,
            tdp_w=self.tdp_w,
            price_usd=self.price_usd,
        )

    @property
    def power_ceiling_w(self) -> float:
        """The most the board draws (W): its TDP, or idle + TDP where the idle figure is a whole
        host's and exceeds the GPU's TDP (e.g. ``flexgen-t4``); infinite without a TDP."""
        if self.tdp_w <= 0:
            return float("inf")
        return self.tdp_w if self.tdp_w >= self.static_power_w else self.static_power_w + self.tdp_w

    def side_links(self) -> tuple[SideLink, ...]:
        """Every link between sides: ``links``, or ``side_link`` between sides 0 and 1."""
        if self.links:
            return self.links
        if self.side_link is not None and len(self.sides) > 1:
            return (SideLink(self.sides[0].name, self.sides[1].name, self.side_link),)
        return ()

    @property
    def primary(self) -> Side:
        return self.sides[0]

    @property
    def capacity_bytes(self) -> float:
        return sum(s.memory.capacity_bytes for s in self.sides)

    def peak(self, dt: DType | str, kind: str = "matrix") -> float:
        """Peak flop/s of the primary side's unit for ``kind``."""
        return self.primary.unit_for(kind).peak(dt)

    def sources(self) -> dict[str, Provenance]:
        """Every number's provenance, keyed by a dotted path."""
        out = {f"{k}": v for k, v in self.provenance.items()}
        for side in self.sides:
            for k, v in side.memory.provenance.items():
                out[f"{side.name}.{side.memory.name}.{k}"] = v
            out[f"{side.name}.{side.memory.name}.efficiency"] = side.memory.efficiency.provenance
            for unit in side.units:
                for k, v in unit.provenance.items():
                    out[f"{side.name}.{unit.name}.{k}"] = v
                out[f"{side.name}.{unit.name}.efficiency"] = unit.efficiency.provenance
        for k, v in self.execution.provenance.items():
            out[f"execution.{k}"] = v
        for link in (self.side_link, self.interconnect, self.host_link, self.scale_out,
                     *(sl.link for sl in self.links)):  # fmt: skip
            if link is not None:
                for k, v in link.provenance.items():
                    out[f"{link.name}.{k}"] = v
        return out
