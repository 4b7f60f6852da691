"""Model switching: many models resident in a capacity tier, the active ones in the serving tier.

A composition-of-experts deployment (Samba-CoE on SambaNova SN40L; many fine-tuned models
behind one router) keeps every model's weights in a large, slower tier (DDR, host DRAM) and a
few in the tier its units compute from (HBM). A request that names a model not resident there
first copies the model in, evicting the least recently used one. The copy runs as every
migration does (:func:`hetsim.placement.migration.transfer_s`: the slowest of reading the
capacity tier, the route between the two sides and writing the serving tier).

This sits beside the serving loop, not in it: a request stream is replayed against the
resident set in arrival order (the router serves one request at a time per device group), and
each request's latency is its switch, if any, plus its own inference.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from hetsim.errors import CapacityError, ConfigError
from hetsim.hardware.spec import Device
from hetsim.placement.migration import transfer_bandwidth
from hetsim.placement.topology import route


@dataclass(frozen=True, slots=True)
class SwitchPath:
    """Where models wait and where they run on one device, and what a switch costs."""

    device: str
    source: str  # capacity tier (side name)
    target: str  # serving tier (side name)
    bandwidth_bytes_per_s: float  # the migration's rate from source to target
    slots: int  # models the serving tier holds at once
    stored: int  # models the capacity tier holds
    peak_bytes_per_s: float = 0.0  # the same path at its links' datasheet rates (no stream efficiency)

    def switch_s(self, model_bytes: float) -> float:
        """Seconds to bring one model (its share on this device) into the serving tier."""
        return model_bytes / self.bandwidth_bytes_per_s


def switch_path(
    dev: Device, source: str, target: str, model_bytes: float, reserve_bytes: float = 0.0
) -> SwitchPath:
    """The switch path of ``dev`` from side ``source`` to side ``target`` for models of
    ``model_bytes`` each (this device's share), ``reserve_bytes`` of the serving tier kept for
    the KV cache and activations."""
    names = [s.name for s in dev.sides]
    for side in (source, target):
        if side not in names:
            raise ConfigError(
                f"{dev.name}: no side {side!r} to switch models through; sides are {', '.join(names)}"
            )
    if not model_bytes > 0:
        raise ConfigError(f"model size must be positive, got {model_bytes}")
    src, dst = names.index(source), names.index(target)
    room = dev.sides[dst].memory.capacity_bytes - reserve_bytes
    slots = int(room // model_bytes)
    if slots < 1:
        raise CapacityError(
            f"{dev.name}: {target} holds {room / 1e9:.1f} GB beside its reserve, less than one "
            f"{model_bytes / 1e9:.1f} GB model; shard the model over more devices"
        )
    stored = int(dev.sides[src].memory.capacity_bytes // model_bytes)
    bw = transfer_bandwidth(dev, src, dst)
    return SwitchPath(dev.name, source, target, bw, slots, stored, _peak(dev, src, dst))


def _peak(dev: Device, src: int, dst: int) -> float:
    """The migration rate with every link of the route at its datasheet bandwidth: what a
    study that takes a copy at the interface's specification assumes."""
    links = {sl.link.name: sl.link.bandwidth_bytes_per_s for sl in dev.side_links()}
    narrowest = min((links[n] for n in route(dev, src, dst).links), default=float("inf"))
    mem = (dev.sides[src].memory.bandwidth_bytes_per_s, dev.sides[dst].memory.bandwidth_bytes_per_s)
    return min(narrowest, *mem)


def replay(requested: Sequence[str], slots: int, warm: Sequence[str] = ()) -> list[bool]:
    """For each request in order, whether its model was already in the serving tier (a hit),
    under least-recently-used eviction with ``slots`` places; ``warm``: the models resident
    before the first request (at most ``slots``, most recent last)."""
    if slots < 1:
        raise ConfigError(f"the serving tier needs at least one model slot, got {slots}")
    resident: OrderedDict[str, None] = OrderedDict((m, None) for m in list(warm)[-slots:])
    hits = []
    for name in requested:
        hit = name in resident
        if hit:
            resident.move_to_end(name)
        else:
            if len(resident) >= slots:
                resident.popitem(last=False)
            resident[name] = None
        hits.append(hit)
    return hits
