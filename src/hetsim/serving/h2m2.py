"""H2M2's head-aware mappings as serving placements, and the dynamic-vs-static question.

The H2M2 paper (arXiv 2504.14893) reports that its run-time mapping, re-decided as the KV
cache grows, beats a FlexGen-style static LP under dynamic sequence lengths (1.48x against
1.25x over an LPDDR-only system). A static batch cannot show the difference (both reach about
1.5x in ``hetsim reproduce h2m2``), because there the footprint is known up front. Serving
makes the footprint move: requests of different lengths arrive and finish.

Here the registered search policies of :mod:`hetsim.placement` (``h2m2`` greedy,
``static-lp``, the priority variants, ``naive-sublayer``, ``oracle``) place the groups for the
current KV footprint, with every candidate priced by the placement pricing path on the decode
ops of ``MAPPING_BATCH`` sequences — the same pricing serving's iteration tables use, so what
a split costs when it is chosen is what it costs when it is served. *Dynamic* re-decides at
every footprint level with migration charged; *static* decides once for the largest footprint
the KV capacity allows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from hetsim.hardware.loader import get_hardware
from hetsim.placement.phase import per_candidate, price_phase
from hetsim.placement.policies import FillResult, PolicyFn, Problem, get_policy
from hetsim.placement.record import Placement, group_of
from hetsim.serving.requests import RequestSet
from hetsim.workload.dtypes import Precision
from hetsim.workload.graph import build_ops
from hetsim.workload.model import ModelSpec
from hetsim.workload.registry import get_model

MAPPING_BATCH = 256.0  # sequences the mapper assumes when it prices a footprint (assumed: vLLM max_num_seqs)
ALIASES = {"h2m2-placed": "h2m2"}  # the greedy priced by the placement path is the greedy


def search_policy(
    name: str, model: ModelSpec, prec: Precision, kv_bytes_per_token: float, tp: int = 1
) -> PolicyFn:
    """The search policy ``name`` for serving: its problem gets the decode ops of
    ``MAPPING_BATCH`` sequences at the footprint's context, priced per candidate placement."""
    fn = get_policy(ALIASES.get(name, name))

    def wrapped(p: Problem) -> FillResult:
        kv = float(max(float(np.max(p.resident["attention"])), kv_bytes_per_token))
        ops = build_ops(model, prec, phase="decode", batch=MAPPING_BATCH, q_len=1.0,
                        context=kv / kv_bytes_per_token / MAPPING_BATCH, tp=tp)  # fmt: skip
        parts: dict[str, int] = {}
        for op in ops:
            g = group_of(op)
            if g is not None and op.n_parts > 1:
                parts.setdefault(g, op.n_parts)

        def evaluate(pl: Placement) -> Any:
            return per_candidate(price_phase(ops, p.device, prec, pl, tp=tp).time_s, pl)

        def evaluate_groups(pl: Placement) -> dict[str, Any]:
            ph = price_phase(ops, p.device, prec, pl, tp=tp)
            return {g: per_candidate(ph.group_s.get(g, 0.0), pl) for g in ("attention", "qkv", "fc")}

        q = dataclasses.replace(p, parts=parts, evaluate=evaluate, evaluate_groups=evaluate_groups)
        return fn(q)

    return wrapped


@dataclass(frozen=True, slots=True)
class DynamicVsStatic:
    lpddr_only_tok_per_s: float
    static_lp_tok_per_s: float
    dynamic_lp_tok_per_s: float  # the same LP re-solved at every footprint level
    static_h2m2_tok_per_s: float
    dynamic_h2m2_tok_per_s: float
    remaps: int
    migration_s: float

    def speedups(self) -> dict[str, float]:
        """Output-token throughput of each mapping over LPDDR-only."""
        b = self.lpddr_only_tok_per_s
        return {
            "static-lp": self.static_lp_tok_per_s / b,
            "dynamic-lp": self.dynamic_lp_tok_per_s / b,
            "static-h2m2": self.static_h2m2_tok_per_s / b,
            "dynamic-h2m2": self.dynamic_h2m2_tok_per_s / b,
        }


def dynamic_vs_static(model: str, reqs: RequestSet, engine: str = "vllm") -> DynamicVsStatic:
    """Output-token throughput of LPDDR-only, static LP and dynamic H2M2 mapping serving ``reqs``."""
    from hetsim.serving.api import simulate_serving

    m = get_model(model)
    h2m2 = get_hardware("h2m2")
    base = simulate_serving(m, "h2m2-lpddr-only", reqs, engine=engine)
    runs = {
        (pol, dyn): simulate_serving(m, h2m2, reqs, engine=engine, policy=pol, dynamic_placement=dyn)
        for pol in ("static-lp", "h2m2")
        for dyn in (False, True)
    }
    tput = {k: r.output_throughput_tok_per_s for k, r in runs.items()}
    dyn = runs[("h2m2", True)]
    return DynamicVsStatic(
        base.output_throughput_tok_per_s, tput[("static-lp", False)], tput[("static-lp", True)],
        tput[("h2m2", False)], tput[("h2m2", True)], dyn.remaps, dyn.migration_s,
    )  # fmt: skip
