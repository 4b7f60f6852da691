"""Model switching: many models resident in a capacity tier, the active ones in the serving tier.

A composition-of-experts deployment (Samba-CoE on SambaNova SN40L; many fine-tuned models
behind one router) keeps every model's weights in a large, slower tier (DDR, host DRAM) and a
few in the tier its units compute from (HBM). A request that names a model not resident there
first copies the model in, evicting the least recently used one. The copy runs as every
migration does (:func:`hetsim.placement.migration.transfer_s`: the slowest of reading the
capacity tier, the route between the two sides and writing the serving tier).

:func:`replay` replays a request stream against the resident set in arrival order (the router
serves one request at a time per device group). :class:`SwitchingScheduler` switches inside the
serving loop (:func:`hetsim.serving.loop.run_engine`'s ``scheduler``): it wraps any scheduler and
shows it only the active model's waiting requests. Once the oldest waiting request names another
model, the active model admits no more; when its last request leaves the engine the model of the
oldest waiting request becomes active, its copy (``model_bytes / bandwidth``, for a model not
resident) charged to the next iteration as KV copies are. The models share one architecture
(fine-tuned variants, as Samba-CoE's experts), so one pricer prices every iteration.
:class:`ModelMix` is ``serve-sim --models`` (and ``simulate_serving(models=...)``): which models,
each request's drawn by share, copied from the fastest side beside the primary that holds them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from hetsim.errors import CapacityError, ConfigError
from hetsim.hardware.spec import Device
from hetsim.placement.migration import transfer_bandwidth
from hetsim.placement.topology import route
from hetsim.serving.budget import KVBudget
from hetsim.serving.schedulers.base import Batch, FifoQueue, Scheduler
from hetsim.serving.state import EngineState, WaitQueue
from hetsim.workload.model import ModelSpec


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


@dataclass(slots=True)
class _ByModel:
    """The waiting queue of a switching engine: one queue per model (the wrapped scheduler's
    kind); its length counts them all, so the loop never idles while another model waits."""

    model: Sequence[str]  # per request id
    st: EngineState
    subs: dict[str, WaitQueue]

    def push(self, i: int) -> None:
        self.subs[self.model[self.st.rid[i]]].push(i)

    def push_front(self, i: int) -> None:
        self.subs[self.model[self.st.rid[i]]].push_front(i)

    def peek(self) -> int:
        return min((q.peek() for q in self.subs.values() if len(q)), key=self.st.arr.__getitem__)

    def pop(self) -> int:
        return self.subs[self.model[self.st.rid[self.peek()]]].pop()

    def __len__(self) -> int:
        return sum(len(q) for q in self.subs.values())


@dataclass(slots=True)
class SwitchingScheduler(Scheduler):
    """``inner`` serving one active model at a time (the module docstring). ``model``: each
    request's model; ``model_bytes``: each model's weights on this instance; ``slots``: models
    the serving tier holds at once (least recently used evicted); ``warm``: resident at start."""

    inner: Scheduler
    model: Sequence[str]
    model_bytes: Mapping[str, float]
    bandwidth_bytes_per_s: float
    slots: int = 1
    warm: Sequence[str] = ()
    switches: int = 0
    switch_s: float = 0.0
    active: str = ""
    resident: OrderedDict[str, None] = field(default_factory=OrderedDict)
    name = "switching"
    summary = "one model active at a time, its weights copied in from the capacity tier"
    source = "SN40L (Prabhakar et al., MICRO 2024): Samba-CoE's expert switching"

    def __post_init__(self) -> None:
        if unknown := sorted(set(self.model) - set(self.model_bytes)):
            raise ConfigError(f"no size for model {unknown[0]!r}; give model_bytes for every model named")
        if not self.bandwidth_bytes_per_s > 0 or min(self.model_bytes.values()) <= 0:
            raise ConfigError("switch bandwidth and model sizes must be positive")
        replay([], self.slots)  # the slot count's check
        self.resident = OrderedDict((m, None) for m in list(self.warm)[-self.slots :])
        self.active = next(reversed(self.resident), "")

    def queue(self, st: EngineState) -> WaitQueue:
        if st.cache is not None and len(set(self.model)) > 1:  # one model's prefix KV is not another's
            raise ConfigError(
                "model switching keeps no prefix cache across models: serve with prefix caching off"
            )
        return _ByModel(self.model, st, {m: self.inner.queue(st) for m in self.model_bytes})

    def victim(self, st: EngineState) -> int:
        return self.inner.victim(st)

    def form(self, st: EngineState, t: float) -> Batch:
        umbrella = st.waiting
        assert isinstance(umbrella, _ByModel)
        if len(umbrella) and not st.dec and not st.pf:  # drained: the oldest waiting request's model
            self._switch(st, umbrella.model[st.rid[umbrella.peek()]])
        own = umbrella.subs.get(self.active)
        # the active model admits only while the oldest waiting request is its own
        drain = FifoQueue()
        shown: WaitQueue = own if own is not None and len(own) and umbrella.peek() == own.peek() else drain
        st.waiting = shown
        try:
            return self.inner.form(st, t)
        finally:
            st.waiting = umbrella
            for i in reversed(drain):  # preempted while the model drains: back to its own queue
                umbrella.push_front(i)

    def _switch(self, st: EngineState, to: str) -> None:
        if to in self.resident:
            self.resident.move_to_end(to)
        else:
            if len(self.resident) >= self.slots:
                self.resident.popitem(last=False)
            self.resident[to] = None
            st.io_s += (secs := self.model_bytes[to] / self.bandwidth_bytes_per_s)
            self.switches, self.switch_s = self.switches + 1, self.switch_s + secs
        self.active = to


@dataclass(frozen=True, slots=True)
class ModelMix:
    """Several models of one architecture behind one engine (``serve-sim --models``). Each request
    names one, drawn independently (seeded) with probability proportional to its share; the first
    ``slots`` models listed are resident when serving starts (a deployment loads them first)."""

    names: tuple[str, ...]
    shares: tuple[float, ...]
    slots: int = 1
    seed: int = 0

    @classmethod
    def parse(cls, text: str, slots: int = 1, seed: int = 0) -> ModelMix:
        """``NAME[:SHARE],...``; NAME a preset or config.json, ``NAME@TAG`` a fine-tuned variant."""
        names, shares = [], []
        for item in (x.strip() for x in text.split(",")):
            name, _, share = item.rpartition(":") if ":" in item else (item, "", "1")
            try:
                w = float(share)
            except ValueError:
                w = float("nan")
            if not name or not w > 0 or w == float("inf") or name in names:
                raise ConfigError(
                    f"--models {text!r}: give distinct NAME[:SHARE] entries, shares positive, e.g. "
                    "llama2-7b@chat:3,llama2-7b@code"
                )
            names.append(name)
            shares.append(w)
        if isinstance(slots, bool) or not 1 <= slots <= len(names):
            raise ConfigError(f"--model-slots must be from 1 to the {len(names)} models listed, got {slots}")
        return cls(tuple(names), tuple(shares), slots, seed)

    def assign(self, n: int) -> list[str]:
        """Each of ``n`` requests' model."""
        p = np.asarray(self.shares) / sum(self.shares)
        rng = np.random.default_rng([self.seed, 23])  # a stream of its own, not the arrivals' (seed)
        return [self.names[i] for i in rng.choice(len(p), n, p=p)]

    def check(self, arch: ModelSpec, get_model: Any) -> None:
        """Every model resolves and has ``arch``'s shapes (one pricer prices them all)."""
        for name in self.names:
            spec = get_model(name.partition("@")[0])
            if replace(spec, name=arch.name, max_seq_len=arch.max_seq_len) != arch:
                raise ConfigError(
                    f"--models: {name} is not a {arch.name} (another architecture); switching serves "
                    "models of one architecture: list variants as NAME@TAG"
                )


def switching(
    mix: ModelMix, dev: Device, weight_bytes: float, n: int, inner: Scheduler
) -> tuple[SwitchingScheduler, SwitchPath]:
    """The switching scheduler of ``mix`` on ``dev``: models copied into the primary side from the
    capacity tier, the side beside it that holds every model and copies fastest (the migration's
    rate), each device of the TP group its ``weight_bytes`` share at once."""
    if len(dev.sides) == 1:
        raise ConfigError(
            f"{dev.name} has one memory side: --models needs a capacity tier for the models that "
            "wait; compose one, e.g. h100-sxm+xeon-8480x2+dram:2TB"
        )
    fits = [
        k for k, s in enumerate(dev.sides) if k and s.memory.capacity_bytes // weight_bytes >= len(mix.names)
    ]
    if not fits:
        raise CapacityError(f"{dev.name}: no memory side beside {dev.primary.name} holds the "
                            f"{len(mix.names)} models of {weight_bytes / 1e9:,.1f} GB a device")  # fmt: skip
    source = dev.sides[max(fits, key=lambda k: transfer_bandwidth(dev, k, 0))].name
    path = switch_path(dev, source, dev.primary.name, weight_bytes)
    sched = SwitchingScheduler(
        inner, mix.assign(n), dict.fromkeys(mix.names, weight_bytes), path.bandwidth_bytes_per_s,
        mix.slots, mix.names[: mix.slots],
    )  # fmt: skip
    return sched, path


def with_slots(kv: KVBudget, slots: int) -> KVBudget:
    """The KV cache beside ``slots`` resident models (``kv`` holds one model's weights)."""
    if slots == 1:
        return kv
    cap = kv.kv_capacity_bytes - (slots - 1) * kv.weight_bytes
    blocks = int(cap // (kv.kv_bytes_per_token * kv.block_tokens)) if cap > 0 else 0
    if blocks < 1:
        raise CapacityError(f"--model-slots {slots}: the models leave no room for the KV cache; give fewer")
    return replace(kv, total_blocks=blocks, kv_capacity_bytes=cap)


def per_model(
    names: Sequence[str], models: Sequence[str], first_s: Any, finish_s: Any, arr_s: Any
) -> dict[str, Any]:
    """Requests, mean TTFT and mean end-to-end latency of each model's finished requests."""
    out: dict[str, Any] = {}
    for name in names:
        k = np.array([x == name for x in models], dtype=bool) & np.isfinite(finish_s)
        out[name] = {"requests": int(k.sum())}
        if k.any():
            out[name] |= {"ttft_mean_s": float(np.mean(first_s[k] - arr_s[k])),
                          "e2e_mean_s": float(np.mean(finish_s[k] - arr_s[k]))}  # fmt: skip
    return out
