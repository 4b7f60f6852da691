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

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hetsim.cost.roofline import Cost, Overlap, op_cost
from hetsim.hardware.spec import Device
from hetsim.placement.balance import achieved_bandwidth, balance, weight_balance
from hetsim.placement.migration import migrate
from hetsim.placement.policies import (
    FillResult,
    PolicyFn,
    Problem,
    is_search,
    offload_sides,
    roles,
    usage_bytes,
)
from hetsim.placement.price import PlacedCost, price_op
from hetsim.placement.record import GroupPlacement, Placement, group_of
from hetsim.workload.dtypes import Precision
from hetsim.workload.graph import embedding_bytes
from hetsim.workload.model import ModelSpec
from hetsim.workload.ops import FloatArray, Num, Op


def split_weights(model: ModelSpec, prec: Precision, fp: dict[str, Any], tp: int) -> dict[str, float]:
    """Weights per device by group: qkv projections, the rest of the layers (output
    projection, FFN or experts, norms), embeddings + LM head (``fp`` from ``footprint``)."""
    wb = prec.weight_bytes_per_element
    emb = embedding_bytes(model, prec) / tp
    layers = float(np.max(fp["weights"])) - emb
    share = (
        model.d_model
        * (model.q_dim + 2 * model.kv_dim)
        * wb
        / max(float(prec.weight_nbytes(model.layer_params)), 1.0)
    )
    qkv = layers * min(share, 1.0)
    return {"qkv": qkv, "fc": layers - qkv, "head": emb}


def problem(
    dev: Device,
    weights: dict[str, float],
    kv_bytes: Num,
    workspace: Num,
    phase: str,
    final_kv: Num | None = None,
) -> Problem:
    return Problem(dev, {**weights, "attention": kv_bytes}, workspace, phase, final_kv_bytes=final_kv)


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
        shared: dict[str, Any] | None = None,
        overlap_transfers: bool = True,
    ) -> None:
        self.fn, self.dev, self.prec = fn, dev, prec
        self.weights, self.kvpt, self.ws = weights, kv_per_token_bytes, np.asarray(workspace, dtype=float)
        self.B, self.P, self.G = (np.asarray(x, dtype=float) for x in (B, P, G))
        self.tp, self.overlap, self.dynamic = tp, overlap, dynamic
        # what candidate policies of one run share (auto prices several): the decode's kernels
        self.shared = shared if shared is not None else {}
        self.overlap_transfers = overlap_transfers  # the engine prefetches streamed data (Serving)
        self.run = PlacedRun(policy_name)
        self.migration_s: Num = 0.0
        self.bandwidth_bytes_per_s: Num = dev.primary.memory.bandwidth_bytes_per_s
        # MFU's denominators: the summed matrix peak of the sides whose units run the phase
        self.peak_flop_per_s: dict[str, float] = {}
        # (weight kernels, KV-reading kernels per step): Problem's fields of those names
        self.kernel_sizes: tuple[tuple[tuple[float, float, Num], ...], float] = ((), 0.0)
        self.weight_target: Num | None = None  # offload's weight share, found once (plan)

    def place(
        self, tokens: Num, phase: str, ops: list[Op] | None = None, held_to_end: bool = False
    ) -> tuple[FillResult, Problem]:
        """The policy's placement with ``tokens`` tokens cached per sequence (static runs
        place for the full length throughout); ``ops`` lets search policies price candidates;
        ``held_to_end``: the placement is kept to the full length, so it must hold that KV."""
        p = self.problem_at(tokens, phase, ops)
        if held_to_end:
            p = dataclasses.replace(p, held_to_end=True)
        return self.fn(p), p

    def problem_at(self, tokens: Num, phase: str, ops: list[Op] | None = None) -> Problem:
        """What the policy places with ``tokens`` tokens cached per sequence (see :meth:`place`)."""
        decode = phase == "decode" and np.ndim(tokens) == 2
        b = self.B[:, None] if decode else self.B
        ws = self.ws[:, None] if decode and self.ws.ndim == 1 else self.ws
        if not self.dynamic:
            full = self.P + self.G
            tokens = full[:, None] if decode else full
        full_len = self.P[:, None] + self.G[:, None] if decode else self.P + self.G
        p = problem(self.dev, self.weights, b * tokens * self.kvpt, ws, phase, b * full_len * self.kvpt)
        if self.kernel_sizes[1] and self.weight_target is not None:
            target = self.weight_target
            if decode and np.ndim(target) == 1:
                target = np.asarray(target)[:, None]
            wk = tuple(
                (kb, n, np.asarray(f)[:, None] if decode and np.ndim(f) == 1 else f)
                for kb, n, f in self.kernel_sizes[0]
            )
            p = dataclasses.replace(
                p, weight_kernels=wk, kv_kernels=self.kernel_sizes[1], weight_target=target
            )
        if ops is not None:
            parts: dict[str, int] = {}
            for op in ops:
                g = group_of(op)
                if g is not None and op.n_parts > 1:
                    parts.setdefault(g, op.n_parts)
            p = dataclasses.replace(p, parts=parts, evaluate=self._evaluator(ops),
                                    evaluate_groups=self._evaluator(ops, by_group=True))  # fmt: skip
        return p

    def _evaluator(self, ops: list[Op], by_group: bool = False) -> Callable[[Placement], Any]:
        """Phase time (s) of ``ops`` under a placement whose shares may carry leading
        candidate axes; returns one time per candidate (trailing op axes averaged), or with
        ``by_group`` a dict of such times per placed group (qkv, attention, fc, head)."""
        nd = max(np.ndim(op.flop) for op in ops)

        def reduce(t: Num, lead: int) -> FloatArray:
            arr = np.asarray(t, dtype=float)
            out: FloatArray = arr.mean(axis=tuple(range(lead, arr.ndim))) if arr.ndim > lead else arr
            return out

        def evaluate(pl: Placement) -> Any:
            lead = max(np.ndim(x) for g in pl.groups.values() for x in g.shares)
            groups = {
                k: GroupPlacement(tuple(np.reshape(x, np.shape(x) + (1,) * nd) if np.ndim(x) == lead and lead
                                        else x for x in g.shares), g.compute)
                for k, g in pl.groups.items()
            }  # fmt: skip
            pl2 = dataclasses.replace(pl, groups=groups)
            t: Num = 0.0
            per: dict[str, Num] = {}
            for op in ops:
                x = price_op(
                    op,
                    self.dev,
                    self.prec,
                    pl2,
                    self.tp,
                    self.overlap,
                    overlap_transfers=self.overlap_transfers,
                ).cost.time_s
                t = t + x
                if by_group:
                    g = group_of(op) or "shared"
                    per[g] = per.get(g, 0.0) + x
            if by_group:
                return {g: reduce(v, lead) for g, v in per.items()}
            return reduce(t, lead)

        return evaluate

    def plan(self, decode_ops: list[Op]) -> None:
        """Read the decode's kernels (before either phase is priced): offload's balance is
        found from them, and one split of the weights serves both phases."""
        if "plan" in self.shared:  # another candidate of the same run found them
            self.kernel_sizes, self.weight_target = self.shared["plan"]
            return
        self.kernel_sizes = kernel_sizes(decode_ops, self.dev, self.prec)
        sides = offload_sides(self.dev)
        if self.kernel_sizes[1] and len(sides) > 1:
            self.weight_target = weight_balance(
                self.dev, self.kernel_sizes[0], sides, balance(self.dev, sides)
            )
        self.shared["plan"] = (self.kernel_sizes, self.weight_target)

    def __call__(self, ops: list[Op], phase: str, context: Num) -> list[Cost]:
        detail = self.B.size == 1  # per-side / per-link records only for one configuration
        search = is_search(self.run.policy)
        # a search policy's decode placement is held to the end (no re-map): it must hold the
        # full-length KV, or more bandwidth packs the primary fuller and it overflows late
        res, p = self.place(context, phase, ops, held_to_end=search and phase == "decode")
        pl = res.placement
        costs = [price_op(op, self.dev, self.prec, pl, self.tp, self.overlap, detail=detail,
                          overlap_transfers=self.overlap_transfers) for op in ops]  # fmt: skip
        self.peak_flop_per_s[phase] = self._peak(ops, costs)
        if phase == "prefill":
            self.run.prefill, self.run.prefill_costs = pl, costs
            self.run.usage_prefill = usage_bytes(p, pl)
            self._pre_problem = p
            return [c.cost for c in costs]
        self._dec_first = (pl, p)
        full = pl if search else self.place(self.P + self.G, "prefill")[0].placement
        self.run.thresholds_bytes = res.thresholds_bytes
        return self._finish(ops, pl, costs, usage_bytes(p, pl), roles(p, pl), full)

    def _finish(
        self,
        ops: list[Op],
        pl: Placement,
        costs: list[PlacedCost],
        usage: tuple[Num, ...],
        roles_decode: dict[str, Num],
        final: Placement,
    ) -> list[Cost]:
        """Record the decode's placement (``final``: the one held at the full length) and its
        re-maps; the costs the simulator sums."""
        self.peak_flop_per_s["decode"] = self._peak(ops, costs)
        self.run.decode, self.run.decode_costs = pl, costs
        self.run.usage_decode = usage
        self.run.usage_end = usage_bytes(self.problem_at(self.P + self.G, "prefill"), final)
        self.run.roles_decode = roles_decode
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

    def _peak(self, ops: list[Op], costs: list[PlacedCost]) -> float:
        """Summed matrix peak (flop/s) of the sides whose units compute part of ``ops``: the
        flop of a split op is counted once, and its parts run on several sides at once, so
        MFU against the primary's peak alone exceeded 1 (h2m2 policy on h2m2: 1.89)."""
        running = {0}
        for op, c in zip(ops, costs, strict=True):
            if op.kind != "collective" and np.any(np.asarray(op.flop) > 0):
                running |= set(c.compute_sides)
        peak = 0.0
        for s in sorted(running):
            side = self.dev.sides[s]
            if side.has_compute:
                peak += float(side.unit_for("matrix").peak(self.prec.compute))
        return peak

    def _moved(
        self, before: tuple[Placement, Problem], after: tuple[Placement, Problem]
    ) -> tuple[float, float, str]:
        """(bytes that must leave a side, seconds to move them, what changed) between two
        placements (:func:`hetsim.placement.migration.migrate`); bytes that only grow (new
        KV) do not move."""
        names = [s.name for s in self.dev.sides]
        (old_pl, pb), (new_pl, pa) = before, after
        gained = ""
        for g, gp in new_pl.groups.items():
            old = old_pl.groups[g]
            for s in range(len(names)):
                if float(np.max(gp.shares[s])) > 1e-12 and float(np.max(old.shares[s])) <= 1e-12:
                    what = "KV cache" if g == "attention" else f"{g} weights"
                    gained = f"{what} now also on {names[s]}"

        def top(p: Problem, pl: Placement) -> dict[str, tuple[Num, ...]]:
            return {g: tuple(float(np.max(p.resident[g])) * float(np.max(x)) for x in gp.shares)
                    for g, gp in pl.groups.items()}  # fmt: skip

        m = migrate(self.dev, top(pb, old_pl), top(pa, new_pl))
        return float(m.moved_bytes), float(m.seconds), gained

    def remaps(self, P: int, G: int) -> list[Remap]:
        """Re-map records of the run, closed form: the prefill-to-decode re-placement (when
        the policy places the phases differently), then the first decode context whose KV
        passes each of the policy's thresholds (steps 1 .. G-1 at context P + step)."""
        out: list[Remap] = []
        if G < 2:
            return out
        pre = self.run.prefill
        if pre is not None and hasattr(self, "_pre_problem") and hasattr(self, "_dec_first"):
            moved, secs, what = self._moved((pre, self._pre_problem), self._dec_first)
            if moved > 0:
                out.append(Remap(0, P, what or "re-placed for the decode", moved, secs))
        if not self.dynamic:
            self._record(out)
            return out
        per_ctx = float(np.max(self.B * self.kvpt))
        for thr in self.run.thresholds_bytes:
            c = int(np.floor(thr / per_ctx)) + 1  # first context whose KV exceeds the threshold
            if not P + 1 < c <= P + G - 1:
                continue
            (before, pb), (after, pa) = self.place(float(c - 1), "decode"), self.place(float(c), "decode")
            moved, secs, gained = self._moved((before.placement, pb), (after.placement, pa))
            full = f"{self.dev.sides[0].name} full: new KV goes to the other sides"
            out.append(Remap(c - P, c, gained or full, moved, secs))
        self._record(out)
        return out

    def _record(self, out: list[Remap]) -> None:
        self.run.remaps = out
        self.run.migration_s = sum(r.migration_s for r in out)


def kernel_sizes(
    ops: list[Op], dev: Device, prec: Precision
) -> tuple[tuple[tuple[float, float, Num], ...], float]:
    """((weight bytes, repetitions, local seconds that do not scale with the weight share) of
    each GEMM that reads a weight group; kernels per step that read the KV cache): what
    offload's balance is found from (Problem.weight_kernels). The fixed seconds are the
    primary's priced memory phase at the balanced share less that share of the weights at
    the achieved bandwidth (activations, split-K partials), per configuration (shape (N,))."""
    sides = offload_sides(dev)
    b = balance(dev, sides)
    side = dev.sides[0]
    out: list[tuple[float, float, Num]] = []
    for op in ops:
        kb = float(np.max(op.weight_bytes))
        if op.kind != "gemm" or group_of(op) in (None, "attention") or kb <= 0:
            continue
        part = dataclasses.replace(op, weight_bytes=b * kb, count=1)
        c = op_cost(
            part,
            side.unit_for(op.prefers),
            side.memory,
            prec,
            kernels=dev.kernels,
            vector=side.unit_for("vector"),
        )
        bw0 = float(np.max(achieved_bandwidth(dev, 0, b * kb)))
        mem = np.asarray(c.memory_s, dtype=float)
        mem = mem.max(axis=tuple(range(1, mem.ndim))) if mem.ndim > 1 else mem  # (N,): not per context
        fixed = np.maximum(mem - b * kb / bw0, 0.0)
        out.append((kb, float(op.count), fixed if fixed.ndim else float(fixed)))
    kv = sum(op.count for op in ops if group_of(op) == "attention")
    return tuple(out), float(kv)


def peak_usage(run: PlacedRun, s: int) -> float:
    """The most side ``s`` holds at any point of the run (prefill, decode, full length)."""
    return max(float(np.max(u[s])) for u in (run.usage_prefill, run.usage_decode, run.usage_end))
