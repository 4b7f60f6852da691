"""Closed-form step counts of a decode run (the serving loop prices a run of identical decode
steps at once, never a per-token Python loop): how many steps until the next arrival, and how
many the running sequences' KV blocks allow."""

from __future__ import annotations

import math

import numpy as np


def steps_to_reach(t0: float, d: float, gap: float) -> int:
    """Fewest steps (>= 1) whose cumulative time k t0 + d k (k-1)/2 reaches ``gap``."""
    if gap <= t0:
        return 1
    if d <= 1e-18:
        return max(1, math.ceil(gap / t0 - 1e-12))
    a, b = d / 2, t0 - d / 2
    k = (-b + math.sqrt(b * b + 4 * a * gap)) / (2 * a)
    return max(1, math.ceil(k - 1e-9))


def kv_steps(own: np.ndarray, bs: int, free: int, k_max: int) -> int:
    """Most decode steps (<= k_max, >= 1) the running sequences (``own`` tokens each in their
    own blocks) can take before they need more than ``free`` new blocks."""

    def new_blocks(k: int) -> int:
        return int(np.sum(-(-(own + k) // bs) - (-(-own // bs))))

    if new_blocks(k_max) <= free:
        return k_max
    lo, hi = 1, k_max  # new_blocks(1) <= free was ensured by the caller's preemption
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if new_blocks(mid) <= free:
            lo = mid
        else:
            hi = mid - 1
    return lo
