"""Migration: the bytes that change side between two placements, and the time to move them.

One formula serves every run that re-places data: the static analysis's re-maps as the KV
cache grows (:mod:`hetsim.sim.placed`), serving's footprint levels
(:mod:`hetsim.serving.placed`) and the H2M2 runtime's pages (:mod:`hetsim.sim.runtime`).

- A transfer from side ``s`` to side ``d`` is read from ``s``'s memory, crosses the route
  ``s -> d`` over the device's link graph (:mod:`hetsim.placement.topology`: the widest simple
  path, each link at its stream efficiency) and is written into ``d``'s memory, so it runs at
  the slowest of the three (:func:`transfer_bandwidth`). Transfers run one after another.
- Between two placements, per group, the bytes a side loses go to the sides that gain, in
  proportion to what each gains; only ``min(lost, gained)`` moves: bytes that are freed (a
  group that shrinks) or new (KV written by the step) do not travel. Losses under one byte
  are rounding, not data.

Any number of sides; values may be arrays (one per configuration of a sweep): the result is
per configuration, so a point's migration never depends on the other points evaluated with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hetsim.hardware.spec import Device
from hetsim.placement.record import Placement
from hetsim.placement.topology import route
from hetsim.workload.ops import Num

Held = Mapping[str, Sequence[Num]]  # group -> bytes it holds on each side


@dataclass(frozen=True, slots=True)
class Migration:
    """Bytes moved between sides and the seconds the moves take (arrays: per configuration)."""

    moved_bytes: Num = 0.0
    seconds: Num = 0.0


def transfer_bandwidth(dev: Device, src: int, dst: int) -> float:
    """Bytes/s of a migration from side ``src`` to side ``dst``: the slowest of reading
    ``src``'s memory, the route (narrowest link at its stream efficiency) and writing
    ``dst``'s memory (infinite for ``src == dst``: nothing moves)."""
    if src == dst:
        return float("inf")
    sides = dev.sides
    return min(
        sides[src].memory.bandwidth_bytes_per_s,
        route(dev, src, dst).bandwidth_bytes_per_s,
        sides[dst].memory.bandwidth_bytes_per_s,
    )


def transfer_s(dev: Device, src: int, dst: int, nbytes: Num) -> Num:
    """Seconds to migrate ``nbytes`` from side ``src`` to side ``dst``."""
    if src == dst:
        return 0.0 * np.asarray(nbytes, dtype=float) if np.ndim(nbytes) else 0.0
    out: Num = nbytes / transfer_bandwidth(dev, src, dst)
    return out


def held(resident: Mapping[str, Num], pl: Placement) -> dict[str, tuple[Num, ...]]:
    """Bytes each group of ``pl`` holds on each side, given each group's resident bytes."""
    out: dict[str, tuple[Num, ...]] = {}
    for g, gp in pl.groups.items():
        r = resident.get(g, 0.0)
        out[g] = tuple(r * x for x in gp.shares)
    return out


def migrate(dev: Device, before: Held, after: Held) -> Migration:
    """What moves, and how long it takes, to go from ``before`` to ``after`` (bytes per group
    and side, see :func:`held`); groups missing from either are not moved."""
    n = len(dev.sides)
    moved: Num = 0.0
    secs: Num = 0.0
    for g, new in after.items():
        old = before.get(g)
        if old is None:
            continue
        diff = [np.asarray(new[s], dtype=float) - np.asarray(old[s], dtype=float) for s in range(n)]
        lost = [np.where(-d > 1.0, -d, 0.0) for d in diff]
        gain = [np.maximum(d, 0.0) for d in diff]
        total_lost = sum(lost[1:], lost[0])
        total_gain = sum(gain[1:], gain[0])
        go = np.minimum(total_lost, total_gain)  # the bytes that travel
        if not np.any(go > 0):
            continue
        out_frac = np.where(total_lost > 0, go / np.maximum(total_lost, 1e-300), 0.0)
        in_frac = [np.where(total_gain > 0, x / np.maximum(total_gain, 1e-300), 0.0) for x in gain]
        moved = moved + go
        for s in range(n):
            if not np.any(lost[s] > 0):
                continue
            leaving = lost[s] * out_frac
            for d in range(n):
                if d != s and np.any(in_frac[d] > 0):
                    secs = secs + transfer_s(dev, s, d, leaving * in_frac[d])
    return Migration(_plain(moved), _plain(secs))


def _plain(x: Num) -> Num:
    """A 0-d result as a float (the scalar runs' records), arrays as they are."""
    return float(x) if np.ndim(x) == 0 else x
