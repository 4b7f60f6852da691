"""What pricing one op under a placement accumulates over the op's parts: bytes, busy time and
energy per side, bytes and busy time per link, and the streams that feed each computing side
(:func:`hetsim.placement.price.price_op`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hetsim.hardware.spec import Device
from hetsim.placement.limits import slowest, with_latency
from hetsim.placement.topology import link_bandwidth, route
from hetsim.workload.ops import Num, ndim


def _acc(total: Num, x: Num) -> Num:
    """total + x, without an array copy while ``total`` is still the scalar 0."""
    if ndim(total) == 0 and float(total) == 0.0:
        return x
    return total + x


def _max(a: Num, b: Num) -> Num:
    """max(a, b), without an array copy where one side is the scalar 0 (times are >= 0)."""
    if ndim(a) == 0 and float(a) == 0.0:
        return b
    if ndim(b) == 0 and float(b) == 0.0:
        return a
    return np.maximum(a, b)


def carried(nbytes: Num, latency_s: float) -> Num:
    """``latency_s`` where ``nbytes`` > 0, else 0 (per configuration)."""
    if ndim(nbytes) == 0:
        return latency_s if float(nbytes) > 0 else 0.0
    out: Num = np.where(np.asarray(nbytes) > 0, latency_s, 0.0)
    return out


@dataclass(slots=True)
class Tally:
    """What pricing one op under a placement accumulates, per side and per link, over every
    part of the op (in the order the parts are priced: sums are neighbour-independent only if
    each configuration gets the same additions in the same order)."""

    dev: Device
    detail: bool  # per-side busy time and energy, per-link bytes (an analysis's records)
    side_bytes: list[Num]
    side_busy: list[Num]
    side_energy: list[Num]
    mem_busy: list[Num]
    links: dict[str, Num] = field(default_factory=dict)
    link_busy: dict[str, Num] = field(default_factory=dict)
    # per link, the longest start-up latency of a route that carries bytes over it, per
    # configuration (a route whose share is an array of zeros adds none)
    link_lat: dict[str, Num] = field(default_factory=dict)
    energy: Num = 0.0

    @classmethod
    def of(cls, dev: Device, detail: bool) -> Tally:
        n = len(dev.sides)
        return cls(dev, detail, [0.0] * n, [0.0] * n, [0.0] * n, [0.0] * n)

    def stream(self, nbytes: Num, s: int, c: int, own: dict[str, Num] | None = None) -> tuple[float, Num]:
        """Charge ``nbytes`` (all repetitions) streamed from side s to side c (into ``own``:
        the link seconds of compute side c's own streams); (J/bit, latency) of the route, the
        latency 0 where it carries no bytes (per configuration). A route that carried none
        once set its links' latency anyway: a third side's all-zero share made the host's
        stream over the same PCIe link pay the SSD route's start-up (a6000-offload,
        attention 1.13 -> 1.70 ms a step at a 1.3% host share)."""
        r = route(self.dev, s, c)
        lat = carried(nbytes, r.latency_s)
        for name in r.links:
            bw = link_bandwidth(self.dev, name)
            if self.detail:
                self.links[name] = _acc(self.links.get(name, 0.0), nbytes)
            self.link_busy[name] = _acc(self.link_busy.get(name, 0.0), nbytes / bw)
            self.link_lat[name] = _max(self.link_lat.get(name, 0.0), lat)
            if own is not None:
                own[name] = _acc(own.get(name, 0.0), nbytes / bw)
        return r.energy_j_per_bit, lat

    def stream_in(
        self, parts_of: Any, c: int, count: float, staged: bool, limits: bool
    ) -> tuple[Num, tuple[float, str]]:
        """The data streamed in to compute side ``c`` from the other sides (``parts_of(s)``:
        the byte parts side s sends per repetition): they keep those memories and links busy,
        and the kernel's memory phase lasts at least as long as its slowest source. Returns
        that time and (with ``limits``) the slowest source, named."""
        dev = self.dev
        src_s: Num = 0.0
        src: tuple[float, str] = (-1.0, "")
        own_links: dict[str, Num] = {}
        own_lat: dict[str, Num] = {}
        for s in range(len(dev.sides)):
            if s == c:
                continue
            parts = [x for x in parts_of(s) if ndim(x) or float(x)]
            if not parts:
                continue
            per_rep: Num = parts[0] if len(parts) == 1 else sum(parts[1:], parts[0])
            nb = per_rep * count
            mem = dev.sides[s].memory
            eff = mem.efficiency(np.maximum(per_rep, 1.0)) if mem.efficiency.values != (1.0,) else 1.0
            t_mem = nb / (mem.bandwidth_bytes_per_s * eff)
            self.mem_busy[s] = _acc(self.mem_busy[s], t_mem)
            src_s = _max(src_s, t_mem)
            if limits:
                src = slowest(src, t_mem, f"memory {dev.sides[s].name}")
            self.side_bytes[s] = _acc(self.side_bytes[s], nb)
            e_link, lat = self.stream(nb, s, c, own_links)  # J/bit over the route
            for name in route(dev, s, c).links:
                own_lat[name] = _max(own_lat.get(name, 0.0), lat)
            if self.detail:
                self.side_busy[s] = _acc(self.side_busy[s], t_mem)
                self.side_energy[s] = _acc(self.side_energy[s], nb * (8 * mem.energy_j_per_bit))
            self.energy = _acc(self.energy, nb * (8 * (mem.energy_j_per_bit + e_link)))
            if staged:  # written into the compute side's memory, then read from it
                home = dev.sides[c].memory
                t_home = 2 * nb / home.bandwidth_bytes_per_s
                self.mem_busy[c] = _acc(self.mem_busy[c], t_home)
                self.side_bytes[c] = _acc(self.side_bytes[c], 2 * nb)
                self.energy = _acc(self.energy, nb * (16 * home.energy_j_per_bit))
                if self.detail:
                    self.side_busy[c] = _acc(self.side_busy[c], t_home)
                    self.side_energy[c] = _acc(self.side_energy[c], nb * (16 * home.energy_j_per_bit))
        for name, t in own_links.items():
            src_s = _max(src_s, with_latency(t, count, own_lat[name]))
            if limits:
                src = slowest(src, with_latency(t, count, own_lat[name]), f"link {name}")
        return src_s, src

    def memory_s(self, count: float) -> Num:
        """The busiest memory or link (a link's start-up latency per layer included)."""
        mem_s: Num = 0.0
        for t in self.mem_busy:
            mem_s = _max(mem_s, t)
        for name, t in self.link_busy.items():
            mem_s = _max(mem_s, with_latency(t, count, self.link_lat[name]))
        return mem_s

    def total_bytes(self) -> Num:
        total: Num = 0.0
        for b in self.side_bytes:
            total = _acc(total, b)
        return total
