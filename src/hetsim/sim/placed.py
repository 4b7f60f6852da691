"""Placed evaluation: both phases priced under a placement, with the dynamic decode.

The prefill is placed for its KV (``input_len`` tokens); the decode is placed at every
sampled context (the same ``DECODE_SAMPLES`` contexts the homogeneous path averages over),
so as the KV cache grows the placement follows it in closed form (the fill policies broadcast
over the array of contexts). Where the sides holding a group change, the runtime re-maps at
that iteration boundary: the KV thresholds come from the policy in closed form, the bytes
that must leave a side (moved bytes) are charged at the stream bandwidth between the sides,
and each re-map gets a record. No per-token loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hetsim.cost.roofline import Cost, Overlap
from hetsim.hardware.spec import Device
from hetsim.placement.policies import FillResult, PolicyFn, Problem, usage_bytes
from hetsim.placement.price import PlacedCost, empty, price_op
from hetsim.placement.record import Placement
from hetsim.placement.topology import stream_bandwidth
from hetsim.workload.dtypes import Precision
from hetsim.workload.model import ModelSpec
from hetsim.workload.ops import Num, Op


def split_weights(model: ModelSpec, prec: Precision, fp: dict[str, Any], tp: int) -> dict[str, float]:
    """Weights per device by group: qkv projections, the rest of the layers (output
    projection, FFN or experts, norms), embeddings + LM head (``fp`` from ``footprint``)."""
    wb = prec.weight.bytes_per_element
    emb = float(prec.weight.nbytes(model.embedding_params)) / tp
    layers = float(np.max(fp["weights"])) - emb
    share = (
        model.d_model
        * (model.q_dim + 2 * model.kv_dim)
        * wb
        / max(float(prec.weight.nbytes(model.layer_params)), 1.0)
    )
    qkv = layers * min(share, 1.0)
    return {"qkv": qkv, "fc": layers - qkv, "head": emb}


def problem(dev: Device, weights: dict[str, float], kv_bytes: Num, workspace: Num, phase: str) -> Problem:
    return Problem(dev, {**weights, "attention": kv_bytes}, workspace, phase)


@dataclass(slots=True)
class Remap:
    """One re-map at an iteration boundary of the decode."""

    step: int  # decode step (1 = first decode step)
    context: int  # tokens per sequence at that step
    change: str  # what changed, e.g. "KV cache now also on lpddr"
    migrated_bytes: float
    migration_s: float


@dataclass(slots=True)
class PlacedRun:
    """What a placed evaluation records beside the metrics (filled by the pricer)."""

    policy: str
    prefill: Placement | None = None
    decode: Placement | None = None
    prefill_costs: list[PlacedCost] = field(default_factory=list)
    decode_costs: list[PlacedCost] = field(default_factory=list)
    usage_prefill: tuple[Num, ...] = ()
    usage_decode: tuple[Num, ...] = ()  # per side, arrays over the decode contexts
    usage_end: tuple[Num, ...] = ()  # per side at the footprint's length (P + G tokens)
    # "side/weights", "side/kv", "side/activations" -> resident bytes over the decode contexts
    roles_decode: dict[str, Num] = field(default_factory=dict)
    thresholds_bytes: tuple[float, ...] = ()
    remaps: list[Remap] = field(default_factory=list)
    migration_s: float = 0.0
    migration_energy_j: float = 0.0


class Pricer:
    """Prices a phase's ops under the policy's placement for that phase's contexts. Passed
    to the simulator's evaluation as its ``pricer``; ``B``, ``P``, ``G`` are the arrays of
    shape (N,) the evaluation runs on."""

    def __init__(
        self,
        policy_name: str,
        fn: PolicyFn,
        dev: Device,
        prec: Precision,
        weights: dict[str, float],
        kv_per_token_bytes: float,  # KV bytes per token of one sequence, per device
        workspace: Num,
        B: Num,
        P: Num,
        G: Num,
        *,
        tp: int,
        overlap: Overlap,
        dynamic: bool = True,
    ) -> None:
        self.fn, self.dev, self.prec = fn, dev, prec
        self.weights, self.kvpt, self.ws = weights, kv_per_token_bytes, np.asarray(workspace, dtype=float)
        self.B, self.P, self.G = (np.asarray(x, dtype=float) for x in (B, P, G))
        self.tp, self.overlap, self.dynamic = tp, overlap, dynamic
        self.run = PlacedRun(policy_name)
        self.migration_s: Num = 0.0
        self.bandwidth_bytes_per_s: Num = dev.primary.memory.bandwidth_bytes_per_s

    def place(self, tokens: Num, phase: str) -> tuple[FillResult, Problem]:
        """The policy's placement with ``tokens`` tokens cached per sequence (static runs
        place for the full length throughout)."""
        decode = phase == "decode" and np.ndim(tokens) == 2
        b = self.B[:, None] if decode else self.B
        ws = self.ws[:, None] if decode and self.ws.ndim == 1 else self.ws
        if not self.dynamic:
            full = self.P + self.G
            tokens = full[:, None] if decode else full
        p = problem(self.dev, self.weights, b * tokens * self.kvpt, ws, phase)
        return self.fn(p), p

    def __call__(self, ops: list[Op], phase: str, context: Num) -> list[Cost]:
        res, p = self.place(context, phase)
        pl = res.placement
        costs = [price_op(op, self.dev, self.prec, pl, self.tp, self.overlap) for op in ops]
        if phase == "prefill":
            self.run.prefill, self.run.prefill_costs = pl, costs
            self.run.usage_prefill = usage_bytes(p, pl)
            return [c.cost for c in costs]
        self.run.decode, self.run.decode_costs = pl, costs
        self.run.usage_decode = usage_bytes(p, pl)
        full, pf = self.place(self.P + self.G, "prefill")  # the footprint's length, P + G tokens
        self.run.usage_end = usage_bytes(pf, full.placement)
        self.run.roles_decode = roles(p, pl)
        self.run.thresholds_bytes = res.thresholds_bytes
        if self.B.size == 1:
            self.remaps(int(self.P.reshape(-1)[0]), int(self.G.reshape(-1)[0]))
            self.migration_s = self.run.migration_s
        used = [
            s
            for s in range(len(self.dev.sides))
            if any(np.any(np.asarray(c.side_bytes[s]) > 0) for c in costs)
        ]
        self.bandwidth_bytes_per_s = sum(self.dev.sides[s].memory.bandwidth_bytes_per_s for s in used or [0])
        return [c.cost for c in costs]

    def remaps(self, P: int, G: int) -> list[Remap]:
        """Re-map records of the decode (steps 1 .. G-1 at context P + step), closed form:
        the first context whose KV passes each of the policy's thresholds."""
        out: list[Remap] = []
        if not self.dynamic or G < 2:
            return out
        per_ctx = float(np.max(self.B * self.kvpt))
        names = [s.name for s in self.dev.sides]
        for thr in self.run.thresholds_bytes:
            c = int(np.floor(thr / per_ctx)) + 1  # first context whose KV exceeds the threshold
            if not P + 1 < c <= P + G - 1:
                continue
            (before, pb), (after, pa) = self.place(float(c - 1), "decode"), self.place(float(c), "decode")
            moved, secs = 0.0, 0.0
            gained = ""
            for g, gp in after.placement.groups.items():
                old = before.placement.groups[g]
                for s in range(len(names)):
                    held_old = float(np.max(pb.resident[g])) * float(np.max(old.shares[s]))
                    held_new = float(np.max(pa.resident[g])) * float(np.max(gp.shares[s]))
                    if held_new > 1e-9 and held_old <= 1e-9:
                        what = "KV cache" if g == "attention" else f"{g} weights"
                        gained = f"{what} now also on {names[s]}"
                    left = max(held_old - held_new, 0.0)
                    if left > 0:
                        moved += left
                        dst = int(np.argmax([float(np.max(x)) for x in gp.shares]))
                        secs += left / stream_bandwidth(self.dev, s, dst)
            out.append(Remap(c - P, c, gained or "shares change", moved, secs))
        self.run.remaps = out
        self.run.migration_s = sum(r.migration_s for r in out)
        return out


def peak_usage(run: PlacedRun, s: int) -> float:
    """The most side ``s`` holds at any point of the run (prefill, decode, full length)."""
    return max(float(np.max(u[s])) for u in (run.usage_prefill, run.usage_decode, run.usage_end))


def roles(p: Problem, pl: Placement) -> dict[str, Num]:
    """Resident bytes per side and role (weights, KV cache, activation workspace)."""
    out: dict[str, Num] = {}
    for s, side in enumerate(p.device.sides):
        w: Num = 0.0
        for g in ("qkv", "fc", "head"):
            w = w + np.asarray(p.resident[g], dtype=float) * pl.groups[g].shares[s]
        out[f"{side.name}/weights"] = w
        out[f"{side.name}/kv"] = (
            np.asarray(p.resident["attention"], dtype=float) * pl.groups["attention"].shares[s]
        )
        out[f"{side.name}/activations"] = p.workspace_bytes if s == pl.workspace_side else 0.0
    return out


def mean_placed(c: PlacedCost, mean: Any) -> PlacedCost:
    """Mean over the decode contexts of every field of ``c``."""
    return PlacedCost(
        Cost(*(mean(getattr(c.cost, f)) for f in Cost.__dataclass_fields__)),
        tuple(mean(x) for x in c.side_bytes),
        tuple(mean(x) for x in c.side_busy_s),
        tuple(mean(x) for x in c.side_energy_j),
        {k: mean(v) for k, v in c.link_bytes.items()},
        c.compute_sides,
        c.data_sides,
    )


def total(costs: list[PlacedCost], n_sides: int) -> PlacedCost:
    out = empty(n_sides)
    for c in costs:
        out = out + c
    return out
