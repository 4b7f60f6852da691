"""The dynamic runtime of H2M2 (h2m2.md §4-§5): decode iterations with a changing batch of
sequences, a footprint tracker, re-mapping at iteration boundaries when the footprint changed,
paged memory with KV pages added as tokens arrive, and migration of the parts whose side
changed (priced by :func:`hetsim.placement.migration.transfer_s`, the formula every run uses).
One :class:`IterationRecord` per iteration.

Each iteration is the op graph's decode step placed by a registered placement policy
(:mod:`hetsim.placement`) and priced on the shared placement path (:mod:`hetsim.sim.iteration`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hetsim.cost.knobs import PricingKnobs
from hetsim.errors import ConfigError
from hetsim.hardware.spec import Device
from hetsim.memory.paging import PAGE_BYTES, PagedMemory
from hetsim.memory.tlb import TlbModel
from hetsim.placement.migration import transfer_s
from hetsim.placement.policies import get_policy
from hetsim.placement.record import Placement
from hetsim.sim.iteration import DecodeStep, IterationCost, decode_step, iteration, single
from hetsim.workload.dtypes import Precision
from hetsim.workload.model import ModelSpec

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Trace:
    """Sequence lengths of every slot of the batch at every iteration, shape (iterations, B)."""

    lengths: IntArray
    max_len: int  # the longest a sequence can get (static planners size for it)

    @property
    def context_tokens(self) -> IntArray:
        out: IntArray = self.lengths.sum(axis=1)
        return out


def random_trace(
    batch: int, iterations: int, min_len: int, max_len: int, finish_prob: float, seed: int
) -> Trace:
    """Requests start with a prompt of U[min_len, max_len] tokens, grow one token per
    iteration, and finish with probability ``finish_prob`` per iteration; a finished request
    is replaced at once by a new one. Seeded, so every policy sees the same trace."""
    if batch < 1 or iterations < 1 or not 0 < min_len <= max_len or not 0 <= finish_prob <= 1:
        raise ConfigError("trace: batch, iterations, lengths and finish probability out of range")
    rng = np.random.default_rng(seed)
    cur = rng.integers(min_len, max_len + 1, size=batch)
    rows = []
    for _ in range(iterations):
        rows.append(cur.copy())
        done = rng.random(batch) < finish_prob
        fresh = rng.integers(min_len, max_len + 1, size=batch)
        cur = np.where(done, fresh, cur + 1)
    return Trace(np.array(rows, dtype=np.int64), max_len + iterations)


@dataclass(frozen=True, slots=True)
class IterationRecord:
    index: int
    context_tokens: int
    mapping: dict[str, int]
    remapped: bool
    time_s: float  # iteration + migration
    energy_j: float
    memory_energy_j: float
    migrated_bytes: float
    migration_s: float
    used_bytes: tuple[float, float]  # physical pages in use per side


class FootprintTracker:
    """Host-side record of the batch's KV footprint; says when it changed."""

    def __init__(self) -> None:
        self._last: int | None = None

    def changed(self, context_tokens: int) -> bool:
        out = context_tokens != self._last
        self._last = context_tokens
        return out


SUBLAYERS = ("attention", "qkv", "fc")


def parts_on_primary(st: DecodeStep, pl: Placement) -> dict[str, int]:
    """Parts of each split group held on the primary (fast) side under ``pl``."""
    out = {}
    for g in SUBLAYERS:
        n = st.problem.parts[g]
        out[g] = round(float(np.max(pl.groups[g].shares[0])) * n)
    return out


def _place(
    mem: PagedMemory, st: DecodeStep, splits: dict[str, int], kv_reserve_bytes: float
) -> dict[tuple[int, int], float]:
    """Allocate or move every (group, part) tensor to its side and resize the KV parts.
    Shrinks and moves off the fast side go first, so a remap never overflows a side midway.
    Returns the bytes migrated per (from side, to side)."""
    moved: dict[tuple[int, int], float] = {}

    def move(name: str, side: int) -> None:
        src = mem.tensors[name].sides[0]
        nbytes = mem.place(name, [side])
        if nbytes > 0:
            moved[(src, side)] = moved.get((src, side), 0.0) + nbytes

    later: list[tuple[str, float, int]] = []
    raw = _raw_per_part(st)
    for sub in SUBLAYERS:
        n_fast, n_parts, per = splits[sub], st.problem.parts[sub], raw[sub]
        for p in range(n_parts):
            name, side = f"{sub}/{p}", (0 if p < n_fast else 1)
            t = mem.tensors.get(name)
            if t is None:
                reserve = kv_reserve_bytes if sub == "attention" else 0.0
                mem.allocate(name, per, [side], reserve_bytes=reserve)
                continue
            if sub == "attention" and per < t.nbytes:
                mem.resize(name, per)
            if side == 1 and t.sides != (1,):
                move(name, 1)
            later.append((name, per, side))
    for name, per, side in later:
        t = mem.tensors[name]
        if name.startswith("attention/") and per > t.nbytes:
            mem.resize(name, per)
        if t.sides != (side,):
            move(name, side)
    return moved


def _raw_per_part(st: DecodeStep) -> dict[str, float]:
    """Bytes of one part of each group (not rounded to pages: the allocator rounds)."""
    out = {}
    for g in SUBLAYERS:
        mine = [o for o in st.ops if o.sublayer == g]
        total = sum(float(o.kv_read_bytes if g == "attention" else o.weight_bytes) * o.count for o in mine)
        out[g] = total / st.problem.parts[g]
    return out


def run_dynamic(
    model: ModelSpec,
    prec: Precision,
    device: Device,
    baseline: Device,
    knobs: PricingKnobs,
    policy: str,
    trace: Trace,
    *,
    static: bool = False,
    tlb: TlbModel | None = None,
    charge_migration: bool = True,
    oracle_candidates: tuple[str, ...] | None = None,
    memo: dict[int, tuple[DecodeStep, IterationCost]] | None = None,
) -> tuple[list[IterationRecord], list[IterationCost]]:
    """Run ``trace`` under the placement policy ``policy``; ``static`` maps once, sized for
    every sequence at the trace's maximum length. Returns the records and the baseline
    system's iteration costs. ``memo`` (context -> step and baseline cost) lets several
    policies run on one trace share the steps (and the group tables their searches price)."""
    B = trace.lengths.shape[1]
    fn = get_policy(policy)
    tracker = FootprintTracker()
    fixed: Placement | None = None
    worst = decode_step(
        model,
        prec,
        device,
        B,
        B * trace.max_len,
        page_bytes=PAGE_BYTES,
        knobs=knobs,
        oracle_candidates=oracle_candidates,
    )
    kv_reserve = _raw_per_part(worst)["attention"]
    if static:
        fixed = fn(worst.problem).placement
    mem: PagedMemory | None = None
    placement: Placement | None = None
    records: list[IterationRecord] = []
    base_costs: list[IterationCost] = []
    memo = {} if memo is None else memo
    for i, ctx in enumerate(trace.context_tokens):
        if int(ctx) not in memo:
            st = decode_step(model, prec, device, B, float(ctx), page_bytes=PAGE_BYTES, knobs=knobs,
                             oracle_candidates=oracle_candidates)  # fmt: skip
            b_step = decode_step(model, prec, baseline, B, float(ctx), knobs=knobs)
            memo[int(ctx)] = (st, single(b_step, knobs=knobs))
        st, base = memo[int(ctx)]
        remap = tracker.changed(int(ctx)) and fixed is None
        if fixed is not None:
            new = fixed
        elif remap or placement is None:
            new = fn(st.problem).placement
        else:
            new = placement
        if mem is None:
            mem = PagedMemory([s.memory.capacity_bytes for s in device.sides])
        splits = parts_on_primary(st, new)
        moves = _place(mem, st, splits, kv_reserve)
        moved = sum(moves.values())
        placement = new
        cost = iteration(st, new, knobs=knobs, tlb=tlb)
        # the pages that changed side, each move priced by the one migration formula
        mig_s = sum(float(transfer_s(device, a, b, x)) for (a, b), x in moves.items())
        mig_s = mig_s if charge_migration else 0.0
        records.append(IterationRecord(
            i, int(ctx), splits, remap, cost.time_s + mig_s, cost.energy_j,
            cost.memory_energy_j, moved, mig_s, (mem.used_bytes(0), mem.used_bytes(1)),
        ))  # fmt: skip
        base_costs.append(base)
    return records, base_costs


__all__ = ["SUBLAYERS", "FootprintTracker", "IterationRecord", "Trace", "parts_on_primary", "random_trace",
           "run_dynamic"]  # fmt: skip
