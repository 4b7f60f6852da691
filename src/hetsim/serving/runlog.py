"""What the engine loop records: per request, per event and over time (all O(events))."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hetsim.hardware.spec import Device
    from hetsim.serving.prefix import PrefixCache
    from hetsim.serving.requests import RequestSet
    from hetsim.serving.state import EngineState


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
    # pools of a disaggregated run on two kinds of hardware: (device, tp, instances, busy s,
    # dynamic J per device); empty for one pool
    groups: list[tuple[Device, int, int, float, float]] = field(default_factory=list)

    def close(
        self, st: EngineState, reqs: RequestSet, arr: list[float], o: float, dyn_j: float, busy_s: float,
        peak_w: float, cache: PrefixCache | None,
    ) -> LoopLog:  # fmt: skip
        """Fill the per-request arrays from the loop's final state."""
        for i in st.dec:  # a truncated run: decoding offsets back to plain values
            st.ej[i] += st.e_acc
        first, finish, npre, ej = st.arrays()
        self.first_token_s, self.finish_s, self.preemptions = first, finish, npre
        self.request_energy_j = ej.tolist()
        self.arrival_s = np.asarray(arr, dtype=float) - o if o else np.asarray(arr, dtype=float)
        self.dynamic_j, self.busy_s, self.peak_power_w = dyn_j, busy_s, peak_w
        if cache is not None:
            self.prefix = {"lookups": cache.lookups, "hits": cache.hits, "hit_tokens": cache.hit_tokens,
                           "reloaded_bytes": cache.reloaded_bytes, "evicted_bytes": cache.evicted_bytes,
                           "dropped_bytes": cache.dropped_bytes}  # fmt: skip
        return self
