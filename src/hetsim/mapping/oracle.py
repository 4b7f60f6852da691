"""Exhaustive search over every split of the three sublayers, as one NumPy broadcast.

For GPT3-175B (96 heads) that is 97^3 = 912,673 candidate mappings (n = 0..96 each; the
paper counts 96^3 = 884,736). Memory: three (N+1)^3 float64 arrays, about 22 MB for GPT3.
"""

from __future__ import annotations

import numpy as np

from hetsim.cost.partition import SplitTables
from hetsim.errors import CapacityError
from hetsim.mapping.registry import Mapping


def search_space(tables: SplitTables) -> int:
    """Number of candidate mappings the oracle evaluates."""
    out = 1
    for t in tables.tables:
        out *= t.n_parts + 1
    return out


def oracle(tables: SplitTables) -> Mapping:
    """The fastest mapping that fits, found by evaluating every split (no abstraction cost)."""
    a, q, f = tables.tables
    total = a.time_s[:, None, None] + q.time_s[None, :, None] + f.time_s[None, None, :]
    fast = a.fast_bytes[:, None, None] + q.fast_bytes[None, :, None] + f.fast_bytes[None, None, :]
    slow = a.slow_bytes[:, None, None] + q.slow_bytes[None, :, None] + f.slow_bytes[None, None, :]
    bad = (fast > tables.fast_capacity_bytes) | (slow > tables.slow_capacity_bytes)
    total[bad] = np.inf
    flat = int(np.argmin(total))
    if not np.isfinite(total.flat[flat]):
        raise CapacityError("oracle: no mapping fits both memory sides")
    i, j, k = np.unravel_index(flat, total.shape)
    return Mapping("oracle", (int(i), int(j), int(k)))
