"""ONNX file -> :class:`IngestedGraph`: the same op records as the builders, node by node.

Nodes whose outputs depend only on constants (weights, ``Constant``, ``Shape``) are folded
(a runtime computes them once, at load); views move nothing; every other node gets a
counting rule from :mod:`hetsim.ingest.onnx_rules` or is an operator hetsim does not know
(no rule, or a custom domain). What happens to those is the ``unknown_op`` choice:

* ``unpriced`` (default): the rest of the graph is priced; the operator is listed as unpriced
  by type (``domain::Type`` for a custom domain), with its count and share: its bytes stay in
  the totals, its flop are unknown (never zero silently);
* ``zero``: as unpriced, but the operator moves nothing either (counted as free, still listed);
* ``refuse``: one error naming every such operator.

An unknown operator's output needs a shape (ONNX cannot infer it): the graph's declaration of
it (``value_info`` or a graph output) is used; without one the error names the operator.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from typing import Any

from hetsim.errors import ConfigError
from hetsim.ingest.onnx_load import KV_NAMES, LoadedGraph, bind_and_infer
from hetsim.ingest.onnx_rules import FUSED_ATTENTION_OPS, NORM_FLOP, RULES, VIEW_OPS, Node, unsupported
from hetsim.ingest.patterns import mark_attention
from hetsim.ingest.records import GraphOp, IngestedGraph, Role, TensorUse, Unsupported
from hetsim.workload.dtypes import Precision

# onnx.TensorProto element types: floats take the analysed precision; others keep their size
FLOAT_TYPES = frozenset((1, 10, 11, 16, 17, 18, 19, 20, 23))
NATIVE_BITS = {2: 8, 3: 8, 4: 16, 5: 16, 6: 32, 7: 64, 9: 8, 12: 32, 13: 64, 21: 4, 22: 4}
SHAPE_PRESERVING = FUSED_ATTENTION_OPS | frozenset(NORM_FLOP) | {"Softmax", "LogSoftmax"}
FOLD_SOURCES = frozenset(("Constant", "Shape", "Size", "ConstantOfShape"))
KNOWN_DOMAINS = frozenset(("", "ai.onnx", "com.microsoft"))
UNKNOWN_OP = ("unpriced", "zero", "refuse")


def _attrs(node: Any) -> dict[str, object]:
    import onnx

    out: dict[str, object] = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def ingest_onnx(
    path: str | Path,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    *,
    batch: int = 1,
    seq_len: int = 1,
    unknown_op: str = "unpriced",
) -> IngestedGraph:
    """Count one pass of the ONNX graph at ``path`` with its inputs bound (see
    :func:`hetsim.ingest.onnx_load.bind_and_infer`); ``unknown_op`` as the module says."""
    if unknown_op not in UNKNOWN_OP:
        raise ConfigError(f"--unknown-op must be one of {', '.join(UNKNOWN_OP)}, got {unknown_op!r}")
    p = Path(path)
    lg = bind_and_infer(p, input_shapes or {}, batch=batch, seq_len=seq_len)
    return _count(p, lg, unknown_op)


def _label(node: Any) -> str:
    """``Type``, or ``domain::Type`` for an operator of a custom domain."""
    return node.op_type if node.domain in KNOWN_DOMAINS else f"{node.domain}::{node.op_type}"


def _unknown(path: Path, nodes: list[Any], static: set[str]) -> list[Any]:
    """The nodes that are run and have no counting rule (or a custom domain)."""
    out = []
    for node in nodes:
        ins = [x for x in node.input if x]
        if (
            node.op_type in FOLD_SOURCES
            or node.op_type in VIEW_OPS
            or (ins and all(x in static for x in ins))
        ):
            continue
        if node.op_type not in RULES or node.domain not in KNOWN_DOMAINS:
            out.append(node)
    return out


def _refuse_unknown(path: Path, unknown: list[Any]) -> None:
    kinds = Counter(_label(n) for n in unknown)
    told = ", ".join(f"{k} x{c}" for k, c in kinds.most_common())
    raise ConfigError(
        f"{path.name}: operators hetsim does not know: {told}; --unknown-op unpriced prices the rest "
        "and lists them (bytes counted, flop unknown), --unknown-op zero counts them as free"
    )


def _count(path: Path, lg: LoadedGraph, unknown_op: str = "unpriced") -> IngestedGraph:
    g = lg.model.graph
    graph_inputs = {vi.name for vi in g.input}
    graph_outputs = {vi.name for vi in g.output}
    static: set[str] = set(lg.weights)
    alias: dict[str, str] = {}  # view output -> the tensor it views
    nodes = list(g.node)
    folded = views = 0

    def root(name: str) -> str:
        while name in alias:
            name = alias[name]
        return name

    producer = {o: n for n in nodes for o in n.output if o}

    def use(name: str) -> TensorUse:
        info = lg.tensors.get(name)
        if info is None or info.shape is None:
            src = producer.get(name)
            if src is not None and (src.op_type not in RULES or src.domain not in KNOWN_DOMAINS):
                raise ConfigError(
                    f"{path.name}: node {src.name or src.op_type!r} is {_label(src)}, an operator hetsim "
                    f"does not know, and the graph declares no shape for its output {name!r}; declare "
                    "it (value_info) so the rest of the graph can be priced"
                )
            raise ConfigError(
                f"{path.name}: the shape of tensor {name!r} could not be inferred; bind every input "
                "with --input-shape NAME=AxBx..."
            )
        role: Role = "weight" if name in static else "activation"
        r = root(name)
        if (r in graph_inputs or name in graph_outputs) and KV_NAMES.search(r if r in graph_inputs else name):
            role = "kv"
        bits = None if info.elem_type in FLOAT_TYPES else NATIVE_BITS.get(info.elem_type, 32)
        n = 1.0
        for d in info.shape:
            n *= d
        return TensorUse(root(name), n, role, bits)

    if unknown_op == "refuse" and (unknown := _unknown(path, nodes, set(static))):
        _refuse_unknown(path, unknown)
    ops: list[GraphOp] = []
    for i, node in enumerate(nodes):
        ins = [x for x in node.input if x]
        if node.op_type in FOLD_SOURCES or (ins and all(x in static for x in ins)):
            static.update(node.output)
            folded += 1
            continue
        if node.op_type in VIEW_OPS:
            alias[node.output[0]] = node.input[0]
            views += 1
            continue
        name = node.name or f"{node.op_type}_{i}"
        out0 = lg.tensors.get(node.output[0])
        if (node.op_type in SHAPE_PRESERVING) and (out0 is None or out0.shape is None) and ins:
            # ops ONNX cannot infer here (contrib ops, function-bodied norms) keep the shape
            # of their first input: attention's output is shaped like Q
            lg.tensors[node.output[0]] = lg.tensors[node.input[0]]
        n = Node(
            name,
            node.op_type,
            _attrs(node),
            tuple(use(x) if x else None for x in node.input),
            tuple(use(x) for x in node.output if x),
            tuple(lg.tensors[x].shape if x else None for x in node.input),
            tuple(lg.tensors[x].shape for x in node.output if x),
        )
        rule = RULES.get(node.op_type)
        if rule is None or node.domain not in KNOWN_DOMAINS:
            ops.append(unsupported(dataclasses.replace(n, op_type=_label(node))))
        elif node.op_type == "Concat" and any(t is not None and t.role == "kv" for t in n.inputs):
            ops.append(_cache_update(n))
        else:
            ops.append(rule(n))
    ops = mark_attention(ops)
    unpriced = summarise_unsupported(ops)
    if unknown_op == "zero":  # free: not timed at all (no launch either), still listed
        ops = [o for o in ops if o.supported]
        if not ops:
            raise ConfigError(
                f"{path.name}: hetsim knows none of the graph's operators; nothing is left to price"
            )
    params = sum(
        _elems(lg.tensors[w].shape)
        for w in lg.weights
        if w in lg.tensors and lg.tensors[w].elem_type in FLOAT_TYPES
    )
    return IngestedGraph(
        name=path.stem,
        source=str(path),
        ops=tuple(ops),
        params=float(params),
        inputs=lg.data_inputs,
        outputs=frozenset(root(o) for o in graph_outputs),
        batch=lg.batch,
        unsupported=unpriced,
        unknown_op=unknown_op,
        folded_nodes=folded,
        view_nodes=views,
    )


def _cache_update(n: Node) -> GraphOp:
    """``Concat(past, new) -> present``: a static or paged cache writes only the new tokens
    (the copy of the past the ONNX semantics imply is not made by a serving runtime)."""
    new = tuple(t for t in n.inputs if t is not None and t.role != "kv")
    written = TensorUse(n.outputs[0].name, sum(t.elements for t in new), "kv", n.outputs[0].native_bits)
    return GraphOp(n.name, n.op_type, "other", "lookup", "vector", 0.0, 0.0, new, (written,))


def _elems(shape: tuple[int, ...] | None) -> float:
    n = 1.0
    for d in shape or ():
        n *= d
    return n


def summarise_unsupported(ops: list[GraphOp]) -> tuple[Unsupported, ...]:
    prec = Precision()
    total_bytes = sum(o.bytes_read(prec) + o.bytes_written(prec) for o in ops) or 1.0
    bad = [o for o in ops if not o.supported]
    counts = Counter(o.op_type for o in bad)
    out = []
    for op_type, c in counts.most_common():
        b = sum(o.bytes_read(prec) + o.bytes_written(prec) for o in bad if o.op_type == op_type)
        out.append(Unsupported(op_type, c, c / max(len(ops), 1), b / total_bytes))
    return tuple(out)
