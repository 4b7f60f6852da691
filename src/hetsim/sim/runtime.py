"""The dynamic runtime of H2M2 (h2m2.md §4-§5): decode iterations with a changing batch of
sequences, a footprint tracker, re-mapping at iteration boundaries when the footprint changed,
paged memory with KV pages added as tokens arrive, and migration of the parts whose side
changed. One :class:`IterationRecord` per iteration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hetsim.cost.partition import (
    SUBLAYERS,
    DecodeWork,
    PartitionOptions,
    SplitTables,
    decode_work,
    split_tables,
)
from hetsim.errors import ConfigError
from hetsim.hardware.spec import Device
from hetsim.mapping.registry import Mapping, Policy
from hetsim.memory.paging import PAGE_BYTES, PagedMemory
from hetsim.memory.tlb import TlbModel
from hetsim.sim.asymmetric import IterationCost, evaluate_partitioned, evaluate_single
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


def _place(mem: PagedMemory, work: DecodeWork, m: Mapping, kv_reserve_bytes: float) -> float:
    """Allocate or move every (sublayer, part) tensor to its side and resize the KV parts.
    Shrinks and moves off the fast side go first, so a remap never overflows a side midway.
    Returns the bytes migrated."""
    moved = 0.0
    later: list[tuple[str, float, int]] = []
    for sub, n_fast in zip(work.sublayers, m.splits, strict=True):
        per = sub.footprint_bytes / sub.n_parts
        for p in range(sub.n_parts):
            name, side = f"{sub.name}/{p}", (0 if p < n_fast else 1)
            t = mem.tensors.get(name)
            if t is None:
                reserve = kv_reserve_bytes if sub.name == "attention" else 0.0
                mem.allocate(name, per, [side], reserve_bytes=reserve)
                continue
            if sub.name == "attention" and per < t.nbytes:
                mem.resize(name, per)
            if side == 1 and t.sides != (1,):
                moved += mem.place(name, [1])
            later.append((name, per, side))
    for name, per, side in later:
        t = mem.tensors[name]
        if name.startswith("attention/") and per > t.nbytes:
            mem.resize(name, per)
        if t.sides != (side,):
            moved += mem.place(name, [side])
    return moved


def run_dynamic(
    model: ModelSpec,
    prec: Precision,
    device: Device,
    baseline: Device,
    opts: PartitionOptions,
    policy: Policy,
    trace: Trace,
    *,
    static: bool = False,
    tlb: TlbModel | None = None,
    charge_migration: bool = True,
    on_tables: Callable[[SplitTables], None] | None = None,
) -> tuple[list[IterationRecord], list[IterationCost]]:
    """Run ``trace`` under ``policy``; ``static`` maps once, sized for every sequence at the
    trace's maximum length. Returns the records and the baseline system's iteration costs."""
    B = trace.lengths.shape[1]
    tracker = FootprintTracker()
    link = device.side_link
    mig_bw = min(device.sides[1].memory.bandwidth_bytes_per_s,
                 link.bandwidth_bytes_per_s if link else np.inf)  # fmt: skip
    fixed: Mapping | None = None
    worst = decode_work(model, prec, B, B * trace.max_len)
    kv_reserve = worst.sub("attention").footprint_bytes / worst.sub("attention").n_parts
    if static:
        fixed = policy(split_tables(worst, device, prec, opts, page_bytes=PAGE_BYTES))
    mem: PagedMemory | None = None
    mapping: Mapping | None = None
    records: list[IterationRecord] = []
    base_costs: list[IterationCost] = []
    for i, ctx in enumerate(trace.context_tokens):
        work = decode_work(model, prec, B, float(ctx))
        tables = split_tables(work, device, prec, opts, page_bytes=PAGE_BYTES)
        if on_tables is not None:
            on_tables(tables)
        remap = tracker.changed(int(ctx)) and fixed is None
        new = fixed if fixed is not None else (policy(tables) if remap or mapping is None else mapping)
        if mem is None:
            mem = PagedMemory([s.memory.capacity_bytes for s in device.sides])
        moved = _place(mem, work, new, kv_reserve)
        mapping = new
        cost = evaluate_partitioned(tables, new, device, tlb)
        mig_s = moved / mig_bw if charge_migration else 0.0
        records.append(IterationRecord(
            i, int(ctx), new.as_dict(), remap, cost.time_s + mig_s, cost.energy_j,
            cost.memory_energy_j, moved, mig_s, (mem.used_bytes(0), mem.used_bytes(1)),
        ))  # fmt: skip
        base_costs.append(evaluate_single(work, baseline, prec, opts))
    return records, base_costs


__all__ = ["SUBLAYERS", "FootprintTracker", "IterationRecord", "Trace", "random_trace", "run_dynamic"]
