"""Read an ONNX file, bind its input shapes and infer every tensor's shape.

Binding rules (stated in ``docs/ingest.md``):

* data inputs are the graph inputs that are not initialisers; when a graph has no
  initialisers at all (exported with ``export_params=False``), an input whose shape is fully
  static and that ``--input-shape`` does not name is a *weight* input instead;
* ``--input-shape NAME=1x3x224x224`` fixes one data input; otherwise a symbolic dimension
  named like a batch (``batch``, ``batch_size``, ``N``) takes ``batch`` and one named like a
  sequence (``sequence``, ``seq_len``, ``tokens``) takes ``seq_len``; any other symbolic
  dimension is an error that names the input and the flag to pass.

Shapes are then propagated by ONNX's own shape inference with data propagation (so shape
sub-graphs such as ``Shape -> Gather -> Concat -> Reshape`` resolve). A tensor inference leaves
unknown (the output of a custom-domain operator ONNX has no shape function for) takes the shape
the graph declares for it (``value_info`` or a graph output), its batch- and sequence-named
dimensions bound as above.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hetsim.errors import ConfigError
from hetsim.ingest.shape_fold import fold_shape_values

BATCH_DIMS = re.compile(r"^(batch|batch_size|n|b|bs|num_images)$", re.IGNORECASE)
SEQ_DIMS = re.compile(r"^(sequence|sequence_length|seq|seq_len|tokens|num_tokens)$", re.IGNORECASE)
KV_NAMES = re.compile(r"(past|present|cache)", re.IGNORECASE)
FOLD_ROUNDS = 6


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:  # the onnx extra is not installed
        raise ConfigError("reading .onnx files needs the onnx extra: pip install 'hetsim[onnx]'") from exc
    return onnx


def parse_input_shapes(specs: list[str] | None) -> dict[str, tuple[int, ...]]:
    """``["x=1x3x224x224", ...]`` -> ``{"x": (1, 3, 224, 224)}``."""
    out: dict[str, tuple[int, ...]] = {}
    for spec in specs or []:
        name, sep, dims = spec.rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.lower().split("x"))
        except ValueError:
            shape = ()
        if not sep or not name or not shape or min(shape) < 1:
            raise ConfigError(
                f"--input-shape {spec!r}: write NAME=DIMSxDIMS... with positive sizes, e.g. x=1x3x224x224"
            )
        out[name] = shape
    return out


@dataclass(frozen=True, slots=True)
class TensorInfo:
    shape: tuple[int, ...] | None  # None where inference could not resolve it
    elem_type: int  # onnx.TensorProto data type


@dataclass(frozen=True, slots=True)
class LoadedGraph:
    model: Any  # onnx.ModelProto with bound inputs and inferred value_info
    tensors: dict[str, TensorInfo]
    weights: frozenset[str]  # initialisers and weight inputs
    data_inputs: tuple[tuple[str, tuple[int, ...]], ...]
    batch: int
    declared: frozenset[str] = frozenset()  # tensors whose shape came from the graph's declaration


def load_model(path: Path) -> Any:
    """The ModelProto of ``path`` without external weight data (one-line errors)."""
    onnx = _onnx()
    if not path.is_file():
        raise ConfigError(f"--model {path}: no such file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise ConfigError(
            f"{path}: not a readable ONNX file ({type(exc).__name__}); is it truncated? re-export it"
        ) from None
    if not model.graph.node:
        raise ConfigError(f"{path}: the ONNX graph has no nodes (truncated or not an ONNX model?)")
    return model


def _dims(vi: Any) -> list[int | str | None]:
    tt = vi.type.tensor_type
    if not tt.HasField("shape"):
        return []
    out: list[int | str | None] = []
    for d in tt.shape.dim:
        if d.HasField("dim_value"):
            out.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            out.append(d.dim_param)
        else:
            out.append(None)
    return out


def _bind(
    path: Path, name: str, dims: list[int | str | None], given: tuple[int, ...] | None, batch: int, seq: int
) -> tuple[int, ...]:
    shown = "x".join(str(d) if d is not None else "?" for d in dims)
    if given is not None:
        if len(given) != len(dims) or any(
            isinstance(d, int) and d != g for d, g in zip(dims, given, strict=False)
        ):
            raise ConfigError(
                f"--input-shape {name}={'x'.join(map(str, given))} does not match the graph's "
                f"{name} of shape {shown} in {path.name}"
            )
        return given
    out = []
    for i, d in enumerate(dims):
        if isinstance(d, int):
            out.append(d)
        elif isinstance(d, str) and BATCH_DIMS.match(d):
            out.append(batch)
        elif isinstance(d, str) and SEQ_DIMS.match(d):
            out.append(seq)
        else:
            label = f"'{d}'" if d else "unnamed"
            raise ConfigError(
                f"{path.name}: input {name!r} dimension {i} ({label}) of shape {shown} is unbound; "
                f"pass --input-shape {name}=" + "x".join(str(x) if isinstance(x, int) else "N" for x in dims)
            )
    return tuple(out)


def bind_and_infer(
    path: Path, given: dict[str, tuple[int, ...]], *, batch: int = 1, seq_len: int = 1
) -> LoadedGraph:
    """Load ``path``, bind its data inputs, and infer all shapes."""
    onnx = _onnx()
    model = load_model(path)
    g = model.graph
    inits = {t.name for t in g.initializer}
    graph_inputs = [vi for vi in g.input if vi.name not in inits]
    unknown = sorted(set(given) - {vi.name for vi in graph_inputs})
    if unknown:
        names = ", ".join(vi.name for vi in graph_inputs[:6]) + (", ..." if len(graph_inputs) > 6 else "")
        raise ConfigError(f"--input-shape names {', '.join(unknown)}, not an input of {path.name} ({names})")
    weights = set(inits)
    data: list[tuple[str, tuple[int, ...]]] = []
    batch_bound = 1
    for vi in graph_inputs:
        dims = _dims(vi)
        static = bool(dims) and all(isinstance(d, int) for d in dims)
        if not inits and static and vi.name not in given and not KV_NAMES.search(vi.name) and data:
            weights.add(vi.name)  # export_params=False: parameters arrive as static inputs
            continue
        shape = _bind(path, vi.name, dims, given.get(vi.name), batch, seq_len)
        if vi.name in given and dims and not isinstance(dims[0], int):
            batch_bound = shape[0]  # a symbolic leading dimension is the batch
        elif any(isinstance(d, str) and BATCH_DIMS.match(d) for d in dims):
            batch_bound = batch
        data.append((vi.name, shape))
        tt = vi.type.tensor_type
        tt.shape.Clear()
        for s in shape:
            tt.shape.dim.add().dim_value = s
    declared = _declared(g, batch, seq_len)
    del g.value_info[:]
    for out in g.output:  # let inference recompute outputs from the bound inputs
        out.type.tensor_type.ClearField("shape")
    tensors: dict[str, TensorInfo] = {}
    for i in range(FOLD_ROUNDS):  # infer, compute shape sub-graphs, infer again
        inferred = _infer(onnx, path, model)
        tensors = _tensor_infos(inferred)
        known = {k: v.shape for k, v in tensors.items() if v.shape is not None}
        model = inferred
        resolved = all(o in known for node in model.graph.node for o in node.output if o)
        if resolved or i == FOLD_ROUNDS - 1:
            break
        declared_now = _declare(onnx, model, declared, known)  # a custom op's declared output
        if not (fold_shape_values(model, known) or declared_now):
            break  # folding only serves to resolve shapes inference left unknown
    for t in inferred.graph.initializer:
        tensors[t.name] = TensorInfo(tuple(int(d) for d in t.dims), t.data_type)
    filled = set()
    for name, info in declared.items():  # what inference could not resolve, the graph declares
        if tensors.get(name) is None or tensors[name].shape is None:
            elem = tensors[name].elem_type if name in tensors and tensors[name].elem_type else info.elem_type
            tensors[name] = TensorInfo(info.shape, elem)
            filled.add(name)
    return LoadedGraph(inferred, tensors, frozenset(weights), tuple(data), batch_bound, frozenset(filled))


def _declare(onnx: Any, model: Any, declared: dict[str, TensorInfo], known: dict[str, Any]) -> bool:
    """Give inference the declared shape of each tensor it left unknown; True if any."""
    added = False
    for name, info in declared.items():
        if name not in known:
            vi = onnx.helper.make_tensor_value_info(name, info.elem_type, list(info.shape or ()))
            model.graph.value_info.append(vi)
            known[name] = info.shape
            added = True
    return added


def _declared(g: Any, batch: int, seq: int) -> dict[str, TensorInfo]:
    """Shapes the graph declares for its intermediate tensors and outputs (static, or with
    batch- and sequence-named dimensions), before inference replaces them."""
    out: dict[str, TensorInfo] = {}
    for vi in [*g.value_info, *g.output]:
        dims = _dims(vi)
        if not dims:
            continue
        shape = []
        for d in dims:
            if isinstance(d, int) and d > 0:
                shape.append(d)
            elif isinstance(d, str) and (BATCH_DIMS.match(d) or SEQ_DIMS.match(d)):
                shape.append(batch if BATCH_DIMS.match(d) else seq)
            else:
                break
        else:
            out[vi.name] = TensorInfo(tuple(shape), vi.type.tensor_type.elem_type)
    return out


def _infer(onnx: Any, path: Path, model: Any) -> Any:
    try:
        return onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except Exception as exc:
        text = str(exc).strip()
        msg = text.splitlines()[-1][:200] if text else type(exc).__name__
        raise ConfigError(
            f"{path.name}: shape inference failed with the bound input shapes ({msg}); "
            "check --input-shape / --batch / --input-len"
        ) from None


def _tensor_infos(model: Any) -> dict[str, TensorInfo]:
    tensors: dict[str, TensorInfo] = {}
    for vi in [*model.graph.input, *model.graph.value_info, *model.graph.output]:
        dims = _dims(vi)
        shape = tuple(d for d in dims if isinstance(d, int))
        ok = vi.type.tensor_type.HasField("shape") and len(shape) == len(dims)
        tensors[vi.name] = TensorInfo(shape if ok else None, vi.type.tensor_type.elem_type)
    return tensors
