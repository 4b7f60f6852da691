"""One decode iteration on the shared placement path: the op graph of the decoder layers,
the placement problem it poses (resident bytes per group, rounded to pages), and its price
under a placement (:func:`hetsim.placement.phase.price_phase`), with the H2M2 study's
reference systems — one memory pool, a tensor-parallel group, and the fast memory run as a
cache in front of the capacity memory.

Every time here comes from :func:`hetsim.placement.price.price_op` on the op graph; the
pricing knobs (:class:`~hetsim.cost.knobs.PricingKnobs`) and the TLB model are the caller's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from hetsim.cost.knobs import DEFAULT_KNOBS, PricingKnobs
from hetsim.errors import ConfigError
from hetsim.hardware.spec import Device
from hetsim.memory.tlb import TlbModel
from hetsim.placement.group_memo import GroupMemo
from hetsim.placement.phase import SYNC_GROUPS, PhaseCost, group_busy, per_candidate, price_phase
from hetsim.placement.policies import Problem, usage_bytes
from hetsim.placement.price import price_op
from hetsim.placement.record import GroupPlacement, Placement, group_of
from hetsim.workload.dtypes import Precision
from hetsim.workload.graph import build_ops
from hetsim.workload.model import ModelSpec
from hetsim.workload.ops import Num, Op

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class IterationCost:
    """One decode iteration (all decoder layers). Bytes are moved bytes, per side."""

    time_s: float
    energy_j: float  # dynamic: compute + memory access + link (no static power)
    memory_energy_j: float  # memory access + link only (per-bit), no static term
    side_bytes: tuple[float, ...]  # bytes read/written per memory side (per device)
    link_bytes: float
    resident_bytes: tuple[float, ...]  # footprint held per side
    sublayer_s: dict[str, float]
    abstraction_s: float = 0.0  # exposed TLB time included in time_s


@dataclass(frozen=True, slots=True)
class DecodeStep:
    """The decode ops of ``batch`` sequences holding ``context_tokens`` tokens in all (so a
    batch of unequal lengths prices like its mean length), and their placement problem."""

    ops: tuple[Op, ...]
    problem: Problem
    prec: Precision
    batch: float
    context_tokens: float
    tp: int = 1
    footprint_bytes: float = 0.0  # weights + KV of the decoder layers (one copy) + the workspace
    # the groups priced for this step (its search's tables, its policies' iterations)
    memo: GroupMemo = field(default_factory=GroupMemo, compare=False, repr=False)


def decode_step(
    model: ModelSpec,
    prec: Precision,
    dev: Device,
    batch: float,
    context_tokens: float,
    *,
    tp: int = 1,
    page_bytes: float = 0.0,
    knobs: PricingKnobs = DEFAULT_KNOBS,
    oracle_candidates: tuple[str, ...] | None = None,
) -> DecodeStep:
    """The decoder layers' decode ops (no embeddings or LM head) and their problem on ``dev``:
    resident bytes of qkv and fc weights and of the KV cache (each part rounded up to whole
    ``page_bytes`` pages where given), the duplicated activation workspace, the parts each
    group splits into, and the phase time (and per-group times) of a candidate placement.
    ``oracle_candidates``: the closed-form policies the oracle weighs beside its split search
    (None: all of them)."""
    if batch <= 0 or context_tokens <= 0:
        raise ConfigError("batch and context must be positive")
    ops = tuple(build_ops(model, prec, phase="decode", batch=batch, q_len=1.0, context=context_tokens / batch,
                          tp=tp, include_embeddings=False))  # fmt: skip
    resident: dict[str, Num] = {"head": 0.0}
    parts: dict[str, int] = {}
    raw = 0.0
    for g in SYNC_GROUPS:
        mine = [o for o in ops if o.sublayer == g]
        total = sum(float(o.kv_read_bytes if g == "attention" else o.weight_bytes) * o.count for o in mine)
        raw += total
        n = mine[0].n_parts
        per = total / n
        if page_bytes > 0:
            per = float(np.ceil(per / page_bytes)) * page_bytes
        resident[g], parts[g] = per * n, n
    ab = prec.activation.bytes_per_element
    workspace = batch * (model.d_model + model.ffn_matrices * model.d_ff / tp) * ab * 2
    p = Problem(dev, resident, workspace, "decode", parts=parts, oracle_candidates=oracle_candidates)
    step = DecodeStep(ops, p, prec, float(batch), float(context_tokens), tp, raw + workspace)

    # norms, residuals and collectives do not depend on the placement: priced once
    fixed_ops = [o for o in ops if group_of(o) is None]
    placed_ops = [o for o in ops if group_of(o) is not None]
    fixed: list[float] = []

    def placed(pl: Placement) -> PhaseCost:
        return price_phase(placed_ops, dev, prec, pl, tp=tp, knobs=knobs, memo=step.memo)

    def evaluate(pl: Placement) -> FloatArray:
        if not fixed:
            prim = Placement.primary(len(dev.sides))
            fixed.append(_sum(price_phase(fixed_ops, dev, prec, prim, tp=tp, knobs=knobs).time_s))
        return per_candidate(fixed[0] + placed(pl).time_s, pl)

    by_group = {g: [o for o in placed_ops if group_of(o) == g] for g in SYNC_GROUPS}

    def evaluate_groups(pl: Placement) -> Mapping[str, FloatArray]:
        def one(g: str) -> FloatArray:
            ph = price_phase(by_group[g], dev, prec, pl, tp=tp, knobs=knobs, memo=step.memo)
            return per_candidate(ph.group_s.get(g, 0.0), pl)

        return GroupTimes(one)

    return dataclasses.replace(
        step, problem=dataclasses.replace(p, evaluate=evaluate, evaluate_groups=evaluate_groups)
    )


class GroupTimes(Mapping[str, FloatArray]):
    """Each synchronised group's time under one placement, priced when first read: a
    group's time depends on its own ops only (and on the placement), so a search's table of
    one group's splits (:func:`hetsim.placement.search.group_tables`) prices that group and
    not the other two at every split (the qkv group's KV writes follow the attention split,
    so it would be priced over every attention candidate for nothing)."""

    def __init__(self, price: Callable[[str], FloatArray]) -> None:
        self._price = price
        self._done: dict[str, FloatArray] = {}

    def __getitem__(self, g: str) -> FloatArray:
        if g not in SYNC_GROUPS:
            raise KeyError(g)
        hit = self._done.get(g)
        if hit is None:
            hit = self._done[g] = self._price(g)
        return hit

    def __iter__(self) -> Iterator[str]:
        return iter(SYNC_GROUPS)

    def __len__(self) -> int:
        return len(SYNC_GROUPS)


def _sum(x: Num) -> float:
    return float(np.asarray(x, dtype=float))


def _costs(
    step: DecodeStep, dev: Device, ph: PhaseCost, resident: tuple[float, ...], n_dev: int = 1
) -> IterationCost:
    n = len(dev.sides)
    side_b = [0.0] * n
    links: dict[str, float] = {}
    energy = 0.0
    for op, c in zip(step.ops, ph.costs, strict=True):
        energy += _sum(c.cost.energy_j)
        if op.kind == "collective":
            links["interconnect"] = links.get("interconnect", 0.0) + _sum(c.cost.bytes)
            continue
        for s in range(n):
            side_b[s] += _sum(c.side_bytes[s])
        for k, v in c.link_bytes.items():
            links[k] = links.get(k, 0.0) + _sum(v)
    mem_e = sum(b * 8 * dev.sides[s].memory.energy_j_per_bit for s, b in enumerate(side_b))
    for k, v in links.items():
        e = dev.interconnect.energy_j_per_bit if k == "interconnect" and dev.interconnect else _link_e(dev, k)
        mem_e += v * 8 * e
    return IterationCost(
        time_s=_sum(ph.time_s),
        energy_j=n_dev * energy,
        memory_energy_j=n_dev * mem_e,
        side_bytes=tuple(b * n_dev for b in side_b),
        link_bytes=sum(links.values()) * n_dev,
        resident_bytes=tuple(r * n_dev for r in resident),
        sublayer_s={g: _sum(ph.group_s.get(g, 0.0)) for g in SYNC_GROUPS},
        abstraction_s=_sum(ph.abstraction_s),
    )


def _link_e(dev: Device, name: str) -> float:
    return next((sl.link.energy_j_per_bit for sl in dev.side_links() if sl.link.name == name), 0.0)


def iteration(
    step: DecodeStep,
    pl: Placement,
    *,
    knobs: PricingKnobs = DEFAULT_KNOBS,
    tlb: TlbModel | None = None,
    n_devices: int = 1,
) -> IterationCost:
    """One iteration of ``step`` under ``pl`` on its problem's device; with ``tlb`` each side
    pays the translation of what it streams (the paging abstraction of a run-time mapper)."""
    p = step.problem
    dev = p.device
    held = tuple(float(np.max(u)) for u in usage_bytes(p, pl))
    ws = float(np.max(p.workspace_bytes))
    resident = tuple(h - (ws if s == pl.workspace_side else 0.0) for s, h in enumerate(held))
    ph = price_phase(list(step.ops), dev, step.prec, pl, tp=step.tp, knobs=knobs, tlb=tlb,
                     resident_bytes=resident, memo=step.memo)  # fmt: skip
    if n_devices > 1:
        resident = (step.footprint_bytes,)
    return _costs(step, dev, ph, resident, n_devices)


def single(step: DecodeStep, *, knobs: PricingKnobs = DEFAULT_KNOBS) -> IterationCost:
    """Everything on the primary side of each of ``step.tp`` devices (the step built for
    that ``tp``); the all-reduces priced on the interconnect, or ``knobs.allreduce_s`` each."""
    dev = step.problem.device
    pl = Placement.primary(len(dev.sides))
    ph = price_phase(list(step.ops), dev, step.prec, pl, tp=step.tp, knobs=knobs, memo=step.memo)
    return _costs(step, dev, ph, (step.footprint_bytes,), step.tp)


def hit_fraction_strict(footprint_bytes: float, capacity_bytes: float) -> float:
    """A strict cache with a reuse distance of the whole model: all hits when everything
    fits, none otherwise (h2m2.md §6)."""
    return 1.0 if footprint_bytes <= capacity_bytes else 0.0


def hit_fraction_resident(footprint_bytes: float, capacity_bytes: float, resident: float) -> float:
    """A cache that holds everything when the footprint fits (all hits, as the strict cache)
    and otherwise keeps ``resident`` x its capacity of the stream resident across iterations
    (the rest thrashes): hit fraction resident x capacity / footprint."""
    if footprint_bytes <= capacity_bytes:
        return 1.0
    return float(min(1.0, resident * capacity_bytes / max(footprint_bytes, 1.0)))


def cached(
    step: DecodeStep, hit_fraction: float, *, chips: int = 1, knobs: PricingKnobs = DEFAULT_KNOBS
) -> IterationCost:
    """The fast memory (side 0) caches the capacity memory (side 1): every byte a kernel
    reads comes from fast memory, a ``1 - hit_fraction`` share of it staged in first
    (capacity memory -> link -> fast memory). With ``chips=1`` side 0's units compute
    everything, from a memory whose time per byte is max((1 + miss) / bw_fast, miss / bw_in);
    with ``chips=2`` side 1's units compute too, reading their share of each group's parts
    from fast memory over the side link, each group split at its best part count
    (synchronised as a split group). Per group, time = max(each chip's time, fast-memory
    traffic (bytes + staged) / fast bw, staged / capacity bw) + sync. Norms and residuals
    run on side 0."""
    dev = step.problem.device
    if not 0 <= hit_fraction <= 1:
        raise ConfigError("hit fraction must be in [0, 1]")
    if len(dev.sides) < 2 or dev.side_link is None:
        raise ConfigError(f"hardware {dev.name!r}: a hierarchy needs two sides and a link")
    if chips not in (1, 2):
        raise ConfigError("a hierarchy computes on 1 or 2 chips")
    fast, slow = dev.sides[0], dev.sides[1]
    link = dev.side_link
    miss = 1.0 - hit_fraction
    bw_f, bw_s = fast.memory.bandwidth_bytes_per_s, slow.memory.bandwidth_bytes_per_s
    dev = replace(dev, execution=replace(dev.execution, shared_everywhere=False))  # norms on side 0
    e_f = fast.memory.energy_j_per_bit
    shared_ops = [o for o in step.ops if group_of(o) is None and o.kind != "collective"]
    if chips == 1:
        bw_in = min(bw_s, link.bandwidth_bytes_per_s)
        per_byte_s = max((1.0 + miss) / bw_f, miss / bw_in)
        one = replace(
            dev, sides=(replace(fast, memory=replace(fast.memory, bandwidth_bytes_per_s=1.0 / per_byte_s)),)
        )
        ph = price_phase(list(step.ops), one, step.prec, Placement.primary(1), knobs=knobs)
        time = _sum(ph.time_s)
        nbytes = sum(_sum(c.cost.bytes) for c in ph.costs)
        e_compute = sum(_sum(c.cost.energy_j) for c in ph.costs) - 8 * nbytes * e_f
        per = {g: _sum(ph.group_s.get(g, 0.0)) for g in SYNC_GROUPS}
        link_x = 0.0
    else:
        far = replace(fast.memory, bandwidth_bytes_per_s=min(bw_f, link.bandwidth_bytes_per_s))
        via = replace(dev, sides=(fast, replace(slow, memory=far)))
        prim = Placement.primary(2)
        time = nbytes = e_compute = link_x = 0.0
        for op in shared_ops:
            c = price_op(op, dev, step.prec, prim, knobs=knobs)
            time += _sum(c.cost.time_s)
            nbytes += _sum(c.cost.bytes)
            e_compute += _sum(c.cost.energy_j) - 8 * _sum(c.cost.bytes) * e_f
        per = {}
        groups = {g: GroupPlacement.on(2, 0, 0) for g in ("head", *SYNC_GROUPS)}
        for g in SYNC_GROUPS:
            x = np.arange(step.problem.parts[g] + 1, dtype=float) / step.problem.parts[g]
            pl = Placement("hierarchical", {**groups, g: GroupPlacement((x, 1.0 - x), (0, 1))}, n_sides=2)
            gb = group_busy(g, [o for o in step.ops if o.sublayer == g], via, step.prec, pl, knobs=knobs)
            b = np.asarray(gb.side_bytes[0]) + np.asarray(gb.side_bytes[1])
            t = np.maximum.reduce(
                [
                    np.broadcast_to(np.asarray(v, dtype=float), x.shape)
                    for v in (gb.busy_s[0], gb.busy_s[1], b * (1.0 + miss) / bw_f, b * miss / bw_s)
                ]
            )
            t = t + gb.sync_s
            k = int(np.argmin(t))
            per[g] = float(t[k])
            time += float(t[k])
            nbytes += float(b[k])
            xb = sum(
                float(np.broadcast_to(np.asarray(v, dtype=float), x.shape)[k])
                for v in gb.exchange_links.values()
            )
            link_x += float(np.broadcast_to(np.asarray(gb.side_bytes[1], dtype=float), x.shape)[k]) + xb
            for pc in gb.costs:
                e = np.broadcast_to(np.asarray(pc.cost.energy_j, dtype=float), x.shape)[k]
                sb = [
                    float(np.broadcast_to(np.asarray(pc.side_bytes[s], dtype=float), x.shape)[k])
                    for s in (0, 1)
                ]
                e_compute += float(e) - 8 * sb[0] * e_f - 8 * sb[1] * far.energy_j_per_bit
    moved = nbytes * miss
    e_s, e_link = slow.memory.energy_j_per_bit, link.energy_j_per_bit
    mem_e = 8 * (nbytes * e_f + moved * (e_s + e_link + e_f) + link_x * e_link)
    fp = step.footprint_bytes
    return IterationCost(
        time_s=time,
        energy_j=e_compute + mem_e,
        memory_energy_j=mem_e,
        side_bytes=(nbytes + moved, moved),
        link_bytes=moved + link_x,
        resident_bytes=(min(fp, fast.memory.capacity_bytes), fp),
        sublayer_s=per,
    )
