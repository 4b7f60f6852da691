"""The re-maps of a placed run and their migration, in closed form, per configuration.

- Step 0: the prefill's placement (KV of ``input_len`` tokens) becomes the decode's at its
  first context, when the policy places the phases differently (each phase's weights split as
  planned on its own kernels: the bytes that change side move over the route, once).
- Then, in a dynamic run, at each of the policy's KV thresholds (the KV bytes at which the
  sides holding a group change): the first decode context whose KV exceeds it, where the
  placement one token before and at that context differ (steps 1 .. G-1, context P + step).

Each re-map's bytes and seconds come from the one migration formula
(:func:`hetsim.placement.migration.migrate`). Everything is an array over the run's
configurations, so a point's migration is the same alone or in any sweep; a run of one
configuration also gets a :class:`~hetsim.sim.placed.Remap` record per re-map.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hetsim.placement.migration import Migration, held, migrate
from hetsim.placement.record import Placement
from hetsim.workload.ops import FloatArray, Num

if TYPE_CHECKING:
    from hetsim.sim.placed import PricedPhase, Pricer, Remap


def _first_context(x: Num) -> Num:
    """The value at the decode's first sampled context (arrays of shape (K, N) -> (N,))."""
    return np.asarray(x)[0] if np.ndim(x) == 2 else x


def _at_first(pl: Placement) -> dict[str, tuple[Num, ...]]:
    return {g: tuple(_first_context(x) for x in gp.shares) for g, gp in pl.groups.items()}


def _gained(dev_names: list[str], before: Placement, after: Placement) -> str:
    """What the re-map of one configuration put where nothing of it was before."""
    out = ""
    for g, gp in after.groups.items():
        old = before.groups[g]
        for s, name in enumerate(dev_names):
            if float(np.max(gp.shares[s])) > 1e-12 and float(np.max(old.shares[s])) <= 1e-12:
                what = "KV cache" if g == "attention" else f"{g} weights"
                out = f"{what} now also on {name}"
    return out


def _idle_s(pre: PricedPhase, n: int) -> FloatArray:
    """Seconds of the prefill in which its busiest memory or link is idle, per configuration
    (each op's time less its busiest memory's or link's, summed in the ops' order)."""
    out: FloatArray = np.zeros(n)
    for c in pre.costs:
        t = np.asarray(c.cost.time_s, dtype=float) - np.asarray(c.cost.memory_s, dtype=float)
        out = out + np.broadcast_to(np.maximum(t, 0.0), (n,))
    return out


def _resplit(primary: str, before: Placement, after: Placement) -> str:
    """The weights' re-split of one configuration at the decode's start (each phase has its own)."""
    a, b = (float(np.max(pl.groups["fc"].shares[0])) for pl in (before, after))
    if abs(a - b) <= 1e-12:
        return ""
    return f"weights re-split for the decode: {100 * a:.1f}% -> {100 * b:.1f}% on {primary}"


def remaps(pricer: Pricer, pre: PricedPhase, dec: PricedPhase) -> tuple[Migration, tuple[Remap, ...]]:
    """The run's migration (bytes and seconds per configuration, shape (N,)) and, for a run
    of one configuration, its re-map records."""
    from hetsim.sim.placed import Remap

    dev, n = pricer.dev, pricer.n
    if len(dev.sides) == 1:  # nothing can move
        return Migration(np.zeros(n), np.zeros(n)), ()
    B, P, G = pricer.B, pricer.P, pricer.G
    decodes = G >= 2  # no decode step, nothing re-placed
    names = [s.name for s in dev.sides]
    records: list[Remap] = []
    resident = {g: _first_context(r) for g, r in dec.problem.resident.items()}
    after = {
        g: tuple(resident.get(g, 0.0) * x for x in shares) for g, shares in _at_first(dec.placement).items()
    }
    m0 = migrate(dev, held(pre.problem.resident, pre.placement), after)
    moved: FloatArray = np.where(decodes, np.broadcast_to(m0.moved_bytes, (n,)), 0.0)
    whole: FloatArray = np.where(decodes, np.broadcast_to(m0.seconds, (n,)), 0.0)
    # the moves run while the prefill leaves its busiest memory and link idle (a compute-bound
    # prefill: each layer's bytes move once its prefill has read them); the rest is paid at
    # the decode's start
    secs: FloatArray = np.maximum(whole - _idle_s(pre, n), 0.0)
    if n == 1 and bool(decodes[0]) and float(moved[0]) > 0:
        what = _resplit(names[0], pre.placement, dec.placement)
        what = what or _gained(names, pre.placement, dec.placement) or "re-placed for the decode"
        if float(secs[0]) < float(whole[0]):
            hid, took = 1e3 * float(whole[0] - secs[0]), 1e3 * float(whole[0])
            what += f" (the move takes {took:.3g} ms, {hid:.3g} ms of it under the prefill)"
        records.append(Remap(0, int(P[0]), what, float(moved[0]), float(secs[0])))
    if not pricer.dynamic:
        return Migration(moved, secs), tuple(records)
    per_ctx = B * pricer.kvpt  # KV bytes per token of context, per configuration
    seen: list[FloatArray] = []
    for thr in dec.thresholds_bytes:
        t = np.broadcast_to(np.asarray(thr, dtype=float).reshape(-1), (n,))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            c = np.floor(t / per_ctx) + 1  # first context whose KV exceeds the threshold
        ok = decodes & np.isfinite(c) & (P + 1 < c) & (c <= P + G - 1)
        for prev in seen:  # a threshold repeated gives one re-map
            ok &= c != prev
        if not np.any(ok):
            continue
        seen.append(np.where(ok, c, -1.0))
        ctx = np.where(ok, c, P + 1)
        (b_res, pb), (a_res, pa) = pricer.place(ctx - 1, "decode"), pricer.place(ctx, "decode")
        m = migrate(dev, held(pb.resident, b_res.placement), held(pa.resident, a_res.placement))
        mb = np.where(ok, np.broadcast_to(m.moved_bytes, (n,)), 0.0)
        ms = np.where(ok, np.broadcast_to(m.seconds, (n,)), 0.0)
        moved, secs = moved + mb, secs + ms
        if n == 1 and bool(ok[0]):
            full = f"{names[0]} full: new KV goes to the other sides"
            what = _gained(names, b_res.placement, a_res.placement) or full
            records.append(Remap(int(ctx[0] - P[0]), int(ctx[0]), what, float(mb[0]), float(ms[0])))
    records.sort(key=lambda r: r.step)
    return Migration(moved, secs), tuple(records)
