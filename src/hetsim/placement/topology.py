"""Routes between the memory sides of one device: a graph of links, the widest path.

A transfer from side ``a`` to side ``b`` takes the simple path whose narrowest link is the
widest (ties: fewer hops, then lower latency). Links are pipelined, so a route's bandwidth is
its narrowest link's, its latency the sum, its energy per bit the sum over the links it
crosses. Devices have a handful of sides, so every simple path is enumerated.
"""

from __future__ import annotations

from dataclasses import dataclass

from hetsim.errors import ConfigError
from hetsim.hardware.spec import Device, SideLink


@dataclass(frozen=True, slots=True)
class Route:
    """The path data take from side ``src`` to side ``dst`` (indices into ``device.sides``)."""

    src: int
    dst: int
    hops: tuple[str, ...]  # side names, src first
    links: tuple[str, ...]  # link names crossed, in order
    bandwidth_bytes_per_s: float  # narrowest link at its stream efficiency (inf for src == dst)
    latency_s: float
    energy_j_per_bit: float

    @property
    def text(self) -> str:
        """'lpddr -> hbm over NVLink-C2C' (what the output states)."""
        if not self.links:
            return self.hops[0]
        return f"{' -> '.join(self.hops)} over {' + '.join(self.links)}"


def _bw(sl: SideLink) -> float:
    """Bytes/s a bulk stream reaches on ``sl``: datasheet bandwidth x the link's efficiency."""
    return sl.link.bandwidth_bytes_per_s * sl.link.efficiency


def link_bandwidth(device: Device, name: str) -> float:
    """Stream bandwidth of the side link called ``name``."""
    return next(_bw(sl) for sl in device.side_links() if sl.link.name == name)


def _paths(links: tuple[SideLink, ...], a: str, b: str) -> list[list[SideLink]]:
    out: list[list[SideLink]] = []

    def walk(at: str, seen: set[str], path: list[SideLink]) -> None:
        if at == b:
            out.append(list(path))
            return
        for sl in links:
            nxt = sl.b if sl.a == at else sl.a if sl.b == at else None
            if nxt is not None and nxt not in seen:
                walk(nxt, seen | {nxt}, [*path, sl])

    walk(a, {a}, [])
    return out


def _find_route(device: Device, src: int, dst: int) -> Route:
    names = [s.name for s in device.sides]
    if src == dst:
        return Route(src, dst, (names[src],), (), float("inf"), 0.0, 0.0)
    paths = _paths(device.side_links(), names[src], names[dst])
    if not paths:
        raise ConfigError(
            f"hardware {device.name!r}: no link joins side {names[src]!r} to {names[dst]!r}; "
            "add one under 'links'"
        )

    def key(p: list[SideLink]) -> tuple[float, int, float]:
        return (-min(_bw(sl) for sl in p), len(p), sum(sl.link.latency_s for sl in p))

    best = min(paths, key=key)
    hops = [names[src]]
    for sl in best:
        hops.append(sl.b if sl.a == hops[-1] else sl.a)
    return Route(
        src,
        dst,
        tuple(hops),
        tuple(sl.link.name for sl in best),
        min(_bw(sl) for sl in best),
        sum(sl.link.latency_s for sl in best),
        sum(sl.link.energy_j_per_bit for sl in best),
    )


_CACHE: dict[tuple[int, int, int], tuple[Device, Route]] = {}


def route(device: Device, src: int, dst: int) -> Route:
    """The route from side ``src`` to side ``dst`` of ``device`` (cached per device object;
    specs are frozen, and the cache holds the device so its id is not reused)."""
    key = (id(device), src, dst)
    hit = _CACHE.get(key)
    if hit is None or hit[0] is not device:
        hit = (device, _find_route(device, src, dst))
        _CACHE[key] = hit
    return hit[1]


def stream_bandwidth(device: Device, src: int, dst: int) -> float:
    """Bytes/s at which data held on ``src`` reach compute on ``dst``: the slower of the
    tier and the route."""
    mem = device.sides[src].memory.bandwidth_bytes_per_s
    return min(mem, route(device, src, dst).bandwidth_bytes_per_s)
