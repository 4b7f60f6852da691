"""Operator-class breakdown (matmul, attention, normalisation, elementwise, other) of flop,
bytes and time — the co-design method's section 4.2 view — for graph and builder results."""

from __future__ import annotations

from collections.abc import Iterable

from hetsim.analysis.graph_result import ClassShare
from hetsim.analysis.result import OpResult
from hetsim.ingest.records import OP_CLASSES


def builder_class(op: OpResult) -> str:
    """Class of a builder op: GEMMs are matmul; everything in the attention sublayer is
    attention; norms normalisation; activations, residuals (and softmax outside attention)
    elementwise; lookups and collectives other."""
    if op.sublayer == "attention":
        return "attention"
    if op.kind == "gemm":
        return "matmul"
    if op.kind == "norm":
        return "normalisation"
    if op.kind in ("elementwise", "softmax"):
        return "elementwise"
    return "other"


def class_shares(ops: Iterable[tuple[str, OpResult]]) -> list[ClassShare]:
    """Sum ``(class, op)`` pairs per class; ``time_share`` is of the total time given."""
    rows = list(ops)
    total = sum(o.time_s for _, o in rows) or 1e-30
    out = []
    for cls in OP_CLASSES:
        rs = [o for c, o in rows if c == cls]
        t = sum(o.time_s for o in rs)
        out.append(ClassShare(cls, len(rs), sum(o.flop for o in rs), sum(o.bytes for o in rs), t, t / total))
    return out


def article_check(classes: list[ClassShare]) -> dict[str, float | None]:
    """The article's claim, for this model and machine: normalisation and elementwise ops
    take ~40% more time than matmuls (time ratio ~1.4) at 250x (normalisation) and 700x
    (elementwise) fewer flop. A ratio is None where its denominator class has no flop or
    time (a CNN without normalisation ops): there is nothing to compare, not an infinite ratio."""
    by = {c.op_class: c for c in classes}
    mm, nm, ew = by["matmul"], by["normalisation"], by["elementwise"]

    def ratio(a: float, b: float) -> float | None:
        return a / b if b > 0 else None

    return {
        "time_norm_plus_elementwise_over_matmul": ratio(nm.time_s + ew.time_s, mm.time_s),
        "flop_matmul_over_normalisation": ratio(mm.flop, nm.flop),
        "flop_matmul_over_elementwise": ratio(mm.flop, ew.flop),
    }
