"""The dynamic decode of the search policies (``h2m2``, the priority variants, ``naive-sublayer``,
``oracle``): they are searched again where the KV cache outgrows the placement they chose.

A search prices candidates through the op graph, so it is not a closed-form fill that
broadcasts over every decode context. Instead the decode is placed in segments, found in
closed form:

1. search at the first decode context (capacity checked for the KV there), over the
   decode's priced steps;
2. the context at which that placement first holds more than a side's capacity follows from
   its KV shares (a side's usage is linear in the context): ``floor((capacity - fixed) /
   (share x KV bytes per token)) + 1``;
3. if that is within the run, search again for the KV at the full length (so the second
   placement fits to the end); the steps before the re-map are priced under the first
   placement, the rest under the second, and the re-map is charged like the fills' (bytes that
   must leave a side, at the stream bandwidth), with a record;
4. the runtime keeps that plan only where it pays: its decode seconds (steps, the re-map from
   the prefill's placement, its own re-map) against the placement searched for the full length
   held throughout (what ``--static-placement`` places) — the greedy searches are not
   monotone in the room they get, so the first context's choice can be the worse one.

So a search places the decode at most twice. The prefill is searched for the prompt's KV and
for the full length, and the faster kept (:func:`search_prefill`)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hetsim.placement.policies import Problem, usage_bytes
from hetsim.placement.price import PlacedCost, price_op
from hetsim.placement.record import GroupPlacement, Placement
from hetsim.workload.ops import FloatArray, Num, Op

if TYPE_CHECKING:
    from hetsim.sim.placed import Pricer


@dataclass(frozen=True, slots=True)
class Segment:
    """A search policy's re-placement in the decode: ``after`` from ``context`` on."""

    context: int  # tokens per sequence at the first step placed by ``after``
    before: Placement
    after: Placement
    change: str


def overflow_context(p: Problem, pl: Placement, kv_per_token_bytes: float) -> tuple[float, int]:
    """The most tokens per sequence (real-valued) that ``pl`` holds within every side's
    capacity, the KV cache growing by ``kv_per_token_bytes`` per token (inf: no limit), and
    the side that limits it."""
    fixed = usage_bytes(dataclasses.replace(p, resident={**p.resident, "attention": 0.0}), pl)
    kv = pl.groups["attention"].shares
    out, side = math.inf, 0
    for s, f in enumerate(fixed):
        grow = float(np.max(kv[s])) * kv_per_token_bytes
        if grow > 0:
            room = p.capacity(s) * (1 + 1e-12) - float(np.max(f))
            c = room / grow
            if c < out:
                out, side = c, s
    return out, side


def _select(early: Any, a: PlacedCost, b: PlacedCost) -> PlacedCost:
    """``a`` where ``early`` (the contexts before the re-map), else ``b``, field by field."""

    def pick(x: Num, y: Num) -> Num:
        out: Num = np.where(early, x, y)
        return out

    links = {
        k: pick(a.link_bytes.get(k, 0.0), b.link_bytes.get(k, 0.0)) for k in {*a.link_bytes, *b.link_bytes}
    }
    return PlacedCost(
        type(a.cost)(*(pick(getattr(a.cost, f), getattr(b.cost, f)) for f in a.cost.__dataclass_fields__)),
        tuple(pick(x, y) for x, y in zip(a.side_bytes, b.side_bytes, strict=True)),
        tuple(pick(x, y) for x, y in zip(a.side_busy_s, b.side_busy_s, strict=True)),
        tuple(pick(x, y) for x, y in zip(a.side_energy_j, b.side_energy_j, strict=True)),
        links,
        tuple(sorted({*a.compute_sides, *b.compute_sides})),
        tuple(sorted({*a.data_sides, *b.data_sides})),
    )


def _piecewise(early: Any, a: Placement, b: Placement) -> Placement:
    """One placement whose shares follow ``a`` before the re-map and ``b`` after (what the
    tables show: the mean over the steps); ``b`` where the two compute on different sides."""
    if any(a.groups[g].compute != b.groups[g].compute for g in b.groups):
        return b
    groups = {
        g: GroupPlacement(
            tuple(np.where(early, x, y) for x, y in zip(a.groups[g].shares, gp.shares, strict=True)),
            gp.compute,
        )
        for g, gp in b.groups.items()
    }
    return dataclasses.replace(b, groups=groups)


def search_prefill(
    pricer: Pricer, ops: list[Op], pl: Placement, costs: list[PlacedCost]
) -> tuple[Placement, list[PlacedCost]]:
    """The prefill's placement under a search policy: the one searched with the KV at the
    prompt's length (``pl``, priced as ``costs``), or the one searched for the full length (what
    a static run places) where that prefills faster: the greedy searches are not monotone in
    the room they get (hbm-pim fc-first llama2-13b B=47 1978+442: TTFT 25.2 s against 18.5 s)."""
    alt = pricer.place(pricer.P + pricer.G, "prefill", ops)[0].placement
    alt_costs = [price_op(op, pricer.dev, pricer.prec, alt, pricer.tp, pricer.overlap,
                          overlap_transfers=pricer.overlap_transfers) for op in ops]  # fmt: skip

    def total(cs: list[PlacedCost]) -> float:
        return sum(float(np.max(c.cost.time_s)) for c in cs)

    return (alt, alt_costs) if total(alt_costs) < total(costs) else (pl, costs)


def search_decode(
    pricer: Pricer, ops: list[Op], ctx: FloatArray
) -> tuple[Placement, list[PlacedCost], tuple[Num, ...], dict[str, Num], Placement]:
    """The decode of one configuration under a search policy, placed in segments (module
    docstring): (placement shown, costs per op over ``ctx`` (1, K), usage per side, resident
    bytes by side and role, the placement held at the full length). Records the re-map
    segment on ``pricer``."""
    from hetsim.sim.placed import roles  # the pricer's module imports this one

    first, last = float(np.min(ctx)), float(pricer.P.reshape(-1)[0] + pricer.G.reshape(-1)[0])
    res0, p0 = pricer.place(np.full((1, 1), first), "decode", ops)
    pi0 = res0.placement
    pricer._dec_first = (pi0, pricer.problem_at(first, "decode"))
    p_all = pricer.problem_at(ctx, "decode")

    def costs_of(pl: Placement) -> list[PlacedCost]:
        return [price_op(op, pricer.dev, pricer.prec, pl, pricer.tp, pricer.overlap,
                         overlap_transfers=pricer.overlap_transfers) for op in ops]  # fmt: skip

    per_token = float(pricer.B.reshape(-1)[0]) * pricer.kvpt
    fit, over = overflow_context(p0, pi0, per_token)
    steps = max(float(pricer.G.reshape(-1)[0]) - 1.0, 0.0)
    weights = np.full(ctx.shape[-1], 1.0 / max(ctx.shape[-1] - 1, 1))
    weights[[0, -1]] /= 2  # trapezoid mean over the sampled steps, as the simulator's

    def cost_s(costs: list[PlacedCost], start: Placement, *moves: float) -> float:
        """Decode seconds of a plan: its steps, the re-map from the prefill, its own re-maps."""
        step = np.broadcast_to(np.asarray(sum(c.cost.time_s for c in costs), dtype=float), ctx.shape)
        pre = getattr(pricer, "_pre_problem", None)
        first_move = 0.0
        if pricer.run.prefill is not None and pre is not None:
            first_move = pricer._moved((pricer.run.prefill, pre), (start, p_first))[1]
        return float(steps * (step @ weights).reshape(-1)[0]) + first_move + sum(moves)

    p_first = pricer.problem_at(first, "decode")
    pi_full = pricer.place(np.full((1, 1), last), "decode", ops)[0].placement
    costs_full = costs_of(pi_full)
    plans = [(cost_s(costs_full, pi_full), "full")]
    pricer.segments = []
    if fit >= last:  # the first context's placement holds to the end
        costs0 = costs_of(pi0)
        plans.append((cost_s(costs0, pi0), "first"))
    else:
        c1 = math.floor(fit) + 1  # the first whole context that does not fit
        early = ctx <= fit
        costs_seg = [_select(early, a, b) for a, b in zip(costs_of(pi0), costs_full, strict=True)]
        p_before, p_after = pricer.problem_at(float(c1 - 1), "decode"), pricer.problem_at(float(c1), "decode")
        move = pricer._moved((pi0, p_before), (pi_full, p_after))[1]
        plans.append((cost_s(costs_seg, pi0, move), "segments"))
    # the runtime re-maps only where that pays: a search placed for the first context can be
    # worse over the run than one placed for the full length (the greedy is not monotone in room)
    _, pick = min(plans)
    if pick == "full":
        pricer._dec_first = (pi_full, p_first)
        return pi_full, costs_full, usage_bytes(p_all, pi_full), roles(p_all, pi_full), pi_full
    if pick == "first":
        return pi0, costs0, usage_bytes(p_all, pi0), roles(p_all, pi0), pi0
    full = pricer.dev.sides[over].name
    pricer.segments = [Segment(c1, pi0, pi_full, f"re-placed as the KV cache grew ({full} would overflow)")]
    u0, u1 = usage_bytes(p_all, pi0), usage_bytes(p_all, pi_full)
    usage: tuple[Num, ...] = tuple(np.where(early, a, b) for a, b in zip(u0, u1, strict=True))
    r0, r1 = roles(p_all, pi0), roles(p_all, pi_full)
    role: dict[str, Num] = {k: np.where(early, r0[k], r1[k]) for k in r1}
    return _piecewise(early, pi0, pi_full), costs_seg, usage, role, pi_full
