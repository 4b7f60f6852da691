"""PyTorch ingestion (the ``torch`` extra): run a module on meta tensors (no weights, no
memory) under a dispatch mode that records, per aten op, the flop and the tensors it reads
and writes by role: parameters and buffers (``weight``), KV-cache tensors (``kv``, passed by
the caller), everything else ``activation``. The result is an :class:`IngestedGraph`, the
same records as ONNX ingestion, so fusion, pricing and the what-ifs apply unchanged.

Conventions (docs/ingest.md): matrix products 2 flop per multiply-add; elementwise and
normalisation ops as in :mod:`hetsim.ingest.onnx_rules`; ``scaled_dot_product_attention`` is
intercepted before it decomposes and recorded as one fused (flash-style) attention op,
counting causal pairs when ``is_causal``; views and GQA head repetition move nothing;
``embedding`` reads the rows it gathers; a cache update (``cat`` onto a KV tensor) writes only
the new tokens (a static or paged cache, not the copy ``DynamicCache`` makes).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from hetsim.ingest.onnx_rules import ELEMENTWISE_FLOP
from hetsim.ingest.patterns import mark_attention
from hetsim.ingest.records import GraphOp, IngestedGraph, OpClass, Role, TensorUse
from hetsim.workload.graph import expected_experts
from hetsim.workload.ops import OpKind

VIEW_OPS = frozenset(
    [
        "view",
        "_unsafe_view",
        "t",
        "transpose",
        "permute",
        "expand",
        "unsqueeze",
        "squeeze",
        "slice",
        "select",
        "alias",
        "detach",
        "reshape",
        "as_strided",
        "split",
        "split_with_sizes",
        "unbind",
        "chunk",
        "narrow",
        "unflatten",
        "flatten",
        "lift_fresh",
        "_reshape_alias",
    ]
)
SKIP_OPS = frozenset(
    ["empty", "empty_like", "zeros", "ones", "full", "arange", "scalar_tensor", "ones_like", "zeros_like"]
)
COPY_OPS = frozenset(
    [
        "clone",
        "copy",
        "contiguous",
        "cat",
        "stack",
        "index",
        "index_select",
        "gather",
        "index_put",
        "topk",
        "sort",
        "scatter",
        "scatter_add",
        "index_add",
        "bincount",
    ]
)
# aten name -> ONNX-style type, so the attention-pattern matcher and the rules table apply
ELEMENTWISE_ATEN = {
    "add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "neg": "Neg", "pow": "Pow", "rsqrt": "Sqrt",
    "sqrt": "Sqrt", "exp": "Exp", "silu": "Sigmoid", "sigmoid": "Sigmoid", "gelu": "Gelu", "tanh": "Tanh",
    "relu": "Relu", "where": "Where", "cos": "Cos", "sin": "Sin", "masked_fill": "Where", "erf": "Erf",
    "reciprocal": "Reciprocal", "_to_copy": "Cast", "floor_divide": "Div", "abs": "Abs", "maximum": "Max",
    "minimum": "Min", "clamp": "Clip",
}  # fmt: skip
SILU_FLOP = 4.0  # x * sigmoid(x): as the builders' SiLU


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        from hetsim.errors import ConfigError

        raise ConfigError("PyTorch ingestion needs the torch extra: pip install 'hetsim[torch]'") from exc
    return torch


def _numel(t: Any) -> float:
    return float(math.prod(t.shape))


class _IdMap:
    """A mapping keyed by tensor identity that forgets a tensor when it dies (tensors compare
    elementwise, so a WeakKeyDictionary cannot hold them)."""

    def __init__(self) -> None:
        self._d: dict[int, tuple[weakref.ref[Any], Any]] = {}

    def __setitem__(self, t: Any, value: Any) -> None:
        key = id(t)

        def forget(_ref: weakref.ref[Any]) -> None:
            self._d.pop(key, None)

        self._d[key] = (weakref.ref(t, forget), value)

    def get(self, t: Any, default: Any = None) -> Any:
        hit = self._d.get(id(t))
        return hit[1] if hit is not None and hit[0]() is t else default

    def __contains__(self, t: Any) -> bool:
        hit = self._d.get(id(t))
        return hit is not None and hit[0]() is t

    def __getitem__(self, t: Any) -> Any:
        return self._d[id(t)][1]


class _Recorder:
    """Roles of live tensors (weakly held) and the ops recorded so far."""

    def __init__(self, weights: Iterable[Any], kv: Iterable[Any]) -> None:
        self.role = _IdMap()  # tensor -> Role
        self.names = _IdMap()  # tensor -> its name in the records
        for t in weights:
            self.role[t] = "weight"
        for t in kv:
            self.role[t] = "kv"
        self.ops: list[GraphOp] = []
        self.top_k = 1
        self._next = 0

    def name(self, t: Any) -> str:
        n: str | None = self.names.get(t)
        if n is None:
            self._next += 1
            n = f"t{self._next}"
            self.names[t] = n
        return n

    def use(self, t: Any, role: Role | None = None) -> TensorUse:
        torch = _torch()
        bits = None if t.dtype.is_floating_point else (t.element_size() * 8 if t.dtype != torch.bool else 8)
        return TensorUse(self.name(t), _numel(t), role or self.role.get(t, "activation"), bits)

    def inherit(self, out: Any, src: Any) -> None:
        """``out`` is a view (or a free copy) of ``src``: same role, same name."""
        if src in self.role:
            self.role[out] = self.role[src]
        self.names[out] = self.name(src)

    def add(
        self,
        op_type: str,
        cls: OpClass,
        kind: OpKind,
        prefers: str,
        flop: float,
        reads: list[TensorUse],
        writes: list[TensorUse],
        macs: float = 0.0,
        mnk: tuple[float, float, float] = (0.0, 0.0, 0.0),
    ) -> None:
        name = f"{op_type}_{len(self.ops)}"
        self.ops.append(
            GraphOp(name, op_type, cls, kind, prefers, flop, macs, tuple(reads), tuple(writes), mnk)
        )


def _tensors(xs: Iterable[Any]) -> list[Any]:
    torch = _torch()
    out = []
    for x in xs:
        if isinstance(x, torch.Tensor):
            out.append(x)
        elif isinstance(x, list | tuple):
            out.extend(_tensors(x))
    return out


def _record(rec: _Recorder, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
    ins = _tensors(args) + _tensors(kwargs.values())
    outs = _tensors([out])
    if name.endswith("_") and not name.startswith("_"):
        name = name[:-1]  # in-place variant (div_, mul_): same work
    if name == "topk":
        rec.top_k = int(args[1])  # the MoE router's k, for the grouped expert GEMMs
    if name in SKIP_OPS or not outs:
        return
    if name in VIEW_OPS and ins:
        for o in outs:
            rec.inherit(o, ins[0])
        return
    kv_in = [t for t in ins if rec.role.get(t) == "kv"]
    if name in COPY_OPS and kv_in:
        if name == "cat":  # cache update: the new tokens are written to the cache
            new = [t for t in ins if rec.role.get(t) != "kv"]
            rec.add("Concat", "other", "lookup", "vector", 0.0, [rec.use(t) for t in new],
                    [rec.use(t, "kv") for t in new])  # fmt: skip
            for o in outs:
                rec.role[o] = "kv"
        else:  # GQA head repetition / casts of the cache: the kernel indexes it in place
            for o in outs:
                rec.inherit(o, kv_in[0])
        return
    reads = [rec.use(t) for t in ins]
    writes = [rec.use(o) for o in outs]
    y = outs[0]
    if name in ("mm", "addmm", "bmm", "baddbmm"):
        a, b = (ins[1], ins[2]) if name in ("addmm", "baddbmm") else (ins[0], ins[1])
        k = float(a.shape[-1])
        n = float(b.shape[-1])
        m = _numel(y) / n
        macs = m * n * k
        bias = _numel(y) if name in ("addmm", "baddbmm") else 0.0
        rec.add("MatMul", "matmul", "gemm", "matrix", 2 * macs + bias, reads, writes, macs, (m, n, k))
    elif name == "_grouped_mm":  # MoE experts: rows sorted by expert x stacked (E, K, N) weights
        a, b = ins[0], ins[1]
        k, n, experts = float(a.shape[-1]), float(b.shape[-1]), float(b.shape[0])
        rows = float(a.shape[0])  # token-expert pairs
        macs = rows * k * n
        # the experts the routed tokens touch, uniform routing (the builders' rule)
        touched = float(expected_experts(int(experts), rec.top_k, rows / rec.top_k))
        expert_w = TensorUse(rec.name(b), _numel(b) * touched / experts, rec.role.get(b, "weight"))
        mats = [expert_w if t.name == expert_w.name else t for t in reads]
        rec.add("MatMul", "matmul", "gemm", "matrix", 2 * macs, mats, writes, macs, (rows / touched, n, k))
    elif name == "convolution":
        w = ins[1]
        macs = _numel(y) * float(math.prod(w.shape[1:]))
        rec.add("Conv", "matmul", "gemm", "matrix", 2 * macs, reads, writes, macs)
    elif name == "embedding":  # rows gathered, not the table
        table = ins[0]
        gathered = TensorUse(rec.name(table), _numel(y), rec.role.get(table, "weight"))
        rec.add("Gather", "other", "lookup", "vector", 0.0, [gathered, *reads[1:]], writes)
    elif name in ("_softmax", "softmax", "_safe_softmax"):
        rec.add("Softmax", "elementwise", "softmax", "sfu", 5.0 * _numel(y), reads, writes)
    elif name in ("mean", "sum", "amax", "max", "min", "var_mean", "var", "histc", "cumsum", "argmax"):
        rec.add("ReduceMean", "elementwise", "norm", "vector", _numel(ins[0]), reads, writes)
    elif name in ("native_layer_norm", "native_group_norm", "_native_batch_norm_legit_no_training"):
        rec.add("LayerNormalization", "normalisation", "norm", "vector", 5.0 * _numel(ins[0]), reads, writes)
    elif name in ELEMENTWISE_ATEN:
        op_type = ELEMENTWISE_ATEN[name]
        per = SILU_FLOP if name == "silu" else ELEMENTWISE_FLOP[op_type]
        rec.add(op_type, "elementwise", "elementwise", "vector", per * _numel(y), reads, writes)
    elif name in COPY_OPS:
        rec.add("Copy", "other", "lookup", "vector", 0.0, reads, writes)
    else:
        rec.add(f"aten.{name}", "other", "lookup", "vector", 0.0, reads, writes)
        rec.ops[-1] = _unsupported(rec.ops[-1])


def _unsupported(op: GraphOp) -> GraphOp:
    return GraphOp(op.name, op.op_type, op.op_class, op.kind, op.prefers, 0.0, 0.0, op.reads, op.writes,
                   supported=False)  # fmt: skip


def _sdpa(rec: _Recorder, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Record one fused attention op; return an output of the right shape (never computed)."""
    torch = _torch()
    q, k, v = args[:3]
    causal = bool(kwargs.get("is_causal", args[5] if len(args) > 5 else False))
    b, h, sq = q.shape[0], q.shape[-3] if q.dim() == 4 else 1, q.shape[-2]
    sk, d, dv = k.shape[-2], q.shape[-1], v.shape[-1]
    # causal with the queries at the end of the keys: each query sees the keys up to itself
    pairs = float(b * h * (sq * sk - sq * (sq - 1) / 2 if causal else sq * sk))
    macs = pairs * (d + dv)
    out = torch.empty((*q.shape[:-1], dv), dtype=q.dtype, device=q.device)
    reads = [rec.use(t) for t in (q, k, v)]
    mask = kwargs.get("attn_mask", args[3] if len(args) > 3 else None)
    if isinstance(mask, torch.Tensor):
        reads.append(rec.use(mask))
    rec.add(
        "Attention", "attention", "attention", "matrix", 2 * macs + 5 * pairs, reads, [rec.use(out)], macs
    )
    return out


def trace(
    fn: Callable[[], Any],
    *,
    name: str,
    weights: Iterable[Any],
    kv: Iterable[Any] = (),
    batch: int = 1,
    inputs: tuple[tuple[str, tuple[int, ...]], ...] = (),
) -> IngestedGraph:
    """Run ``fn`` (a forward pass on meta tensors) under the recorder and return its graph.
    ``weights`` are the parameters and buffers, ``kv`` the KV-cache tensors passed in."""
    torch = _torch()
    from torch.overrides import TorchFunctionMode
    from torch.utils._python_dispatch import TorchDispatchMode

    weights = list(weights)
    rec = _Recorder(weights, kv)

    class Dispatch(TorchDispatchMode):  # type: ignore[no-untyped-call]
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            _record(rec, func.overloadpacket.__name__, args, kwargs, out)
            return out

    sdpa = torch.nn.functional.scaled_dot_product_attention

    class Functions(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            if func is sdpa:
                return _sdpa(rec, args, kwargs or {})
            return func(*args, **(kwargs or {}))

    with torch.no_grad(), Functions(), Dispatch():  # type: ignore[no-untyped-call]
        fn()
    ops = mark_attention(rec.ops)
    params = sum(_numel(t) for t in weights if t.dtype.is_floating_point)
    outputs = frozenset(t.name for t in ops[-1].writes) if ops else frozenset()
    return IngestedGraph(name, "torch", tuple(ops), params, inputs, outputs, batch,
                         _unsupported_summary(ops))  # fmt: skip


def _unsupported_summary(ops: list[GraphOp]) -> tuple[Any, ...]:
    from hetsim.ingest.onnx_ingest import summarise_unsupported

    return summarise_unsupported(ops)


def trace_module(
    module: Any, *args: Any, name: str = "module", kv: Iterable[Any] = (), batch: int = 1
) -> IngestedGraph:
    """Trace ``module(*args)``. Build the module and its inputs on the meta device (``with
    torch.device("meta"): ...``) so that no weight is allocated; tensors in ``kv`` are the
    KV cache."""
    weights = [*module.parameters(), *module.buffers()]
    shapes = tuple(
        (f"arg{i}", tuple(int(d) for d in a.shape)) for i, a in enumerate(args) if hasattr(a, "shape")
    )
    return trace(lambda: module(*args), name=name, weights=weights, kv=kv, batch=batch, inputs=shapes)
