"""Pricing of head-aware partitions on an asymmetric (two-side) device.

A decode iteration's decoder layers are grouped into three sublayers (H2M2, arXiv 2504.14893,
h2m2.md §3): **qkv** (Q/K/V projections), **attention** (score, softmax, context over the KV
cache) and **fc** (output projection + FFN). Each splits into ``N`` parts (attention heads, KV
groups for GQA, or column blocks) and ``n`` of them run on the fast side (side 0), ``N - n`` on
the capacity side (side 1), in parallel, with a barrier and an activation exchange over the
side link after each split kernel.

Every table here is vectorised over ``n = 0..N`` (arrays of shape ``(N + 1,)``), so a mapper
is a few array operations and an exhaustive search a broadcast. Per-op pricing is
:func:`hetsim.cost.roofline.op_cost` (max of compute and memory time per op; ops of a sublayer
run back to back). Weights, KV, flop and written activations divide by parts; the input
activation of a sublayer is read whole by each active side (it is duplicated, h2m2.md §3).

Import direction: this module knows the workload and hardware; the mapping policies import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from hetsim.cost.roofline import Cost, op_cost
from hetsim.errors import ConfigError
from hetsim.hardware.efficiency import EfficiencyCurve
from hetsim.hardware.spec import ComputeUnit, Device, MemoryTier, Side
from hetsim.workload.dtypes import Precision
from hetsim.workload.graph import build_ops
from hetsim.workload.model import ModelSpec
from hetsim.workload.ops import Num, Op

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

SUBLAYERS = ("attention", "qkv", "fc")
"""Sublayer order used everywhere: the H2M2 greedy's priority order (h2m2.md §4)."""


@dataclass(frozen=True, slots=True)
class PartitionOptions:
    """Pricing assumptions (the calibration knobs that reach the cost model).

    ``gemm_overlap``: GEMMs run on the matrix and matrix-vector units at once (peaks add).
    ``efficiency``: fraction of compute peak reached, per sublayer (1.0 = ideal).
    ``barrier_s``: cost of one barrier after a split kernel, per layer.
    ``gemm_fill_rows``: a weight-stationary array reaches full rate only when a GEMM streams
    at least this many rows (tokens) per loaded weight tile; below, efficiency = M / rows
    (0 = no fill model).
    """

    gemm_overlap: bool = False
    efficiency: tuple[tuple[str, float], ...] = ()
    barrier_s: float = 0.0
    gemm_fill_rows: float = 0.0

    def __post_init__(self) -> None:
        for name, value in self.efficiency:
            if name not in SUBLAYERS or not 0 < value <= 1:
                raise ConfigError(f"efficiency of {name!r} must be in (0, 1] for a sublayer")
        if self.barrier_s < 0:
            raise ConfigError("barrier_s must be non-negative")

    def eff(self, sublayer: str) -> float:
        return dict(self.efficiency).get(sublayer, 1.0)


@dataclass(frozen=True, slots=True)
class SublayerWork:
    """One sublayer type of one decode iteration: its ops (per layer, ``count`` = layers)."""

    name: str
    n_parts: int  # heads, KV groups or column blocks
    ops: tuple[Op, ...]
    footprint_bytes: float  # resident bytes of all parts, all layers (weights, or KV cache)
    output_bytes: float  # activation the sublayer produces, per layer (exchanged)
    n_layers: int


@dataclass(frozen=True, slots=True)
class DecodeWork:
    """One decode iteration of ``batch`` sequences holding ``context_tokens`` tokens in all."""

    model: str
    batch: float
    context_tokens: float
    sublayers: tuple[SublayerWork, ...]  # in SUBLAYERS order
    shared_ops: tuple[Op, ...]  # norms / residuals, run duplicated on every side
    workspace_bytes: float  # activation workspace, duplicated on every side

    def sub(self, name: str) -> SublayerWork:
        for s in self.sublayers:
            if s.name == name:
                return s
        raise ConfigError(f"no sublayer {name!r}; choose from {', '.join(SUBLAYERS)}")

    @property
    def footprint_bytes(self) -> float:
        """Weights + KV of the decoder layers (one copy) plus one activation workspace."""
        return sum(s.footprint_bytes for s in self.sublayers) + self.workspace_bytes


def decode_work(
    model: ModelSpec, prec: Precision, batch: float, context_tokens: float, tp: int = 1
) -> DecodeWork:
    """Group the decode ops of ``model`` into qkv / attention / fc (out_proj belongs to fc).

    ``context_tokens`` is the total cached tokens over the batch (the sum of the sequence
    lengths), so a batch of unequal lengths prices like its mean length.
    """
    if batch <= 0 or context_tokens <= 0:
        raise ConfigError("batch and context must be positive")
    mean_ctx = context_tokens / batch
    ops = build_ops(model, prec, phase="decode", batch=batch, q_len=1.0, context=mean_ctx,
                    tp=tp, include_embeddings=False)  # fmt: skip
    groups: dict[str, list[Op]] = {s: [] for s in SUBLAYERS}
    shared: list[Op] = []
    for op in ops:
        if op.sublayer in groups:
            groups[op.sublayer].append(op)
        elif op.kind != "collective":
            shared.append(op)
    L = model.n_layers
    subs = []
    for name in SUBLAYERS:
        g = tuple(groups[name])
        n_parts = g[0].n_parts
        if name == "attention":
            resident = sum(float(o.kv_read_bytes) for o in g) * L  # the KV cache
        else:
            resident = sum(float(o.weight_bytes) for o in g) * L
        out = float(g[-1].act_write_bytes)
        subs.append(SublayerWork(name, n_parts, g, resident, out, L))
    ab = prec.activation.bytes_per_element
    workspace = batch * (model.d_model + model.ffn_matrices * model.d_ff / tp) * ab * 2
    return DecodeWork(model.name, float(batch), float(context_tokens), tuple(subs),
                      tuple(shared), float(workspace))  # fmt: skip


def gemm_unit(side: Side, overlap: bool) -> ComputeUnit:
    """The unit that runs GEMMs on ``side``; with ``overlap`` the matrix and matrix-vector
    units work together, so their peaks add (h2m2.md §8: 2 x (131 + 32.8) TOPS)."""
    mx = side.unit_for("matrix")
    if not overlap:
        return mx
    mv = side.unit_for("matvec")
    if mv is mx:
        return mx
    peaks = {k: v + mv.peak(k) for k, v in mx.peak_flop_per_s.items()}
    return replace(mx, name=f"{mx.name}+{mv.name}", peak_flop_per_s=peaks)


def _unit(side: Side, op: Op, sublayer: str, opts: PartitionOptions) -> ComputeUnit:
    unit = gemm_unit(side, opts.gemm_overlap) if op.kind == "gemm" else side.unit_for(op.prefers)
    eff = opts.eff(sublayer)
    if op.kind == "gemm" and opts.gemm_fill_rows > 0:
        eff *= float(min(1.0, float(np.max(op.gemm_m)) / opts.gemm_fill_rows))
    if eff < 1.0:
        unit = replace(unit, efficiency=EfficiencyCurve.constant(eff))
    return unit


def scaled_op(op: Op, frac: Num, active: Num) -> Op:
    """``op`` restricted to a fraction ``frac`` of its parts; ``active`` (0/1) says whether
    the side runs any part (it then reads the whole, duplicated, input activation)."""
    return replace(
        op,
        flop=op.flop * frac,
        weight_bytes=op.weight_bytes * frac,
        kv_read_bytes=op.kv_read_bytes * frac,
        kv_write_bytes=op.kv_write_bytes * frac,
        act_read_bytes=op.act_read_bytes * active,
        act_write_bytes=op.act_write_bytes * frac,
    )


def side_cost(
    sub: SublayerWork,
    side: Side,
    prec: Precision,
    parts: Num,
    opts: PartitionOptions,
    memory: MemoryTier | None = None,
) -> Cost:
    """Cost (all layers) of running ``parts`` of ``sub``'s parts on ``side``, reading
    ``memory`` (default the side's own). ``parts`` may be an array."""
    frac = np.asarray(parts, dtype=float) / sub.n_parts
    active = (frac > 0).astype(float)
    mem = memory or side.memory
    total = Cost()
    for op in sub.ops:
        total = total + op_cost(scaled_op(op, frac, active), _unit(side, op, sub.name, opts),
                                mem, prec, wave_model=False)  # fmt: skip
    return total


def shared_cost(work: DecodeWork, side: Side, prec: Precision) -> Cost:
    """Norms and residuals on ``side`` (every side runs them on duplicated activations)."""
    total = Cost()
    for op in work.shared_ops:
        total = total + op_cost(op, side.unit_for(op.prefers), side.memory, prec, wave_model=False)
    return total


@dataclass(frozen=True, slots=True)
class SplitTable:
    """Cost of putting ``n`` of a sublayer's ``N`` parts on the fast side, for n = 0..N."""

    name: str
    n_parts: int
    fast: Cost  # fields of shape (N + 1,), all layers
    slow: Cost
    fast_bytes: FloatArray  # resident bytes on the fast side, (N + 1,)
    slow_bytes: FloatArray
    sync_s: FloatArray  # barrier + activation exchange when split, (N + 1,)
    link_bytes: FloatArray  # bytes over the side link, (N + 1,)
    time_s: FloatArray = field(init=False)  # max of the two sides + sync, (N + 1,)

    def __post_init__(self) -> None:
        t = np.maximum(np.asarray(self.fast.time_s), np.asarray(self.slow.time_s)) + self.sync_s
        object.__setattr__(self, "time_s", t)


@dataclass(frozen=True, slots=True)
class SplitTables:
    """Everything a mapper needs: one table per sublayer (SUBLAYERS order) and capacities."""

    tables: tuple[SplitTable, ...]
    fast_capacity_bytes: float  # free for weights and KV after the workspace
    slow_capacity_bytes: float
    fixed_s: float  # shared ops (norms, residuals), policy independent

    def table(self, name: str) -> SplitTable:
        for t in self.tables:
            if t.name == name:
                return t
        raise ConfigError(f"no sublayer {name!r}")

    @property
    def n_parts(self) -> tuple[int, ...]:
        return tuple(t.n_parts for t in self.tables)


def split_tables(
    work: DecodeWork,
    device: Device,
    prec: Precision,
    opts: PartitionOptions,
    page_bytes: float = 0.0,
) -> SplitTables:
    """Price every split of every sublayer of ``work`` on a two-side ``device``. With
    ``page_bytes`` each part's footprint is rounded up to whole pages (paged memory)."""
    if len(device.sides) != 2 or device.side_link is None:
        raise ConfigError(
            f"hardware {device.name!r}: head-aware partitioning needs exactly two memory sides "
            "joined by a side_link"
        )
    fast_side, slow_side = device.sides
    link = device.side_link
    tables = []
    for sub in work.sublayers:
        N = sub.n_parts
        n = np.arange(N + 1, dtype=float)
        fast = side_cost(sub, fast_side, prec, n, opts)
        slow = side_cost(sub, slow_side, prec, N - n, opts)
        split = (n > 0) & (n < N)
        share = np.maximum(n, N - n) / N
        xbytes = np.where(split, sub.output_bytes * share, 0.0) * sub.n_layers
        sync = np.where(split, opts.barrier_s + link.latency_s, 0.0) * sub.n_layers
        sync = sync + xbytes / link.bandwidth_bytes_per_s
        per_part = sub.footprint_bytes / N
        if page_bytes > 0:
            per_part = float(np.ceil(per_part / page_bytes)) * page_bytes
        tables.append(SplitTable(sub.name, N, fast, slow, per_part * n, per_part * (N - n),
                                 sync, xbytes))  # fmt: skip
    fixed = max(float(np.max(shared_cost(work, s, prec).time_s)) for s in device.sides)
    return SplitTables(
        tuple(tables),
        fast_side.memory.capacity_bytes - work.workspace_bytes,
        slow_side.memory.capacity_bytes - work.workspace_bytes,
        fixed,
    )
