"""Evaluate the shape sub-graphs of a graph whose inputs are bound, so that ONNX shape
inference can resolve the ``Reshape`` / ``Expand`` targets a dynamic-axes export computes at
run time (``Shape -> Gather -> Concat -> Where -> Expand`` and the like).

Integer tensors that depend only on constants and on the (now known) shapes of other tensors
are computed with NumPy and written back as ``Constant`` nodes; inference then runs again.
Only small shape arithmetic is evaluated (the ops in ``EVAL``); anything else is left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Arrays = list[Any]
MAX_ELEMENTS = 64  # shape tensors are tiny; never evaluate data
CAST_TO = {6: np.int32, 7: np.int64, 9: np.bool_}  # onnx.TensorProto integer/bool types


def _slice(a: Arrays, at: dict[str, Any]) -> Any:
    x, starts, ends = a[0], a[1], a[2]
    axes = a[3] if len(a) > 3 and a[3] is not None else range(len(starts))
    steps = a[4] if len(a) > 4 and a[4] is not None else [1] * len(starts)
    idx = [slice(None)] * x.ndim
    for s, e, ax, st in zip(starts, ends, axes, steps, strict=False):
        idx[int(ax)] = slice(int(s), int(e), int(st))
    return x[tuple(idx)]


def _unsqueeze(a: Arrays, at: dict[str, Any]) -> Any:
    axes = a[1] if len(a) > 1 else at.get("axes", [])
    x = a[0]
    for ax in sorted(int(v) % (x.ndim + len(axes)) for v in axes):
        x = np.expand_dims(x, ax)
    return x


def _squeeze(a: Arrays, at: dict[str, Any]) -> Any:
    axes = a[1] if len(a) > 1 else at.get("axes")
    return np.squeeze(a[0], axis=tuple(int(v) for v in axes) if axes is not None else None)


EVAL: dict[str, Callable[[Arrays, dict[str, Any]], Any]] = {
    "Gather": lambda a, at: np.take(a[0], a[1], axis=int(at.get("axis", 0))),
    "Concat": lambda a, at: np.concatenate([np.atleast_1d(x) for x in a], axis=int(at.get("axis", 0))),
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Slice": _slice,
    "Cast": lambda a, at: a[0].astype(CAST_TO[int(at["to"])]) if int(at.get("to", 0)) in CAST_TO else None,
    "Identity": lambda a, at: a[0],
    "Reshape": lambda a, at: a[0].reshape([int(v) for v in a[1]]) if 0 not in list(a[1]) else None,
    "Add": lambda a, at: a[0] + a[1],
    "Sub": lambda a, at: a[0] - a[1],
    "Mul": lambda a, at: a[0] * a[1],
    "Div": lambda a, at: a[0] // a[1] if np.issubdtype(np.asarray(a[0]).dtype, np.integer) else a[0] / a[1],
    "Equal": lambda a, at: np.equal(a[0], a[1]),
    "Where": lambda a, at: np.where(a[0], a[1], a[2]),
    "ConstantOfShape": lambda a, at: np.full([int(v) for v in a[0]], _const_value(at), dtype=np.int64),
    "Range": lambda a, at: np.arange(a[0], a[1], a[2]),
}


def _const_value(at: dict[str, Any]) -> Any:
    from onnx import numpy_helper

    v = at.get("value")
    return numpy_helper.to_array(v).reshape(-1)[0] if v is not None else 0


def fold_shape_values(model: Any, shapes: dict[str, tuple[int, ...]]) -> int:
    """Replace, in place, the nodes of ``model`` whose integer outputs can be computed from
    constants and known shapes by ``Constant`` nodes. Returns how many were replaced."""
    from onnx import helper, numpy_helper

    known: dict[str, Any] = {}
    for t in model.graph.initializer:
        if t.data_type in (6, 7) and np.prod(t.dims) <= MAX_ELEMENTS:
            known[t.name] = numpy_helper.to_array(t)
    replaced = 0
    nodes = list(model.graph.node)
    new_nodes = []
    for node in nodes:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        value = None
        if node.op_type == "Constant" and "value" in attrs:
            known[node.output[0]] = numpy_helper.to_array(attrs["value"])
        elif node.op_type == "Shape" and shapes.get(node.input[0]) is not None:
            shp = np.array(shapes[node.input[0]], dtype=np.int64)
            value = shp[attrs.get("start", 0) : attrs.get("end", len(shp))]
        elif node.op_type in EVAL and all((not x) or x in known for x in node.input) and node.input:
            try:
                value = EVAL[node.op_type]([known[x] if x else None for x in node.input], attrs)
            except (ValueError, IndexError, TypeError):
                value = None
        if value is not None and np.size(value) <= MAX_ELEMENTS:
            arr = np.asarray(value)
            if arr.dtype in (np.bool_, np.int32, np.int64):
                known[node.output[0]] = arr
                new_nodes.append(
                    helper.make_node(
                        "Constant", [], [node.output[0]], value=numpy_helper.from_array(arr, node.output[0])
                    )
                )
                replaced += 1
                continue
        new_nodes.append(node)
    if replaced:
        del model.graph.node[:]
        model.graph.node.extend(new_nodes)
    return replaced
