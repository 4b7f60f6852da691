"""Records of an ingested graph: per-node counts by tensor, before a precision is applied.

An ingested node keeps the tensors it reads and writes (with their element counts and roles)
so that kernel fusion can drop the intermediates two fused nodes pass between them, and so
that a quantisation what-if can re-price the same graph at other data types. Converting to
the builders' :class:`~hetsim.workload.ops.Op` records applies a :class:`Precision`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from hetsim.workload.dtypes import Precision
from hetsim.workload.ops import Op, OpKind, Sublayer

Role = Literal["weight", "kv", "activation"]
# the method's operator classes (section 4 of the co-design article)
OpClass = Literal["matmul", "attention", "normalisation", "elementwise", "other"]
OP_CLASSES: tuple[OpClass, ...] = ("matmul", "attention", "normalisation", "elementwise", "other")


@dataclass(frozen=True, slots=True)
class TensorUse:
    """One tensor read or written by a node. ``native_bits`` is set for non-float tensors
    (indices, masks), which keep their own size whatever precision is analysed; float
    tensors take the precision's type for their role."""

    name: str
    elements: float
    role: Role
    native_bits: int | None = None

    def nbytes(self, prec: Precision) -> float:
        if self.native_bits is not None:
            return self.elements * self.native_bits / 8
        if self.role == "weight":
            return prec.weight_nbytes(self.elements)  # group scales included
        dt = {"kv": prec.kv, "activation": prec.activation}[self.role]
        return dt.nbytes(self.elements)


@dataclass(frozen=True, slots=True)
class GraphOp:
    """One node (or a fused group of nodes) of an ingested graph, run once per pass.

    ``flop`` counts a multiply-add as 2; ``macs`` counts multiply-adds of the matrix ops
    (MatMul, Gemm, Conv, ConvTranspose, Einsum, attention products) and is 0 elsewhere."""

    name: str
    op_type: str
    op_class: OpClass
    kind: OpKind
    prefers: str  # unit kind: matrix, matvec, vector, sfu
    flop: float
    macs: float = 0.0
    reads: tuple[TensorUse, ...] = ()
    writes: tuple[TensorUse, ...] = ()
    gemm_mnk: tuple[float, float, float] = (0.0, 0.0, 0.0)
    supported: bool = True
    members: tuple[str, ...] = field(default=())  # node names fused into this op
    group: str = ""  # attention pattern instance (MatMul-Softmax-MatMul) it belongs to

    def bytes_read(self, prec: Precision) -> float:
        return sum(t.nbytes(prec) for t in self.reads)

    def bytes_written(self, prec: Precision) -> float:
        return sum(t.nbytes(prec) for t in self.writes)

    def to_op(self, prec: Precision) -> Op:
        """The builders' op record at ``prec`` (count 1: one pass of the graph)."""

        def total(uses: tuple[TensorUse, ...], role: Role) -> float:
            return sum(t.nbytes(prec) for t in uses if t.role == role)

        subs: dict[OpClass, Sublayer] = {
            "matmul": "fc",
            "attention": "attention",
            "normalisation": "norm",
            "elementwise": "fc",
            "other": "embed",
        }
        sub = subs[self.op_class]
        m, n, k = self.gemm_mnk
        return Op(
            name=self.name,
            sublayer=sub,
            kind=self.kind,
            prefers=self.prefers,
            count=1,
            flop=self.flop,
            weight_bytes=total(self.reads, "weight"),
            kv_read_bytes=total(self.reads, "kv"),
            kv_write_bytes=total(self.writes, "kv"),
            act_read_bytes=total(self.reads, "activation"),
            act_write_bytes=total(self.writes, "activation") + total(self.writes, "weight"),
            gemm_m=m,
            gemm_n=n,
            gemm_k=k,
        )


@dataclass(frozen=True, slots=True)
class Unsupported:
    """An operator type the ingester has no counting rule for. ``node_share`` is its share
    of the graph's counted nodes; ``byte_share`` the share of the graph's bytes its inputs
    and outputs represent (its bytes are kept in the totals; its flop are unknown)."""

    op_type: str
    count: int
    node_share: float
    byte_share: float


@dataclass(frozen=True, slots=True)
class IngestedGraph:
    """A model graph turned into counted ops for one pass (one batch of images, one
    denoising step, one forward pass)."""

    name: str
    source: str  # file it came from
    ops: tuple[GraphOp, ...]
    params: float  # weight elements (unique weight tensors)
    inputs: tuple[tuple[str, tuple[int, ...]], ...]  # bound data-input shapes
    outputs: frozenset[str]  # graph output tensors (never fused away)
    batch: int  # items per pass (the bound batch dimension; 1 if none)
    unsupported: tuple[Unsupported, ...] = ()
    unknown_op: str = "unpriced"  # how operators without a rule were priced: unpriced or zero
    folded_nodes: int = 0  # nodes whose outputs depend only on constants (not run)
    view_nodes: int = 0  # Reshape/Flatten/Squeeze/...: metadata only, no traffic
    fused: str = "none"

    @property
    def flop(self) -> float:
        return sum(o.flop for o in self.ops)

    @property
    def macs(self) -> float:
        return sum(o.macs for o in self.ops)

    def to_ops(self, prec: Precision) -> list[Op]:
        return [o.to_op(prec) for o in self.ops]

    def with_ops(self, ops: tuple[GraphOp, ...], fused: str) -> IngestedGraph:
        return replace(self, ops=ops, fused=fused)
