"""H2M2's head-aware mappings as serving placements, and the dynamic-vs-static question.

The H2M2 paper (arXiv 2504.14893) reports that its run-time mapping, re-decided as the KV
cache grows, beats a FlexGen-style static LP under dynamic sequence lengths (1.48x against
1.25x over an LPDDR-only system). A static batch cannot show the difference (both reach about
1.5x in ``hetsim reproduce h2m2``), because there the footprint is known up front. Serving
makes the footprint move: requests of different lengths arrive and finish.

Here the mapping policies of :mod:`hetsim.mapping` (``h2m2`` greedy, ``static-lp``) decide the
parts of every sublayer on the HBM side from :func:`hetsim.cost.partition.split_tables` for the
current KV footprint; the parts are turned into a :class:`~hetsim.placement.record.Placement`
(each side computes the parts it holds) and priced by the one placement pricing path.
*Dynamic* re-decides at every footprint level with migration charged; *static* decides once
for the largest footprint the KV capacity allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hetsim.cost.partition import PartitionOptions, decode_work, split_tables
from hetsim.hardware.loader import get_hardware
from hetsim.mapping.registry import get_policy as get_mapping
from hetsim.placement.policies import FillResult, PolicyFn, Problem
from hetsim.placement.price import price_op
from hetsim.placement.record import GroupPlacement, Placement
from hetsim.serving.requests import RequestSet
from hetsim.workload.dtypes import Precision
from hetsim.workload.graph import build_ops
from hetsim.workload.model import ModelSpec
from hetsim.workload.registry import get_model

MAPPING_BATCH = 256.0  # sequences the mapper assumes when it prices a footprint (assumed: vLLM max_num_seqs)


def mapping_policy(name: str, model: ModelSpec, prec: Precision, kv_bytes_per_token: float) -> PolicyFn:
    """A placement policy from the mapping policy ``name`` (``h2m2``, ``static-lp``, ...)."""
    mapper = get_mapping(name)

    def fn(p: Problem) -> FillResult:
        kv = float(max(float(p.resident["attention"]), kv_bytes_per_token))  # (bytes per device)
        work = decode_work(model, prec, MAPPING_BATCH, kv / kv_bytes_per_token)
        tables = split_tables(work, p.device, prec, PartitionOptions())
        m = mapper(tables)
        groups = {"head": GroupPlacement.on(2, 0, 0)}
        for sub, table, n in zip(("attention", "qkv", "fc"), tables.tables, m.splits, strict=True):
            f = n / table.n_parts
            groups[sub] = GroupPlacement((f, 1.0 - f), (0, 1))
        return FillResult(Placement(name, groups, n_sides=2, workspace_side=0))

    return fn


GRID = np.linspace(0.0, 1.0, 33)  # candidate HBM shares of a group


def placed_greedy(model: ModelSpec, prec: Precision, kv_bytes_per_token: float) -> PolicyFn:
    """H2M2's greedy (attention, then qkv, then fc, each taking the HBM share that minimises the
    decode iteration's time within the capacity the earlier ones left), with every candidate
    priced by the placement pricing path itself (one pricing path for choosing and pricing).
    Undecided groups sit on the capacity side while earlier ones are chosen."""

    def fn(p: Problem) -> FillResult:
        dev = p.device
        kv = float(max(float(p.resident["attention"]), kv_bytes_per_token))
        ops = build_ops(model, prec, phase="decode", batch=MAPPING_BATCH, q_len=1.0,
                        context=kv / kv_bytes_per_token / MAPPING_BATCH)  # fmt: skip
        ws = float(np.max(p.workspace_bytes))
        free_hbm = p.capacity(0) - ws - float(p.resident["head"])
        free_lp = p.capacity(1)
        share = {"attention": 0.0, "qkv": 0.0, "fc": 0.0}
        for g in ("attention", "qkv", "fc"):
            res = {k: float(np.max(p.resident[k])) for k in share}
            trial = {**share, g: GRID}
            hbm = sum(res[k] * np.asarray(trial[k]) for k in share)
            lp = sum(res[k] * (1 - np.asarray(trial[k])) for k in share)
            ok = (hbm <= free_hbm) & (lp <= free_lp)
            if not np.any(ok):
                continue
            pl = _placement("h2m2-placed", trial)
            t = sum(_grid(price_op(op, dev, prec, pl).cost.time_s) for op in ops)
            share[g] = float(GRID[int(np.argmin(np.where(ok, t, np.inf)))])
        return FillResult(_placement("h2m2-placed", share))

    return fn


def _grid(x: Any) -> Any:
    return np.broadcast_to(np.asarray(x, dtype=float), GRID.shape)


def _placement(name: str, share: dict[str, Any]) -> Placement:
    groups = {"head": GroupPlacement.on(2, 0, 0)}
    for g, f in share.items():
        groups[g] = GroupPlacement((f, 1.0 - np.asarray(f)), (0, 1))
    return Placement(name, groups, n_sides=2, workspace_side=0)


@dataclass(frozen=True, slots=True)
class DynamicVsStatic:
    lpddr_only_tok_per_s: float
    static_lp_tok_per_s: float
    dynamic_lp_tok_per_s: float  # the same LP re-solved at every footprint level
    static_h2m2_tok_per_s: float
    dynamic_h2m2_tok_per_s: float
    static_placed_tok_per_s: float  # the greedy priced by the placement path
    dynamic_placed_tok_per_s: float
    remaps: int
    migration_s: float

    @property
    def static_speedup(self) -> float:
        return self.static_lp_tok_per_s / self.lpddr_only_tok_per_s

    @property
    def dynamic_speedup(self) -> float:
        return self.dynamic_h2m2_tok_per_s / self.lpddr_only_tok_per_s

    def speedups(self) -> dict[str, float]:
        """Output-token throughput of each mapping over LPDDR-only."""
        b = self.lpddr_only_tok_per_s
        return {
            "static-lp": self.static_lp_tok_per_s / b,
            "dynamic-lp": self.dynamic_lp_tok_per_s / b,
            "static-h2m2": self.static_h2m2_tok_per_s / b,
            "dynamic-h2m2": self.dynamic_h2m2_tok_per_s / b,
            "static-h2m2-placed": self.static_placed_tok_per_s / b,
            "dynamic-h2m2-placed": self.dynamic_placed_tok_per_s / b,
        }


def dynamic_vs_static(model: str, reqs: RequestSet, engine: str = "vllm") -> DynamicVsStatic:
    """Output-token throughput of LPDDR-only, static LP and dynamic H2M2 mapping serving ``reqs``."""
    from hetsim.serving.api import simulate_serving

    m = get_model(model)
    h2m2 = get_hardware("h2m2")
    base = simulate_serving(m, "h2m2-lpddr-only", reqs, engine=engine)
    runs = {
        (pol, dyn): simulate_serving(m, h2m2, reqs, engine=engine, policy=pol, dynamic_placement=dyn)
        for pol in ("static-lp", "h2m2", "h2m2-placed")
        for dyn in (False, True)
    }
    tput = {k: r.output_throughput_tok_per_s for k, r in runs.items()}
    dyn = runs[("h2m2", True)]
    return DynamicVsStatic(
        base.output_throughput_tok_per_s, tput[("static-lp", False)], tput[("static-lp", True)],
        tput[("h2m2", False)], tput[("h2m2", True)], tput[("h2m2-placed", False)],
        tput[("h2m2-placed", True)], dyn.remaps, dyn.migration_s,
    )  # fmt: skip
