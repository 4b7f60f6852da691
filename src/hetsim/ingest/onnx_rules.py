"""Counting rules per ONNX operator type: flop, MACs and the tensors each node moves.

Conventions (docs/ingest.md):
* a multiply-add is 2 flop and 1 MAC; MACs are counted for MatMul, Gemm, Conv, ConvTranspose,
  Einsum and the attention products only;
* elementwise ops cost ``ELEMENTWISE_FLOP[op]`` flop per output element (1 for arithmetic and
  comparisons; transcendental functions and GELU count as several, an assumed table);
* normalisations ``NORM_FLOP`` per element (mean, variance, scale, shift: 5, as the builders);
  inference BatchNormalization 2 (scale and shift of folded statistics);
* Softmax 5 per element (max, subtract, exp, sum, divide), as the builders;
* pooling one flop per window element per output; Resize 0 (nearest) or 2^d x 2 (linear);
* data movement (Transpose, Concat, Slice, Gather, Split, Expand, Pad, Tile, ...) moves
  bytes and does no flop; views (Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout at
  inference) are metadata only and move nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from hetsim.ingest.records import GraphOp, OpClass, TensorUse
from hetsim.workload.ops import OpKind

ELEMENTWISE_FLOP: dict[str, float] = {
    **dict.fromkeys(
        [
            "Add",
            "Sub",
            "Mul",
            "Div",
            "Neg",
            "Abs",
            "Relu",
            "LeakyRelu",
            "PRelu",
            "Clip",
            "Max",
            "Min",
            "Mean",
            "Sum",
            "Where",
            "Equal",
            "Less",
            "Greater",
            "LessOrEqual",
            "GreaterOrEqual",
            "Not",
            "And",
            "Or",
            "Xor",
            "Sign",
            "Floor",
            "Ceil",
            "Round",
            "Mod",
            "Reciprocal",
            "Cast",
            "CastLike",
            "IsNaN",
            "IsInf",
            "ThresholdedRelu",
            "BitShift",
            "Shrink",
        ],
        1.0,
    ),
    **dict.fromkeys(
        [
            "Sqrt",
            "Exp",
            "Log",
            "Pow",
            "Sin",
            "Cos",
            "Tan",
            "Erf",
            "Elu",
            "Selu",
            "Celu",
            "Softsign",
            "HardSigmoid",
        ],
        4.0,
    ),
    **dict.fromkeys(
        [
            "Sigmoid",
            "Tanh",
            "Softplus",
            "HardSwish",
            "Asin",
            "Acos",
            "Atan",
            "Sinh",
            "Cosh",
            "Asinh",
            "Acosh",
            "Atanh",
        ],
        4.0,
    ),
    **dict.fromkeys(["Gelu", "FastGelu", "BiasGelu", "QuickGelu", "Mish"], 8.0),
}
NORM_FLOP: dict[str, float] = {
    "LayerNormalization": 5.0,
    "SimplifiedLayerNormalization": 4.0,
    "RMSNormalization": 4.0,
    "SkipLayerNormalization": 6.0,
    "SkipSimplifiedLayerNormalization": 5.0,
    "GroupNormalization": 5.0,
    "InstanceNormalization": 5.0,
    "BatchNormalization": 2.0,
    "LpNormalization": 3.0,
    "MeanVarianceNormalization": 5.0,
}
REDUCE_OPS = frozenset(
    [
        "ReduceMean",
        "ReduceSum",
        "ReduceMax",
        "ReduceMin",
        "ReduceProd",
        "ReduceL1",
        "ReduceL2",
        "ReduceLogSum",
        "ReduceLogSumExp",
        "ReduceSumSquare",
        "ArgMax",
        "ArgMin",
    ]
)
MOVE_OPS = frozenset(
    [
        "Transpose",
        "Concat",
        "Slice",
        "Gather",
        "GatherElements",
        "GatherND",
        "Split",
        "Expand",
        "Pad",
        "Tile",
        "ScatterND",
        "ScatterElements",
        "DepthToSpace",
        "SpaceToDepth",
        "Trilu",
    ]
)
VIEW_OPS = frozenset(["Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"])
POOL_OPS = frozenset(["MaxPool", "AveragePool", "LpPool"])
GLOBAL_POOL_OPS = frozenset(["GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"])
FUSED_ATTENTION_OPS = frozenset(("Attention", "MultiHeadAttention", "GroupQueryAttention"))


@dataclass(frozen=True, slots=True)
class Node:
    """What a rule needs of one node: its type, attributes, and the tensors around it."""

    name: str
    op_type: str
    attrs: dict[str, object]
    inputs: tuple[TensorUse | None, ...]  # None for an omitted optional input
    outputs: tuple[TensorUse, ...]
    in_shapes: tuple[tuple[int, ...] | None, ...]
    out_shapes: tuple[tuple[int, ...] | None, ...]


def _s(shape: tuple[int, ...] | None) -> tuple[int, ...]:
    """A shape the ingester has checked is resolved (it refuses nodes with unknown shapes)."""
    return shape if shape is not None else ()


def _prod(shape: tuple[int, ...] | None) -> float:
    return float(math.prod(shape)) if shape is not None else 0.0


def _op(
    n: Node,
    cls: OpClass,
    kind: OpKind,
    prefers: str,
    flop: float,
    macs: float = 0.0,
    mnk: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> GraphOp:
    reads = tuple(t for t in n.inputs if t is not None)
    return GraphOp(n.name, n.op_type, cls, kind, prefers, flop, macs, reads, n.outputs, mnk)


def _out_elems(n: Node) -> float:
    return _prod(n.out_shapes[0]) if n.out_shapes else 0.0


def matmul(n: Node) -> GraphOp:
    a, b = _s(n.in_shapes[0]), _s(n.in_shapes[1])
    k = float(a[-1])
    n_cols = float(b[-1]) if len(b) > 1 else 1.0
    m_rows = _out_elems(n) / n_cols  # all batch dims folded into M
    macs = m_rows * n_cols * k
    return _op(n, "matmul", "gemm", "matrix", 2 * macs, macs, (m_rows, n_cols, k))


def gemm(n: Node) -> GraphOp:
    a = _s(n.in_shapes[0])
    k = float(a[0] if n.attrs.get("transA", 0) else a[-1])
    out = _out_elems(n)
    n_cols = float(_s(n.out_shapes[0])[-1]) if _s(n.out_shapes[0]) else 1.0
    macs = out * k
    bias = out if len(n.inputs) > 2 and n.inputs[2] is not None else 0.0
    return _op(n, "matmul", "gemm", "matrix", 2 * macs + bias, macs, (out / n_cols, n_cols, k))


def conv(n: Node) -> GraphOp:
    """Conv: MACs = N Cout prod(out spatial) (Cin / groups) prod(kernel). ConvTranspose:
    MACs = N Cin prod(in spatial) (Cout / groups) prod(kernel). Both as an implicit GEMM
    with the groups folded into M."""
    x, w, y = _s(n.in_shapes[0]), _s(n.in_shapes[1]), _s(n.out_shapes[0])
    groups = float(n.attrs.get("group", 1))  # type: ignore[arg-type]
    kernel = _prod(w[2:])
    if n.op_type == "Conv":
        per_out = w[1] * kernel  # (Cout, Cin/groups, *k)
        macs = _prod(y) * per_out
        mnk = (y[0] * _prod(y[2:]) * groups, y[1] / groups, float(per_out))
    else:  # ConvTranspose weight (Cin, Cout/groups, *k)
        macs = _prod(x) * w[1] * kernel
        mnk = (x[0] * _prod(x[2:]) * groups, float(w[1] * kernel), x[1] / groups)
    bias = _prod(y) if len(n.inputs) > 2 and n.inputs[2] is not None else 0.0
    return _op(n, "matmul", "gemm", "matrix", 2 * macs + bias, macs, mnk)


def einsum(n: Node) -> GraphOp:
    """MACs = product of the sizes of every index in the equation."""
    eq = str(n.attrs.get("equation", "")).replace(" ", "")
    lhs = eq.split("->")[0].split(",")
    sizes: dict[str, int] = {}
    for term, shape in zip(lhs, n.in_shapes, strict=False):
        if shape is None or "..." in term:
            return unsupported(n)
        for ch, d in zip(term, shape, strict=True):
            sizes[ch] = max(sizes.get(ch, 1), d)
    macs = float(math.prod(sizes.values()))
    return _op(n, "matmul", "gemm", "matrix", 2 * macs, macs, (macs / max(_out_elems(n), 1), 1.0, 1.0))


def fused_attention(n: Node) -> GraphOp:
    """Attention (ONNX opset 23, 4-D or 3-D Q), MultiHeadAttention and GroupQueryAttention
    (com.microsoft, 3-D Q/K/V): 2 B Hq Sq Sk (dk + dv) flop of products + 5 B Hq Sq Sk of
    softmax; K/V read once (flash-style)."""
    q, k = _s(n.in_shapes[0]), _s(n.in_shapes[1])
    v = n.in_shapes[2] if len(n.in_shapes) > 2 else None
    heads = int(n.attrs.get("q_num_heads", n.attrs.get("num_heads", 1)))  # type: ignore[call-overload]
    if len(q) == 4:  # (B, Hq, Sq, dk)
        b, hq, sq, dk = q
        sk = k[-2]
        dv = v[-1] if v is not None else dk
    else:  # (B, Sq, Hq*dk), K (B, Sk, Hkv*dk)
        b, sq, width = q
        hq, dk = heads, width // max(heads, 1)
        sk = k[1] if len(k) == 3 else k[-2]
        dv = dk
    pairs = float(b * hq * sq * sk)
    macs = pairs * (dk + dv)
    return _op(n, "attention", "attention", "matrix", 2 * macs + 5 * pairs, macs)


def norm(n: Node) -> GraphOp:
    x = n.in_shapes[0]
    return _op(n, "normalisation", "norm", "vector", NORM_FLOP[n.op_type] * _prod(x))


def elementwise(n: Node) -> GraphOp:
    return _op(n, "elementwise", "elementwise", "vector", ELEMENTWISE_FLOP[n.op_type] * _out_elems(n))


def softmax(n: Node) -> GraphOp:
    return _op(n, "elementwise", "softmax", "sfu", 5.0 * _out_elems(n))


def reduce(n: Node) -> GraphOp:
    return _op(n, "elementwise", "norm", "vector", _prod(n.in_shapes[0]))


def pool(n: Node) -> GraphOp:
    kernel = n.attrs.get("kernel_shape", [1])
    window = float(math.prod(kernel))  # type: ignore[call-overload]
    return _op(n, "other", "elementwise", "vector", window * _out_elems(n))


def global_pool(n: Node) -> GraphOp:
    return _op(n, "other", "elementwise", "vector", _prod(n.in_shapes[0]))


def resize(n: Node) -> GraphOp:
    mode = str(n.attrs.get("mode", "nearest"))
    y = n.out_shapes[0]
    spatial = max(len(y) - 2, 1) if y is not None else 1
    per = {"nearest": 0.0, "linear": 2.0 * 2**spatial, "cubic": 2.0 * 4**spatial}.get(mode, 0.0)
    return _op(n, "other", "elementwise", "vector", per * _out_elems(n))


def move(n: Node) -> GraphOp:
    op = _op(n, "other", "lookup", "vector", 0.0)
    table = n.inputs[0]
    if n.op_type == "Gather" and table is not None and table.role == "weight":
        # an embedding lookup reads the rows it gathers, not the whole table
        rows = TensorUse(table.name, _out_elems(n), table.role, table.native_bits)
        return GraphOp(
            op.name, op.op_type, "other", "lookup", "vector", 0.0, 0.0, (rows, *op.reads[1:]), op.writes
        )
    return op


def unsupported(n: Node) -> GraphOp:
    """An operator without a counting rule: its bytes are counted, its flop unknown."""
    op = _op(n, "other", "lookup", "vector", 0.0)
    return GraphOp(
        op.name, op.op_type, "other", "lookup", "vector", 0.0, 0.0, op.reads, op.writes, supported=False
    )


Rule = Callable[[Node], GraphOp]
RULES: dict[str, Rule] = {
    "MatMul": matmul,
    "MatMulInteger": matmul,
    "Gemm": gemm,
    "Conv": conv,
    "ConvTranspose": conv,
    "Einsum": einsum,
    "Softmax": softmax,
    "LogSoftmax": softmax,
    "Resize": resize,
    "Upsample": resize,
    **dict.fromkeys(FUSED_ATTENTION_OPS, fused_attention),
    **dict.fromkeys(NORM_FLOP, norm),
    **dict.fromkeys(ELEMENTWISE_FLOP, elementwise),
    **dict.fromkeys(REDUCE_OPS, reduce),
    **dict.fromkeys(MOVE_OPS, move),
    **dict.fromkeys(POOL_OPS, pool),
    **dict.fromkeys(GLOBAL_POOL_OPS, global_pool),
}
