"""Reproduction of H2M2 (arXiv 2504.14893): every policy over the LPDDR-only baseline for
GPT3-175B, Chinchilla-70B and Llama2-70B across sequence lengths, the dynamic-length run,
8xHBM, memory energy per token and the sensitivity study, under one :class:`Reading`.

Speedup = baseline iteration time / system iteration time (h2m2.md §2). The baseline is the
``h2m2-lpddr-only`` preset (both chips sharing one LPDDR5X pool); every other policy runs on
``h2m2``. Dynamic policies (h2m2 and its priority variants) pay the paging abstraction cost;
the oracle and the static placements do not (h2m2.md §5-§6).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from hetsim.cost.knobs import PricingKnobs
from hetsim.errors import HetsimError, MappingError
from hetsim.experiments.h2m2_knobs import Reading
from hetsim.hardware.loader import get_hardware
from hetsim.hardware.provenance import Provenance
from hetsim.hardware.spec import Device
from hetsim.memory.paging import PAGE_BYTES
from hetsim.memory.tlb import TlbModel
from hetsim.placement.policies import fits, get_policy
from hetsim.placement.record import Placement
from hetsim.sim.iteration import (
    DecodeStep,
    IterationCost,
    cached,
    decode_step,
    hit_fraction_resident,
    hit_fraction_strict,
    iteration,
    single,
)
from hetsim.sim.runtime import parts_on_primary, random_trace, run_dynamic
from hetsim.workload.dtypes import Precision
from hetsim.workload.registry import get_model

PREC = Precision.of("int8", "int8", "int8")  # h2m2.md §2: all INT8


@dataclass(frozen=True, slots=True)
class Setup:
    batch: int
    s_lo: int  # the stated S range (h2m2.md §2)
    s_hi: int


MODELS: dict[str, Setup] = {
    "gpt3-175b": Setup(32, 256, 2048),
    "chinchilla-70b": Setup(64, 512, 4096),
    "llama2-70b": Setup(128, 1024, 8192),
}
POLICIES = ("lpddr-only", "hbm-only", "hierarchical", "static-lp", "naive-sublayer", "qkv-first",
            "fc-first", "attention-first", "h2m2", "oracle")  # fmt: skip
DYNAMIC_POLICIES = frozenset({"h2m2", "attention-first", "qkv-first", "fc-first"})
# the paper's oracle is the best head-aware mapping (h2m2.md §3: every split of the three
# sublayers); the registry's oracle would also weigh offload, which streams the capacity
# side's data to the HBM chip instead of computing them beside it
ORACLE_CANDIDATES: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DynamicSetup:
    """h2m2.md §7: GPT3-175B, B=32, 128 iterations; finish probability and seed assumed."""

    model: str = "gpt3-175b"
    batch: int = 32
    iterations: int = 128
    finish_prob: float = 1 / 32  # mean of 32 more tokens per request (assumed)
    seed: int = 2025


DYNAMIC = DynamicSetup()


def s_points(reading: Reading, setup: Setup) -> list[int]:
    """Averaged S points: powers of two over the stated range, shifted by the reading."""
    k = 2**reading.s_octave_shift
    out, s = [], setup.s_lo
    while s <= setup.s_hi:
        out.append(s * k)
        s *= 2
    return out


def s_grid(reading: Reading, setup: Setup) -> list[int]:
    """Plotted S points: the averaged ones and one octave below (not averaged)."""
    pts = s_points(reading, setup)
    return [pts[0] // 2, *pts]


def _lpddr_energy(dev: Device, pj: float | None) -> Device:
    if pj is None:
        return dev
    prov = Provenance("calibrated", "lpddr_pj_per_bit of the H2M2 experiment")
    sides = tuple(
        replace(s, memory=replace(s.memory, energy_j_per_bit=pj * 1e-12,
                                  provenance={**s.memory.provenance, "energy_pj_per_bit": prov}))
        if s.memory.technology.upper().startswith("LPDDR") else s
        for s in dev.sides
    )  # fmt: skip
    return replace(dev, sides=sides)


def _scaled(dev: Device, k: float, why: str) -> Device:
    if k == 1.0:
        return dev
    prov = Provenance("calibrated", why)
    sides = tuple(
        replace(s, units=tuple(
            replace(u, peak_flop_per_s={d: r * k for d, r in u.peak_flop_per_s.items()},
                    provenance={**u.provenance, "peak": prov})
            for u in s.units))
        for s in dev.sides
    )  # fmt: skip
    return replace(dev, sides=sides)


@dataclass(frozen=True, slots=True)
class Systems:
    h2m2: Device
    baseline: Device
    hbm8: Device


def systems(reading: Reading, h2m2: Device | None = None) -> Systems:
    """The three systems under ``reading`` (memoised per reading for the presets, so the
    runs of one study share their steps)."""
    if h2m2 is None:
        hit = _SYSTEMS.get(reading)
        if hit is None:
            hit = _SYSTEMS[reading] = _systems(reading, None)
        return hit
    return _systems(reading, h2m2)


_SYSTEMS: dict[Reading, Systems] = {}


def _systems(reading: Reading, h2m2: Device | None) -> Systems:
    why = f"compute_scale {reading.compute_scale} of the H2M2 experiment"
    k = reading.compute_scale
    pj = reading.lpddr_pj_per_bit
    return Systems(
        _lpddr_energy(_scaled(h2m2 or get_hardware("h2m2"), k, why), pj),
        _lpddr_energy(_scaled(get_hardware("h2m2-lpddr-only"), k, why), pj),
        _scaled(get_hardware("hbm-8x"), k, why),
    )


def options(reading: Reading) -> PricingKnobs:
    """The reading's pricing knobs for the shared placement path. H2M2's execution model
    (h2m2.md §3: split sublayers synchronise once per layer, norms run on both chips'
    duplicated activations) is the hardware's: the presets' ``execution`` block, so
    ``analyze -H h2m2`` prices the machine as this study does."""
    return PricingKnobs(gemm_overlap=reading.gemm_overlap, barrier_s=reading.barrier_s,
                        gemm_fill_rows=reading.gemm_fill_rows,
                        allreduce_s=reading.allreduce_s)  # fmt: skip


def step(model: str, batch: int, seq_len: int, dev: Device, reading: Reading, tp: int = 1) -> DecodeStep:
    """The decode iteration of ``batch`` sequences of ``seq_len`` tokens on ``dev`` (paged);
    memoised, so the runs of one study share a step and the group tables priced on it."""
    key = (model, batch, seq_len, id(dev), reading, tp)
    hit = _STEPS.get(key)
    if hit is not None and hit[0] is dev:
        return hit[1]
    if len(_STEPS) > 512:
        _STEPS.clear()
    out = _step(model, batch, seq_len, dev, reading, tp)
    _STEPS[key] = (dev, out)
    return out


_STEPS: dict[tuple[object, ...], tuple[Device, DecodeStep]] = {}


def _step(model: str, batch: int, seq_len: int, dev: Device, reading: Reading, tp: int) -> DecodeStep:
    return decode_step(get_model(model), PREC, dev, batch, batch * seq_len, tp=tp,
                       page_bytes=PAGE_BYTES if tp == 1 else 0.0, knobs=options(reading),
                       oracle_candidates=ORACLE_CANDIDATES)  # fmt: skip


def tlb(reading: Reading) -> TlbModel | None:
    w = reading.tlb_walks_in_flight
    return None if w is None else TlbModel(walks_in_flight=w)


@dataclass(frozen=True, slots=True)
class PointResult:
    """One (model, S): every policy's iteration and mapping (parts of each group on HBM)."""

    model: str
    seq_len: int
    footprint_bytes: float
    baseline: IterationCost
    costs: dict[str, IterationCost | None]  # None: the policy's mapping does not fit
    mappings: dict[str, dict[str, int] | None]

    def speedup(self, policy: str) -> float | None:
        c = self.costs.get(policy)
        return None if c is None else self.baseline.time_s / c.time_s


def _place(name: str, st: DecodeStep, plan: DecodeStep) -> Placement:
    """The placement policy ``name`` over the op graph (static-lp solved on ``plan``);
    hbm-only is the primary placement, refused where it does not fit."""
    if name == "hbm-only":
        pl = Placement.primary(2, "hbm-only")
    else:
        pl = get_policy(name)(plan.problem if name == "static-lp" else st.problem).placement
    if not bool(np.all(fits(st.problem, pl))):
        raise MappingError(f"policy {name!r}: its placement does not fit both memory sides")
    return pl


def run_point(
    model_name: str,
    batch: int,
    seq_len: int,
    reading: Reading,
    sys: Systems,
    policies: tuple[str, ...] = POLICIES,
    plan_seq_len: int | None = None,
) -> PointResult:
    """Every policy at one (model, S), on the shared placement path. ``static-lp`` is solved
    once for ``plan_seq_len`` (the longest S of the run; default ``seq_len``) and its
    fractions kept. lpddr-only is the baseline system; hierarchical runs HBM as a cache."""
    knobs = options(reading)
    st = step(model_name, batch, seq_len, sys.h2m2, reading)
    plan = st
    if plan_seq_len is not None and plan_seq_len != seq_len:
        plan = step(model_name, batch, plan_seq_len, sys.h2m2, reading)
    base = single(step(model_name, batch, seq_len, sys.baseline, reading), knobs=knobs)
    costs: dict[str, IterationCost | None] = {}
    maps: dict[str, dict[str, int] | None] = {}
    for p in policies:
        if p == "lpddr-only":
            costs[p], maps[p] = base, {"attention": 0, "qkv": 0, "fc": 0}
            continue
        if p == "hierarchical":
            cap = sys.h2m2.sides[0].memory.capacity_bytes
            fp = st.footprint_bytes
            r = reading.hier_resident
            h = hit_fraction_strict(fp, cap) if r is None else hit_fraction_resident(fp, cap, r)
            costs[p] = cached(st, h, chips=reading.hier_chips, knobs=knobs)
            maps[p] = dict(st.problem.parts)
            continue
        try:
            pl = _place(p, st, plan)
        except HetsimError:
            costs[p], maps[p] = None, None
            continue
        maps[p] = parts_on_primary(st, pl)
        t = tlb(reading) if p in DYNAMIC_POLICIES else None
        costs[p] = iteration(st, pl, knobs=knobs, tlb=t)
    return PointResult(model_name, seq_len, st.footprint_bytes, base, costs, maps)


def sweep(reading: Reading, sys: Systems | None = None) -> dict[str, list[PointResult]]:
    """Every model at every plotted S point."""
    sys = sys or systems(reading)
    return {
        m: [
            run_point(m, st.batch, s, reading, sys, plan_seq_len=max(s_points(reading, st)))
            for s in s_grid(reading, st)
        ]
        for m, st in MODELS.items()
    }


def mean_speedups(reading: Reading, points: dict[str, list[PointResult]]) -> dict[str, Any]:
    """{model: {policy: {mean_speedup, speedup_by_seq_len}}}; the mean is over the averaged
    S points where the policy fits (None if it fits at none)."""
    out: dict[str, Any] = {}
    for m, pts in points.items():
        avg = set(s_points(reading, MODELS[m]))
        out[m] = {}
        for p in POLICIES:
            by = {str(pt.seq_len): pt.speedup(p) for pt in pts}
            vals = [v for pt in pts if pt.seq_len in avg and (v := pt.speedup(p)) is not None]
            out[m][p] = {"mean_speedup": float(np.mean(vals)) if vals else None,
                         "speedup_by_seq_len": by}  # fmt: skip
    return out


def overheads(reading: Reading, points: dict[str, list[PointResult]]) -> dict[str, dict[str, float]]:
    """Fraction of H2M2's time lost to the abstraction and to greedy-vs-optimal (h2m2.md §5)."""
    out = {}
    for m, pts in points.items():
        avg = set(s_points(reading, MODELS[m]))
        ab, gap = [], []
        for pt in pts:
            h, o = pt.costs["h2m2"], pt.costs["oracle"]
            if pt.seq_len not in avg or h is None or o is None:
                continue
            ab.append(h.abstraction_s / h.time_s)
            gap.append((h.time_s - h.abstraction_s - o.time_s) / h.time_s)
        out[m] = {"abstraction": float(np.mean(ab)), "greedy_vs_optimal": float(np.mean(gap)),
                  "total": float(np.mean(ab) + np.mean(gap))}  # fmt: skip
    return out


def hbm8(reading: Reading, sys: Systems) -> dict[str, float]:
    """8xHBM (tensor parallel) on GPT3-175B at B=32 over the averaged S points: speedup and
    memory energy per token relative to LPDDR-only, next to H2M2's."""
    st = MODELS["gpt3-175b"]
    tp = sys.hbm8.n_devices
    sp, e_h2m2, e_8x = [], [], []
    for s in s_points(reading, st):
        pt = run_point("gpt3-175b", st.batch, s, reading, sys, ("lpddr-only", "h2m2"))
        c8 = single(step("gpt3-175b", st.batch, s, sys.hbm8, reading, tp=tp), knobs=options(reading))
        h = pt.costs["h2m2"]
        if h is None:
            raise MappingError(f"h2m2 does not fit gpt3-175b at S={s}")
        base_e = memory_energy(pt.baseline, 1, reading)
        sp.append(pt.baseline.time_s / c8.time_s)
        e_h2m2.append(memory_energy(h, 2, reading) / base_e)
        e_8x.append(memory_energy(c8, tp, reading) / base_e)
    return {"speedup": float(np.mean(sp)), "energy_h2m2": float(np.mean(e_h2m2)),
            "energy_hbm8": float(np.mean(e_8x))}  # fmt: skip


def memory_energy(c: IterationCost, n_memories: int, reading: Reading) -> float:
    """Memory energy of one iteration (J): per-bit access + link, plus the static power of
    every memory device over the iteration."""
    return c.memory_energy_j + reading.memory_static_w * n_memories * c.time_s


def sensitivity(reading: Reading) -> dict[str, dict[str, float]]:
    """Mean H2M2 speedup per model with the HBM side's capacity or bandwidth changed."""
    base = get_hardware("h2m2")
    out: dict[str, dict[str, float]] = {}
    for label, field, values in (("hbm_capacity_gb", "capacity_bytes", (48e9, 96e9, 192e9)),
                                 ("hbm_bandwidth_tb_per_s", "bandwidth_bytes_per_s",
                                  (2.25e12, 3e12, 4e12))):  # fmt: skip
        for v in values:
            fast = base.sides[0]
            mem = (replace(fast.memory, capacity_bytes=v) if field == "capacity_bytes"
                   else replace(fast.memory, bandwidth_bytes_per_s=v))  # fmt: skip
            dev = replace(base, sides=(replace(fast, memory=mem),
                                       base.sides[1]))  # fmt: skip
            sys = systems(reading, dev)
            key = f"{label}={v / (1e9 if 'capacity' in field else 1e12):g}"
            out[key] = {}
            for m, st in MODELS.items():
                vals = []
                for s in s_points(reading, st):
                    pt = run_point(m, st.batch, s, reading, sys, ("lpddr-only", "h2m2"))
                    vals.append(pt.speedup("h2m2") or 0.0)
                out[key][m] = float(np.mean(vals))
    return out


def dynamic(reading: Reading, sys: Systems) -> dict[str, Any]:
    """The dynamic-length run (h2m2.md §7): GPT3-175B, B=32, 128 iterations, requests
    finishing at random and replaced. Speedups are total-time ratios over LPDDR-only."""
    d = DYNAMIC
    pts = s_points(reading, MODELS[d.model])
    trace = random_trace(d.batch, d.iterations, pts[0], pts[-1], d.finish_prob, d.seed)
    model = get_model(d.model)
    knobs = options(reading)
    out: dict[str, Any] = {"speedup": {}, "records": {}}
    for p, static, t, charge in (("h2m2", False, tlb(reading), True),
                                 ("static-lp", True, None, False),
                                 ("oracle", False, None, False)):  # fmt: skip
        recs, base = run_dynamic(model, PREC, sys.h2m2, sys.baseline, knobs, p, trace,
                                 static=static, tlb=t, charge_migration=charge,
                                 oracle_candidates=ORACLE_CANDIDATES)  # fmt: skip
        out["speedup"][p] = sum(b.time_s for b in base) / sum(r.time_s for r in recs)
        out["records"][p] = recs
    return out
