"""Serving on multi-tier systems: the placement follows the KV footprint as requests come and go.

A placement policy (:mod:`hetsim.placement`) maps the resident bytes (weights by group, the KV
cache of every request in the engine, the workspace) to shares per memory side. In serving the
KV footprint changes at every admission and completion, so the iteration cost depends on it.
The footprint range [0, KV capacity] is cut into *levels*: the policy's own spill thresholds
plus evenly spaced points past the first one. Each level gets its iteration-cost tables
(:func:`hetsim.serving.pricing.build_pricer` with the placed op pricer), priced for the
placement at the level's upper end (the most-spilled placement the level can need).

*Dynamic* mapping re-decides the placement whenever the footprint moves to another level and
charges the migration: with the bytes resident now, whatever the new shares take off a side
moves to the sides that gain, priced by the one migration formula of every run
(:func:`hetsim.placement.migration.migrate`). *Static* mapping decides once, for the
largest footprint the KV capacity allows (what a FlexGen-style offline LP plans for), and never
moves anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from hetsim.cost.roofline import Cost
from hetsim.errors import CapacityError, MappingError
from hetsim.hardware.spec import Device
from hetsim.placement.choose import auto_candidates, choose_auto
from hetsim.placement.migration import held, migrate
from hetsim.placement.phase import price_phase
from hetsim.placement.policies import PolicyFn, get_policy
from hetsim.placement.record import Placement
from hetsim.serving.metrics import ServingResult
from hetsim.serving.pricing import IterationPricer, OpPricer
from hetsim.sim.placed import problem
from hetsim.workload.dtypes import Precision
from hetsim.workload.ops import Op

EXTRA_LEVELS = 4  # evenly spaced levels between the first spill threshold and the capacity


def placed_pricer(dev: Device, prec: Precision, pl: Placement, tp: int) -> OpPricer:
    """Ops priced under placement ``pl`` (data on its sides, compute where it says) by the
    phase pricer every run uses, under the device's execution model."""

    def run(ops: list[Op]) -> list[Cost]:
        return [c.cost for c in price_phase(ops, dev, prec, pl, tp=tp, detail=False).costs]

    return run


@dataclass(frozen=True, slots=True)
class Levelled:
    """Iteration-cost tables per KV-footprint level (bytes per device, ascending)."""

    policy: str
    dynamic: bool
    level_bytes: tuple[float, ...]  # upper end of each level
    placements: tuple[Placement, ...]
    pricers: tuple[IterationPricer, ...]
    weights: dict[str, float]
    device: Device

    def level_of(self, kv_bytes: float) -> int:
        """The first level whose upper end exceeds ``kv_bytes`` (the last one otherwise)."""
        for j, hi in enumerate(self.level_bytes):
            if kv_bytes < hi:
                return j
        return len(self.level_bytes) - 1

    def migration(self, old: int, new: int, kv_bytes: float) -> tuple[float, float]:
        """(bytes moved, seconds) to go from level ``old``'s placement to ``new``'s with
        ``kv_bytes`` of KV cache (and the weights) resident (:func:`migrate`)."""
        if old == new:
            return 0.0, 0.0
        resident = {**self.weights, "attention": kv_bytes}
        before = held(resident, self.placements[old])
        m = migrate(self.device, before, held(resident, self.placements[new]))
        return float(np.max(m.moved_bytes)), float(np.max(m.seconds))


def levels_for(
    fn: PolicyFn, dev: Device, weights: dict[str, float], workspace: float, kv_cap: float
) -> list[float]:
    """Upper ends of the footprint levels: the policy's spill thresholds and evenly spaced
    points from the first threshold to ``kv_cap``."""
    res = fn(problem(dev, weights, kv_cap, workspace, "decode", kv_cap))
    thr = sorted({float(np.max(t)) for t in res.thresholds_bytes if 0 < float(np.max(t)) < kv_cap})
    if not thr:
        return [kv_cap]
    extra = np.linspace(thr[0], kv_cap, EXTRA_LEVELS + 2)[1:]
    return sorted({*thr, *(float(x) for x in extra)})


LEVEL_FRACTIONS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 3 / 8, 1 / 2, 3 / 4, 1.0)  # of KV capacity


def build_levelled(
    policy: str | tuple[str, PolicyFn],
    dev: Device,
    prec: Precision,
    weights: dict[str, float],
    workspace: float,
    kv_cap: float,
    *,
    tp: int,
    dynamic: bool,
    make: object,
) -> Levelled:
    """Tables per level; ``make(op_pricer)`` builds one :class:`IterationPricer`. ``policy``: a
    registered name, or (name, fn) for a policy without spill thresholds of its own (its levels
    are fixed fractions of the KV capacity)."""
    if isinstance(policy, str):
        fn = get_policy(policy)
        ends = levels_for(fn, dev, weights, workspace, kv_cap) if dynamic else [kv_cap]
    else:
        policy, fn = policy
        ends = [kv_cap * f for f in LEVEL_FRACTIONS] if dynamic else [kv_cap]
    placements, pricers = [], []
    for hi in ends:
        pl = fn(problem(dev, weights, hi, workspace, "decode", kv_cap)).placement
        placements.append(pl)
        pricers.append(make(placed_pricer(dev, prec, pl, tp)))  # type: ignore[operator]
    return Levelled(policy, dynamic, tuple(ends), tuple(placements), tuple(pricers), weights, dev)


def serve_auto(dev: Device, serve: Callable[[str], ServingResult]) -> ServingResult:
    """``auto`` for a serving run (:func:`hetsim.placement.choose.choose_auto`, the choice of
    every command): ``serve(policy)`` runs each candidate on the requests; one whose engine
    cannot hold every request does not fit (its CapacityError); the lowest mean request
    latency of the others wins, and its result notes why."""
    names, results, times = [], [], []
    first_error: CapacityError | None = None
    for name in auto_candidates(dev):
        try:
            r = serve(name)
        except CapacityError as exc:
            first_error = first_error or exc
            continue
        except MappingError:
            continue
        names.append(name)
        results.append(r)
        times.append(r.e2e_latency_s.mean if np.isfinite(r.e2e_latency_s.mean) else np.inf)
    if not results:
        raise first_error or CapacityError(f"no placement policy of auto applies to {dev.name}")
    k = int(choose_auto(np.array(times)[:, None], np.ones((len(times), 1), dtype=bool))[0])
    others = ", ".join(f"{n} {t:.3g} s" for i, (n, t) in enumerate(zip(names, times, strict=True)) if i != k)
    why = f"placement auto: {names[k]}, the fastest mean request latency ({times[k]:.3g} s"
    note = why + (f"; {others})" if others else ")")
    return replace(results[k], notes=[*results[k].notes, note])
