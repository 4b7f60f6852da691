"""What the engine loop records: per request, per event and over time (all O(events))."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hetsim.hardware.spec import Device
    from hetsim.serving.prefix import PrefixCache
    from hetsim.serving.state import EngineState


# runs of more requests than this keep a thinned record of their events (:class:`Thinned`), so
# memory does not grow with the requests served; counts, peaks and per-request arrays stay exact
RECORD_LIMIT = 200_000
THINNED_CAP = 20_000


class Thinned(list):  # type: ignore[type-arg]
    """A list that keeps a uniform subsample of what is appended: every ``stride``-th item, the
    stride doubling (and every other kept item dropped) whenever more than ``cap`` are kept."""

    def __init__(self, cap: int = THINNED_CAP) -> None:
        super().__init__()
        self.cap, self.stride, self.seen = cap, 1, 0

    def append(self, item: object) -> None:
        self.seen += 1
        if self.seen % self.stride:
            return
        super().append(item)
        if len(self) > self.cap:
            del self[1::2]
            self.stride *= 2


@dataclass(slots=True)
class LoopLog:
    """Per-request arrays (K,) (NaN where a request never got there), one row per priced
    iteration or closed-form run (start, duration, steps, decode sequences, prefill tokens) and
    one row per event (time, KV blocks used, running, waiting, preemptions so far)."""

    first_token_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    finish_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    arrival_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    preemptions: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    iterations: list[tuple[float, float, int, int, int]] = field(default_factory=list)
    timeline: list[tuple[float, int, int, int, int]] = field(default_factory=list)
    total_blocks: int = 0
    truncated: str = ""  # why the run stopped early ("" when every request finished)
    remaps: int = 0  # placement re-decided (a multi-tier system under a dynamic policy)
    migrated_bytes: float = 0.0
    migration_s: float = 0.0
    dynamic_j: float = 0.0  # dynamic energy per device of the instance (J)
    busy_s: float = 0.0  # seconds the devices ran kernels
    request_energy_j: list[float] = field(default_factory=list)  # per request, whole instance (J)
    peak_power_w: float = 0.0  # highest power of one device over a record (W)
    # prefix cache: lookups, hits, tokens whose prefill a hit skipped, bytes copied back from a
    # lower tier, evicted to one, and dropped from the hierarchy
    prefix: dict[str, float] = field(default_factory=dict)
    # (gap, step, n): decode tokens of n sequences that waited for decode-free iterations
    stalls: list[tuple[float, float, int]] = field(default_factory=list)
    # exact over the whole run even when the event records are thinned
    records: int = 0  # priced iterations and closed-form runs
    steps: int = 0  # forward passes
    kv_peak_blocks: int = 0
    thinned: bool = False
    # pools of a disaggregated run on two kinds of hardware: (device, tp, instances, busy s,
    # dynamic J per device); empty for one pool
    groups: list[tuple[Device, int, int, float, float]] = field(default_factory=list)

    def close(
        self, st: EngineState, arrival: np.ndarray, dyn_j: float, busy_s: float, peak_w: float,
        cache: PrefixCache | None,
    ) -> LoopLog:  # fmt: skip
        """Fill the per-request arrays from the loop's final state (``arrival``: the clients')."""
        first, finish, npre, ej = st.outputs()
        self.first_token_s, self.finish_s, self.preemptions = first, finish, npre
        self.request_energy_j = ej.tolist()
        self.arrival_s = arrival
        self.dynamic_j, self.busy_s, self.peak_power_w = dyn_j, busy_s, peak_w
        if cache is not None:
            self.prefix = {"lookups": cache.lookups, "hits": cache.hits, "hit_tokens": cache.hit_tokens,
                           "reloaded_bytes": cache.reloaded_bytes, "evicted_bytes": cache.evicted_bytes,
                           "dropped_bytes": cache.dropped_bytes}  # fmt: skip
        return self
