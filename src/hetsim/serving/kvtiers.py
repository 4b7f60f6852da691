"""The KV hierarchy below the GPU (host DRAM, local NVMe, a remote or shared store), from the
hardware description or from a ``--kv-offload`` text.

``auto`` takes the device's own memory sides beyond the primary one (e.g. ``flexgen-t4``'s host
DRAM and NVMe drive, ``gh200``'s LPDDR5X), nearest first, each with its capacity and the
bandwidth of the slowest link on its path from the GPU (a link's efficiency applied), and its
path latency. A text lists tiers nearest first, ``NAME:CAPACITY:BANDWIDTH[:LATENCY]``, e.g.
``dram:512GB:50GB/s,nvme:4TB:6GB/s:100us,remote:100TB:12.5GB/s:1ms``; those numbers are the
user's (the result's notes repeat them).
"""

from __future__ import annotations

import heapq

from hetsim.errors import ConfigError
from hetsim.hardware.spec import Device
from hetsim.serving.prefix import KVTier
from hetsim.units import parse_quantity

MAX_TIERS = 8


def tiers_from_device(dev: Device) -> tuple[KVTier, ...]:
    """The device's non-primary memory sides as KV tiers, nearest (fastest path) first."""
    adj: dict[str, list[tuple[str, float, float]]] = {}
    for sl in dev.side_links():
        bw = sl.link.bandwidth_bytes_per_s * sl.link.efficiency
        for x, y in ((sl.a, sl.b), (sl.b, sl.a)):
            adj.setdefault(x, []).append((y, bw, sl.link.latency_s))
    # widest path from the GPU side: (bottleneck bandwidth, summed latency) per side
    best: dict[str, tuple[float, float]] = {dev.primary.name: (float("inf"), 0.0)}
    heap: list[tuple[float, float, str]] = [(-float("inf"), 0.0, dev.primary.name)]
    while heap:
        neg_bw, lat, side = heapq.heappop(heap)
        for nxt, bw, l_s in adj.get(side, []):
            cand = (min(-neg_bw, bw), lat + l_s)
            if nxt not in best or cand[0] > best[nxt][0]:
                best[nxt] = cand
                heapq.heappush(heap, (-cand[0], cand[1], nxt))
    out = []
    for s in dev.sides[1:]:
        if s.name in best:
            bw, lat = best[s.name]
            out.append(KVTier(s.name, s.memory.capacity_bytes, bw, lat + s.memory.latency_s,
                              f"hardware: {dev.name} side {s.name} ({s.memory.name})"))  # fmt: skip
    return tuple(sorted(out, key=lambda t: -t.bandwidth_bytes_per_s))


def parse_tiers(text: str) -> tuple[KVTier, ...]:
    """Tiers from ``NAME:CAPACITY:BANDWIDTH[:LATENCY],...`` (nearest first)."""
    out = []
    for part in str(text).split(","):
        bits = [b.strip() for b in part.split(":")]
        if len(bits) not in (3, 4) or not bits[0]:
            raise ConfigError(
                f"--kv-offload {part.strip()!r}: give NAME:CAPACITY:BANDWIDTH[:LATENCY], "
                "e.g. dram:512GB:50GB/s"
            )
        where = f"--kv-offload {bits[0]}"
        cap = parse_quantity(bits[1], "bytes", where=where)
        bw = parse_quantity(bits[2], "bytes_per_s", where=where)
        lat = parse_quantity(bits[3], "s", where=where) if len(bits) == 4 else 0.0
        out.append(KVTier(bits[0], cap, bw, lat, "set by the user"))
    if len(out) > MAX_TIERS:
        raise ConfigError(f"--kv-offload: at most {MAX_TIERS} tiers, got {len(out)}")
    return tuple(out)


def resolve_tiers(spec: tuple[KVTier, ...] | str | None, dev: Device, policy: str) -> tuple[KVTier, ...]:
    """The tiers a run uses: none, the device's own (``auto``), a text, or given records."""
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "none")):
        return ()
    if isinstance(spec, tuple):
        return spec
    if policy != "primary":
        raise ConfigError(
            "--kv-offload works with --policy primary: under a placement policy the other memory sides "
            "already hold weights and KV"
        )
    if spec.strip().lower() == "auto":
        tiers = tiers_from_device(dev)
        if not tiers:
            raise ConfigError(
                f"{dev.name} describes no memory beyond the GPU; give tiers, "
                "e.g. --kv-offload dram:512GB:50GB/s"
            )
        return tiers
    return parse_tiers(spec)
