"""The phase pricer of the one placed run: both phases priced under a placement policy.

Every run goes through it, the homogeneous one included (the ``primary`` policy: everything
on side 0, the one-side case of the same pricing). The prefill is placed for its KV
(``input_len`` tokens); the decode at every sampled context (the ``DECODE_SAMPLES`` contexts
the run averages over), so as the KV cache grows the placement follows it in closed form (the
fill policies broadcast over the arrays of configurations and contexts). A phase is priced by
:func:`hetsim.placement.phase.price_phase` under the device's execution model, and comes back
as a value (:class:`PricedPhase`: per-op costs, resident bytes, the peak and the bandwidth
its MFU and MBU are measured against); the run's re-maps and their migration are found by
:mod:`hetsim.sim.placed_remaps`. Every quantity is per configuration: nothing is reduced
over the configurations of a sweep, so a point's result does not depend on its neighbours.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hetsim.cost.roofline import Cost, Overlap
from hetsim.hardware.spec import Device
from hetsim.placement.balance import balance, weight_balance
from hetsim.placement.migration import Migration
from hetsim.placement.phase import price_phase
from hetsim.placement.policies import FillResult, PolicyFn, Problem, is_search, offload_sides, usage_bytes
from hetsim.placement.price import PlacedCost, price_op
from hetsim.placement.record import GroupPlacement, Placement, group_of
from hetsim.sim.placed_plan import kernel_sizes, per_config
from hetsim.sim.placed_plan import problem as problem  # the plan's, re-exported for serving
from hetsim.sim.placed_plan import split_weights as split_weights
from hetsim.workload.dtypes import Precision
from hetsim.workload.ops import FloatArray, Num, Op

BoolArray = np.ndarray[Any, np.dtype[np.bool_]]

# the decode's sampled contexts: against the mean over every integer step, the trapezoid on 17
# is within 1.2e-5 of TPOT and end-to-end latency (7 model/system/policy cases x 8 random
# configurations, sliding windows, dispatch-bound, spilling mid-decode), no worse than 65
# (at a spill's kink no sampling is exact); 65 cost 4x the work over (contexts, configurations)
DECODE_SAMPLES = 17
_U = np.linspace(0.0, 1.0, DECODE_SAMPLES)
_W = np.full(DECODE_SAMPLES, 1.0 / (DECODE_SAMPLES - 1))
_W[[0, -1]] /= 2  # trapezoid weights on [0, 1], summing to 1


def mean_ctx(x: Num) -> Any:
    """Trapezoid mean over the decode contexts (the first axis of a (K, N) array, K =
    ``DECODE_SAMPLES``) of a per-configuration field; a field without the context axis
    (shape (N,) or a scalar) is its own mean. Summed in context order for every configuration
    alike (a matrix product's order depends on the BLAS kernel and the array size): row by
    row for many configurations, ``add.accumulate`` (sequential by definition, the same sums)
    for a few. A run's totals always carry the context axis (attention reads the growing KV),
    so a configuration's mean never depends on whether a neighbour made an op's cost (K, N)."""
    a = np.asarray(x, dtype=float)
    if a.ndim < 2:
        return a
    if a.shape[0] == 1:
        return a[0]
    if a[0].size <= 64:
        return np.add.accumulate(a * _W.reshape((-1,) + (1,) * (a.ndim - 1)), axis=0)[-1]
    acc = a[0] * _W[0]
    for k in range(1, a.shape[0]):
        acc = acc + a[k] * _W[k]
    return acc


def varies(x: Num) -> bool:
    """Whether a decode field carries the context axis ((K, N), not (N,) or a scalar)."""
    return np.ndim(x) >= 2 and np.shape(x)[0] > 1


@dataclass(frozen=True, slots=True)
class PricedPhase:
    """One phase priced under a placement. Per-configuration fields have shape (N,); the
    costs and the resident bytes may carry the decode's context axis first, (K, N)."""

    phase: str
    placement: Placement
    problem: Problem
    costs: tuple[PlacedCost, ...]  # per op; the run sums their ``cost``
    usage_bytes: tuple[Num, ...]  # resident per side
    peak_flop_per_s: FloatArray  # summed matrix peak of the sides computing the phase (MFU)
    bandwidth_bytes_per_s: FloatArray  # summed bandwidth of the memories it reads (MBU)
    thresholds_bytes: tuple[Num, ...]  # KV bytes at which the held sides change (decode)

    @property
    def op_costs(self) -> list[Cost]:
        return [c.cost for c in self.costs]


@dataclass(frozen=True, slots=True)
class Remap:
    """One re-map at an iteration boundary of the decode (a run of one configuration)."""

    step: int  # decode step (0: the prefill-to-decode re-placement; 1 = first decode step)
    context: int  # tokens per sequence at that step
    change: str  # what changed, e.g. "KV cache now also on lpddr"
    migrated_bytes: float
    migration_s: float


@dataclass(frozen=True, slots=True)
class PlacedRun:
    """Both phases of a run under one policy, what the decode holds at the full length, and
    the migration of its re-maps (per configuration; records for a run of one)."""

    policy: str
    prefill: PricedPhase
    decode: PricedPhase
    usage_end: tuple[Num, ...]  # per side at the footprint's length (P + G tokens)
    final: Placement  # the placement held at the full length
    migration: Migration
    remaps: tuple[Remap, ...] = ()

    def peak_bytes(self, s: int) -> FloatArray:
        """The most side ``s`` holds at any point of each configuration's run, shape (N,)."""
        n = self.prefill.peak_flop_per_s.shape[0]
        out = per_config(self.prefill.usage_bytes[s], n)
        for u in (self.decode.usage_bytes[s], self.usage_end[s]):
            out = np.maximum(out, per_config(u, n))
        return out

    def fits(self, dev: Device) -> BoolArray:
        """Whether every side holds what the run puts there, per configuration."""
        ok: BoolArray = np.ones(self.prefill.peak_flop_per_s.shape[0], dtype=bool)
        for s, side in enumerate(dev.sides):
            ok &= self.peak_bytes(s) <= side.memory.capacity_bytes * (1 + 1e-12)
        return ok


class Pricer:
    """Prices a run's phases under one policy for N configurations (``B``, ``P``, ``G``,
    ``kv_per_token_bytes`` and ``workspace`` of shape (N,)). ``shared`` carries what the
    candidate policies of one run share (the decode's kernels, offload's weight share)."""

    def __init__(
        self,
        policy_name: str,
        fn: PolicyFn,
        dev: Device,
        prec: Precision,
        weights: dict[str, float],
        kv_per_token_bytes: Num,  # KV bytes per token of one sequence, per device
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
        self.policy, self.fn, self.dev, self.prec = policy_name, fn, dev, prec
        self.B, self.P, self.G = (np.asarray(x, dtype=float).reshape(-1) for x in (B, P, G))
        n = self.B.size
        self.weights = weights
        self.kvpt = np.broadcast_to(np.asarray(kv_per_token_bytes, dtype=float), (n,))
        self.ws = np.broadcast_to(np.asarray(workspace, dtype=float), (n,))
        self.tp, self.overlap, self.dynamic = tp, overlap, dynamic
        self.shared = shared if shared is not None else {}
        self.overlap_transfers = overlap_transfers  # the engine prefetches streamed data (Serving)
        self.detail = n == 1  # per-side / per-link records only for one configuration
        # (weight kernels, KV-reading kernels per step): Problem's fields of those names
        self.kernel_sizes: tuple[tuple[tuple[Num, Num, Num], ...], float] = ((), 0.0)
        self.weight_target: Num | None = None  # offload's weight share per configuration (plan)
        self.prefill_target: Num | None = None  # the prefill's own (plan; re-split at decode start)

    @property
    def n(self) -> int:
        return int(self.B.size)

    def place(
        self, tokens: Num, phase: str, ops: list[Op] | None = None, held_to_end: bool = False
    ) -> tuple[FillResult, Problem]:
        """The policy's placement with ``tokens`` tokens cached per sequence (shape (N,), or
        (K, N) for the decode's contexts; static runs place for the full length throughout);
        ``ops`` lets search policies price candidates; ``held_to_end``: the placement is kept
        to the full length, so it must hold that KV."""
        p = self.problem_at(tokens, phase, ops)
        if held_to_end:
            p = dataclasses.replace(p, held_to_end=True)
        return self.fn(p), p

    def problem_at(
        self, tokens: Num, phase: str, ops: list[Op] | None = None, split: str | None = None
    ) -> Problem:
        """What the policy places with ``tokens`` tokens cached per sequence (see :meth:`place`);
        the weights split as planned for ``split`` (default: ``phase``)."""
        # per-configuration values (N,) broadcast against the decode's contexts (K, N)
        full = self.P + self.G
        if not self.dynamic:
            tokens = full
        b, kvpt = self.B, self.kvpt
        p = problem(self.dev, self.weights, b * tokens * kvpt, self.ws, phase, b * full * kvpt)
        if not self.overlap_transfers:
            p = dataclasses.replace(p, overlap_transfers=False)
        if self.kernel_sizes[1] and self.weight_target is not None:
            own = (split or phase) == "prefill" and self.prefill_target is not None
            target = self.prefill_target if own else self.weight_target
            p = dataclasses.replace(p, weight_kernels=self.kernel_sizes[0], kv_kernels=self.kernel_sizes[1],
                                    weight_target=target)  # fmt: skip
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
                x = price_op(op, self.dev, self.prec, pl2, self.tp, self.overlap,
                             overlap_transfers=self.overlap_transfers).cost.time_s  # fmt: skip
                t = t + x
                if by_group:
                    g = group_of(op) or "shared"
                    per[g] = per.get(g, 0.0) + x
            if by_group:
                return {g: reduce(v, lead) for g, v in per.items()}
            return reduce(t, lead)

        return evaluate

    def plan(self, decode_ops: list[Op], prefill_ops: list[Op] | None = None) -> None:
        """Read each phase's kernels (before either phase is priced): offload's balance is
        found from them per configuration, one split of the weights per phase (the prefill's
        re-split for the decode at its start, the bytes moved charged as a re-map:
        :mod:`hetsim.sim.placed_remaps`). One split planned on the decode's kernels served
        both phases, and where the decode's split moved with the batch (a GEMM leaving the
        small-M GEMV path, a mixture-of-experts layer reading more experts) a larger batch
        could prefill faster (gh200, mixtral-8x7b P=16 G=2: TTFT 25.2566 ms at B=1, 25.2511
        ms at B=2)."""
        sides = offload_sides(self.dev)
        if self.policy == "primary" or len(sides) < 2:  # nothing is balanced across sides
            return
        if "plan" in self.shared:  # another candidate of the same run found them
            self.kernel_sizes, self.weight_target, self.prefill_target = self.shared["plan"]
            return
        self.kernel_sizes = kernel_sizes(decode_ops, self.dev, self.prec, self.n)
        if self.kernel_sizes[1] and len(sides) > 1:
            b = balance(self.dev, sides)
            memo: list[tuple[Num, Num, Num, Num]] = []  # the kernels' balances, for both phases
            self.weight_target = weight_balance(self.dev, self.kernel_sizes[0], sides, b, memo)
            if prefill_ops is not None:
                pre = kernel_sizes(prefill_ops, self.dev, self.prec, self.n, weigh=True)[0]
                self.prefill_target = weight_balance(self.dev, pre, sides, b, memo)
        self.shared["plan"] = (self.kernel_sizes, self.weight_target, self.prefill_target)

    def phase(self, ops: list[Op], phase: str, tokens: Num) -> PricedPhase:
        """``ops`` of ``phase`` priced under the policy's placement for ``tokens`` tokens
        cached per sequence. A search policy's decode placement is held to the end (no
        re-map): it must hold the full-length KV, or more bandwidth packs the primary fuller
        and it overflows late."""
        held = is_search(self.policy) and phase == "decode"
        res, p = self.place(tokens, phase, ops if is_search(self.policy) else None, held_to_end=held)
        pl = res.placement
        kv = pl.groups["attention"]
        if any(varies(x) for x in kv.shares):  # the KV placement follows the context
            # the qkv projection's KV appends go where the cache sits at the middle of the
            # decode (per configuration), so it is priced once, not at every context
            mid = DECODE_SAMPLES // 2
            writes = GroupPlacement(
                tuple(np.asarray(x)[mid] if varies(x) else x for x in kv.shares), kv.compute
            )
            pl = dataclasses.replace(pl, kv_writes=writes)
        ph = price_phase(ops, self.dev, self.prec, pl, tp=self.tp, overlap=self.overlap, detail=self.detail,
                         overlap_transfers=self.overlap_transfers, totals=False,
                         limits=self.detail)  # fmt: skip
        return PricedPhase(phase, pl, p, ph.costs, usage_bytes(p, pl), self._peak(ops, pl),
                           self._bandwidth(ph.costs), res.thresholds_bytes)  # fmt: skip

    def _peak(self, ops: list[Op], pl: Placement) -> FloatArray:
        """Summed matrix peak (flop/s) of the sides whose units compute part of ``ops``, per
        configuration: the flop of a split op is counted once, and its parts run on several
        sides at once, so MFU against the primary's peak alone exceeded 1 (h2m2 policy on
        h2m2: 1.89). Side 0 always counts (norms, residuals), every side with compute where
        the device runs norms everywhere (``Execution.shared_everywhere``)."""
        dev, n = self.dev, self.n
        if len(dev.sides) == 1:  # one side: its units run everything
            return np.full(n, float(dev.primary.unit_for("matrix").peak(self.prec.compute)))
        groups = {group_of(op) for op in ops if op.kind != "collective" and np.any(np.asarray(op.flop) > 0)}
        peak = np.zeros(n)
        for s, side in enumerate(dev.sides):
            if not side.has_compute:
                continue
            if s == 0 or dev.execution.shared_everywhere:
                runs: Any = True
            else:
                runs = np.zeros(n, dtype=bool)
                for g in groups:
                    if g is not None:
                        share = pl.groups[g].compute_share(s)
                        runs = runs | (per_config(share, n) > 0)
            peak = peak + np.where(runs, float(side.unit_for("matrix").peak(self.prec.compute)), 0.0)
        return peak

    def _bandwidth(self, costs: tuple[PlacedCost, ...]) -> FloatArray:
        """Summed bandwidth (B/s) of the sides whose memory the phase reads, per configuration
        (the primary's where it reads none)."""
        n = self.n
        if len(self.dev.sides) == 1:  # one side: the phase reads its memory
            return np.full(n, self.dev.primary.memory.bandwidth_bytes_per_s)
        total = np.zeros(n)
        used = np.zeros(n, dtype=bool)
        for s, side in enumerate(self.dev.sides):
            reads = np.zeros(n, dtype=bool)
            for c in costs:
                reads |= per_config(c.side_bytes[s], n) > 0
            total = total + np.where(reads, side.memory.bandwidth_bytes_per_s, 0.0)
            used |= reads
        out: FloatArray = np.where(used, total, self.dev.sides[0].memory.bandwidth_bytes_per_s)
        return out

    def run(self, pre_ops: list[Op], dec_ops: list[Op], contexts: FloatArray) -> PlacedRun:
        """Both phases (the decode at ``contexts``, shape (K, N)), the full-length placement
        and the re-maps' migration: the run's values for the simulator."""
        from hetsim.sim.placed_remaps import remaps  # it reads the phases priced here

        self.plan(dec_ops, pre_ops)  # each phase's weight split planned on its own kernels
        pre = self.phase(pre_ops, "prefill", self.P)
        dec = self.phase(dec_ops, "decode", contexts)
        full = self.P + self.G
        at_end = self.problem_at(full, "prefill", split="decode")  # the decode's split, held to the end
        final = dec.placement if is_search(self.policy) else self.fn(at_end).placement
        end = usage_bytes(at_end, final)
        migration, records = remaps(self, pre, dec)
        return PlacedRun(self.policy, pre, dec, end, final, migration, records)
