"""TLB model: the time a side loses to address translation while streaming its data.

H2M2 (h2m2.md §1): one MMU per chip, 2048-entry TLB, 2 MB pages, 300 ns per miss. A decode
iteration streams every resident page once (weights, KV), so once a side's resident data is
larger than the TLB reach (2048 x 2 MB = 4 GB) every page touched misses once per
iteration. Page walks overlap with the data stream; ``walks_in_flight`` says how many misses
are served at once (a calibration knob: the paper measures the resulting overhead, not it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hetsim.errors import ConfigError
from hetsim.units import MiB
from hetsim.workload.ops import Num


@dataclass(frozen=True, slots=True)
class TlbModel:
    entries: int = 2048  # h2m2.md §1
    page_bytes: float = 2 * MiB  # h2m2.md §1: 2 MB pages
    miss_s: float = 300e-9  # h2m2.md §1: TLB miss 300 ns
    walks_in_flight: float = 1.0  # misses served concurrently (calibrated)

    def __post_init__(self) -> None:
        if self.entries < 1 or self.page_bytes <= 0 or self.miss_s < 0 or self.walks_in_flight <= 0:
            raise ConfigError("TLB: entries, page size and walks in flight must be positive")

    @property
    def reach_bytes(self) -> float:
        return self.entries * self.page_bytes

    def misses(self, streamed_bytes: Num, resident_bytes: Num) -> Num:
        """Misses while streaming ``streamed_bytes`` over ``resident_bytes`` of mapped data."""
        pages = np.ceil(np.asarray(streamed_bytes, dtype=float) / self.page_bytes)
        out: Num = np.where(np.asarray(resident_bytes) > self.reach_bytes, pages, 0.0)
        return out

    def stall_s(self, streamed_bytes: Num, resident_bytes: Num) -> Num:
        """Exposed translation time (s)."""
        out: Num = self.misses(streamed_bytes, resident_bytes) * self.miss_s / self.walks_in_flight
        return out
