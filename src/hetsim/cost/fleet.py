"""The cheapest fleet for a workload: which accelerator types, and how many of each, serve every
slice of a request mix within an SLO (Mélange's cost-aware bin packing, Griggs et al., arXiv
2404.14527, §5).

A workload is cut into slices (a request-size bucket and the request rate in it). Each type j
has a price per hour and, per slice i, the largest request rate one device of that type
sustains within the SLO (measured, or simulated). Serving slice i on type j takes the fraction
``rate_i / max_rate_ij`` of one device (its load; loads on one device add). The integer
program assigns every slice to one type and buys enough devices of each type for the loads it
carries, at the least total price:

    minimise  sum_j price_j y_j
    s.t.      sum_j x_ij = 1                           every slice served once
              sum_i load_ij x_ij <= y_j                enough devices of each type
              x_ij in {0, 1}, y_j in {0, 1, 2, ...}    (x_ij = 0 where j cannot serve i)

solved with SciPy's ``milp`` (HiGHS). A single-type fleet needs ceil(sum_i load_ij) devices.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from hetsim.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Fleet:
    """Devices bought per type, the slice -> type assignment and the price per hour."""

    types: tuple[str, ...]
    counts: tuple[int, ...]
    assignment: tuple[int, ...]  # slice i -> index of its type
    usd_per_hour: float

    def mix(self) -> dict[str, int]:
        return {t: c for t, c in zip(self.types, self.counts, strict=True) if c}


def _loads(rates: Any, max_rates: Any) -> np.ndarray[Any, Any]:
    r = np.asarray(rates, dtype=float)
    m = np.asarray(max_rates, dtype=float)
    if m.ndim != 2 or m.shape[0] != r.size:
        raise ConfigError("fleet: max_rates must be (slices, types) with one row per slice rate")
    if np.any(r < 0) or np.any(m < 0):
        raise ConfigError("fleet: rates and sustainable rates must be non-negative")
    with np.errstate(divide="ignore"):
        return np.where(m > 0, r[:, None] / np.where(m > 0, m, 1.0), np.inf)


def single_type(types: tuple[str, ...], rates: Any, max_rates: Any, prices: Any) -> dict[str, float]:
    """Price per hour of serving everything on one type (inf where a slice cannot be served)."""
    load = _loads(rates, max_rates)
    out = {}
    for j, t in enumerate(types):
        need = float(np.sum(load[:, j]))
        out[t] = math.inf if not math.isfinite(need) else math.ceil(need - 1e-9) * float(prices[j])
    return out


@contextmanager
def _quiet_solver() -> Iterator[None]:
    """Run HiGHS with the process's standard output pointed at /dev/null. Some HiGHS builds
    print a debug line ("HighsMipSolverData::transformNewIntegerFeasibleSolution ...") from C++
    whatever ``disp`` says, into reports and the CLI's output; the C library's buffer is
    flushed before the descriptor is given back, so the line cannot surface later either."""
    import ctypes

    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no descriptor 1 to redirect
        yield
        return
    libc = ctypes.CDLL(None)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        libc.fflush(None)
        os.dup2(saved, 1)
        os.close(saved)


def cheapest_fleet(types: tuple[str, ...], rates: Any, max_rates: Any, prices: Any) -> Fleet:
    """The least-price fleet mixing ``types`` that serves every slice (see the module doc)."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    load = _loads(rates, max_rates)
    price = np.asarray(prices, dtype=float)
    n, k = load.shape
    if price.shape != (k,) or np.any(price <= 0):
        raise ConfigError("fleet: give one positive price per type")
    busy = np.asarray(rates, dtype=float) > 0
    if np.any(busy & ~np.isfinite(load).any(axis=1)):
        raise ConfigError("fleet: a slice with requests has no type that can serve it within the SLO")
    finite = np.where(np.isfinite(load), load, 0.0)
    nx = n * k  # x_ij flattened row-major, then y_j
    c = np.concatenate([np.zeros(nx), price])
    one = np.zeros((n, nx + k))
    for i in range(n):
        one[i, i * k : (i + 1) * k] = 1.0
    cap = np.zeros((k, nx + k))
    for j in range(k):
        cap[j, j:nx:k] = finite[:, j]
        cap[j, nx + j] = -1.0
    upper = np.concatenate([np.where(np.isfinite(load), 1.0, 0.0).ravel(), np.full(k, np.inf)])
    with _quiet_solver():
        res = milp(
            c,
            integrality=np.ones(nx + k),
            bounds=Bounds(np.zeros(nx + k), upper),
            constraints=[LinearConstraint(one, 1.0, 1.0), LinearConstraint(cap, -np.inf, 0.0)],
        )
    if not res.success:
        raise ConfigError(f"fleet: the integer program found no fleet ({res.message})")
    x = np.round(res.x[:nx]).reshape(n, k)
    assign = [int(np.argmax(row)) for row in x]
    best = _exact(types, assign, finite, price)
    # HiGHS' integrality tolerance (1e-6) can count a device carrying less than 1e-6 of a load
    # as none: the counts are recomputed from the assignment, and a one-type fleet (always a
    # feasible assignment) is kept when that makes it cheaper
    for j in range(k):
        if np.all(np.isfinite(load[:, j]) | ~busy):
            alt = _exact(types, [j] * n, finite, price)
            if alt.usd_per_hour < best.usd_per_hour - 1e-12:
                best = alt
    return best


def _exact(types: tuple[str, ...], assign: list[int], load: np.ndarray[Any, Any], price: Any) -> Fleet:
    """The fleet an assignment needs: ceil of each type's summed load devices."""
    counts = tuple(
        math.ceil(float(sum(load[i, j] for i in range(len(assign)) if assign[i] == j)) - 1e-9)
        for j in range(len(types))
    )
    return Fleet(types, counts, tuple(assign), float(np.dot(counts, price)))
