"""Overlap across sides: a decode step run as S interleaved sub-batches (the ``interleave`` option).

The placed run prices a decode step with its ops one after another (blocked: one side busy at
a time). With ``interleave`` = S > 1 the batch is cut into S sub-batches and the work of
different sub-batches runs at once on different compute sides (a GPU's GEMMs of one sub-batch
while a PIM, an LPDDR side or a host CPU does another's attention or layers, NeuPIMs'
sub-batch interleaving). Each side still runs its own ops one after another, and one
sub-batch's ops still follow each other layer by layer, so with ``T_k`` the work on side k:

    step = min(blocked, max(max_k (T_k + X_k) + C, (blocked + X) / S) + fill)

- ``T_k``: an op's whole time on each side whose units run it, and, on a side that only
  serves its data (a memory read from elsewhere), that memory's busy time (never more than
  the op's time);
- ``X_k``: what sub-batching adds on side k: each sub-batch reads an op's weights again
  (their share of the op's memory time, x (S - 1)), unless the side's on-chip memory
  (``memory.cache``) holds one layer's weights of the op, or the op's compute time hides
  them, and launches its kernels again (the op's overhead x (S - 1)); ``X`` is their sum;
- ``C``: channel contention of one memory reached two ways (``execution.shared_memory:
  [a, b]``, ``channel_contention`` c): c x min(M_a, T_b), M_a the time side a's ops keep the
  shared channels busy, stalls side b while both run;
- ``(blocked + X) / S``: one sub-batch's chain of ops, layer after layer, cannot be shortened;
- ``fill``: the pipeline's start and end, the non-bottleneck work of one sub-batch of one
  layer, ``(blocked - max_k T_k) / (S x layers)``.

A runtime interleaves only where it pays: the step is never slower than the blocked one, and
never faster than its slowest side's work alone. Prefill is not interleaved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hetsim.errors import CapacityError, ConfigError
from hetsim.hardware.spec import Device

if TYPE_CHECKING:
    from hetsim.placement.price import PlacedCost
    from hetsim.sim.config import Options
    from hetsim.sim.placed import PricedPhase
    from hetsim.sim.placed_run import Evaluated
    from hetsim.workload.ops import Op


@dataclass(frozen=True, slots=True)
class Interleaved:
    """A decode step, blocked and as S interleaved sub-batches (seconds per step; arrays over
    the decode's contexts, or what the ops' costs broadcast to)."""

    step_s: Any  # S sub-batches interleaved
    blocked_s: Any  # every op one after another
    side_s: tuple[Any, ...]  # each side's work, sub-batching's extra reads and launches included
    extra_s: Any  # what sub-batching adds over all sides (weight rereads, launches)
    contention_s: Any  # the in-memory side's stall on shared channels
    sub_batches: int


def check_interleave(sub_batches: int, dev: Device, batch: Any) -> None:
    """Refuse an ``interleave`` that cannot apply: one compute side, or a batch below it."""
    if sub_batches == 1:
        return
    if len(dev.sides) < 2:
        raise ConfigError(
            f"--interleave {sub_batches}: {dev.name} has one side, so no two sub-batches can run at "
            "once on different sides; use hardware with two or more sides, or drop --interleave"
        )
    smallest = int(np.min(batch))
    if smallest < sub_batches:
        raise ConfigError(
            f"--interleave {sub_batches} cuts the batch into {sub_batches} sub-batches, but the batch is "
            f"{smallest}; use a batch of at least {sub_batches} or fewer sub-batches"
        )


def interleave_step(ops: list[Op], costs: list[PlacedCost], dev: Device, sub_batches: int) -> Interleaved:
    """The decode step of ``ops`` priced as ``costs`` (a placed run's decode) run as
    ``sub_batches`` interleaved sub-batches on ``dev``."""
    S, n = sub_batches, len(dev.sides)
    side: list[Any] = [0.0] * n
    extra_side: list[Any] = [0.0] * n
    blocked: Any = 0.0
    layers = 1
    for op, pc in zip(ops, costs, strict=True):
        c = pc.cost
        t = np.asarray(c.time_s, dtype=float)
        blocked = blocked + t
        layers = max(layers, int(op.count))
        w = float(np.max(op.weight_bytes))
        reads = np.where(
            np.asarray(c.bytes) > 0, np.minimum(1.0, w * op.count / np.maximum(c.bytes, 1e-30)), 0.0
        )
        for k in range(n):
            if k in pc.compute_sides:
                side[k] = side[k] + t
                reread = 0.0 if dev.sides[k].memory.cache_bytes >= w else (S - 1) * reads * c.memory_s
                hidden = np.maximum(c.compute_s, c.memory_s)  # rereads hide under compute-bound GEMMs
                extra_side[k] = (
                    extra_side[k] + (S - 1) * c.overhead_s + np.maximum(c.memory_s + reread - hidden, 0)
                )
            else:
                side[k] = side[k] + np.minimum(np.asarray(pc.side_busy_s[k], dtype=float), t)
    loaded = [side[k] + extra_side[k] for k in range(n)]
    stall: Any = 0.0
    pair = dev.execution.shared_memory
    if len(pair) == 2 and S > 1:
        names = [s.name for s in dev.sides]
        a, b = names.index(pair[0]), names.index(pair[1])
        bw = dev.sides[a].memory.bandwidth_bytes_per_s
        on_a = sum((pc.side_bytes[a] for pc in costs if a in pc.compute_sides), 0.0) / bw
        stall = dev.execution.channel_contention * np.minimum(on_a, side[b])
        loaded[b] = loaded[b] + stall
    extra: Any = sum(extra_side, 0.0)
    slowest = np.maximum.reduce(np.broadcast_arrays(*[np.asarray(x, dtype=float) for x in side]))
    fill = np.maximum(blocked - slowest, 0.0) / (S * layers)
    busiest = np.maximum.reduce(np.broadcast_arrays(*[np.asarray(x, dtype=float) for x in loaded]))
    step = np.minimum(np.maximum(busiest, (blocked + extra) / S) + fill, blocked) if S > 1 else blocked
    return Interleaved(step, blocked, tuple(loaded), extra, stall, S)


def sub_batched(blocked_s: Any, ops: list[Op], decode: PricedPhase, dev: Device, opts: Options) -> Any:
    """The decode step: ``blocked_s`` (ops one after another), or with ``opts.sub_batches`` > 1
    the step of that many interleaved sub-batches (the placed run's hook)."""
    if opts.sub_batches == 1:
        return blocked_s
    step = interleave_step(ops, list(decode.costs), dev, opts.sub_batches).step_s
    return np.broadcast_to(step, np.shape(blocked_s))


def check_shared_capacity(ev: Evaluated, dev: Device) -> None:
    """The two access paths' resident bytes together within the one memory's capacity."""
    names = [s.name for s in dev.sides]
    a, b = (names.index(x) for x in dev.execution.shared_memory)
    held = float(ev.run.peak_bytes(a)[0]) + float(ev.run.peak_bytes(b)[0])
    cap = dev.sides[a].memory.capacity_bytes
    if held > cap * (1 + 1e-12):
        raise CapacityError(
            f"{dev.name}: {dev.sides[a].name} and {dev.sides[b].name} are one memory of "
            f"{cap / 1e9:.1f} GB and together hold {held / 1e9:.1f} GB; "
            "use a smaller batch or shorter context"
        )
