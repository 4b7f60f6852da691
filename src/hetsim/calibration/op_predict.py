"""Per-op prediction: one named op of a named model at a batch, length and TP, priced by the
cost model (the same op graph and pricing as a whole run; only the op is returned).

Op names are read in three vocabularies and mapped to the op graph
(:func:`hetsim.workload.graph.build_ops`):

- the graph's own names (``qkv_proj``, ``attention``, ``out_proj``, ``ffn_up``, ``ffn_act``,
  ``ffn_down``, ``attn_norm``, ``ffn_norm``, ``attn_allreduce``, ``lm_head``, ...);
- LLMCompass's transformer-block breakdown (Zhang et al., ISCA 2024, the artifact's per-op
  latency columns ``Q_K_V``, ``Q_mul_K``, ``A_mul_V``, ``Wo_proj``, ``W1_proj``, ``W2_proj``,
  ``Softmax``, ``LayerNorm_MHA``, ``LayerNorm_FFN``, ``GeLU``, ``AllReduce_MHA``,
  ``AllReduce_FFN``): the attention is unfused there (two batched matmuls around a softmax),
  so ``Q_mul_K`` / ``Softmax`` / ``A_mul_V`` are the graph's unfused ``attn_score`` /
  ``softmax`` / ``attn_context``;
- Vidur's operator names (``attn_pre_proj``, ``attn_post_proj``, ``mlp_up_proj``,
  ``mlp_down_proj``, ``mlp_act``, ``input_layernorm``, ``post_attention_layernorm``).

Matching is case-insensitive; a model that mixes layer kinds names its ops ``kind.op``
(``moe.ffn_up``), and a bare op name matches the first such op. The time is one repetition
(one layer) of the op: kernel time, no launch gap (calibrated devices), as the kernel rows are
timed. A prefill op runs ``batch`` sequences of ``input_len`` tokens; a decode op is one step
at a context of ``input_len`` cached tokens (plus half the output, the mean step, when
``output_len`` > 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hetsim.cost.collectives import Fabric
from hetsim.cost.roofline import Cost, collective_cost, op_cost
from hetsim.errors import ConfigError
from hetsim.hardware.loader import get_hardware
from hetsim.hardware.spec import Device
from hetsim.workload.dtypes import Precision
from hetsim.workload.graph import AttentionImpl, build_ops
from hetsim.workload.model import ModelSpec
from hetsim.workload.ops import FloatArray, Op
from hetsim.workload.registry import get_model

# measurement vocabulary (lower case) -> op graph name
OP_NAMES: dict[str, str] = {
    # LLMCompass's per-op breakdown
    "q_k_v": "qkv_proj", "q_mul_k": "attn_score", "a_mul_v": "attn_context", "wo_proj": "out_proj",
    "w1_proj": "ffn_up", "w2_proj": "ffn_down", "softmax": "softmax", "layernorm_mha": "attn_norm",
    "layernorm_ffn": "ffn_norm", "gelu": "ffn_act", "allreduce_mha": "attn_allreduce",
    "allreduce_ffn": "ffn_allreduce",
    # Vidur's operator names
    "attn_pre_proj": "qkv_proj", "attn_post_proj": "out_proj", "mlp_up_proj": "ffn_up",
    "mlp_down_proj": "ffn_down", "mlp_act": "ffn_act", "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
}  # fmt: skip
UNFUSED = ("attn_score", "softmax", "attn_context")  # ops of the unfused attention only
PHASES = ("prefill", "decode")


@dataclass(frozen=True, slots=True)
class OpPrediction:
    """One repetition (one layer) of a named op, priced: seconds and what bounds it."""

    op: str  # the op graph's name
    phase: str
    time_s: float
    compute_s: float
    memory_s: float
    flop: float
    bytes: float
    bound: str  # 'compute', 'memory' or 'link'


def graph_name(name: str) -> str:
    """The op graph's name for a measurement op name (``Q_K_V`` -> ``qkv_proj``)."""
    key = name.strip().lower()
    return OP_NAMES.get(key, key)


def find_op(ops: list[Op], name: str) -> Op | None:
    """The op called ``name`` (or ``kind.name`` in a model mixing layer kinds)."""
    for o in ops:
        if o.name == name or o.name.split(".", 1)[-1] == name:
            return o
    return None


def op_graph(
    model: ModelSpec, prec: Precision, phase: str, batch: float | FloatArray, input_len: float | FloatArray,
    output_len: float | FloatArray, tp: int, unfused: bool,
) -> list[Op]:  # fmt: skip
    """The pass an op of ``phase`` belongs to (arrays broadcast: one entry per row)."""
    if phase not in PHASES:
        raise ConfigError(f"phase {phase!r}: choose prefill or decode")
    attention: AttentionImpl = "unfused" if unfused else "fused"
    if phase == "prefill":
        return build_ops(model, prec, phase="prefill", batch=batch, q_len=input_len, context=input_len, tp=tp,
                         attention=attention)  # fmt: skip
    extra = np.maximum(np.asarray(output_len, dtype=float) - 1.0, 0.0) / 2.0
    context = np.asarray(input_len, dtype=float) + extra
    return build_ops(model, prec, phase="decode", batch=batch, q_len=1.0, context=context, tp=tp,
                     attention=attention)  # fmt: skip


def price_one(op: Op, dev: Device, prec: Precision, tp: int) -> Cost:
    """One repetition of ``op`` on ``dev``: kernel time without a launch gap (calibrated), or
    with the preset's kernel overhead (datasheet roofline); a collective on the device's fabric."""
    one = Op(**{**{f: getattr(op, f) for f in op.__dataclass_fields__}, "count": 1})
    kp = dev.kernels
    if one.kind == "collective":
        return collective_cost(one, dev.interconnect, tp, kp, Fabric.of(dev))
    side = dev.primary
    overhead = 0.0 if kp is not None else dev.kernel_overhead_s
    return op_cost(one, side.unit_for(one.prefers), side.memory, prec, overhead_s=overhead, kernels=kp,
                   vector=side.unit_for("vector"))  # fmt: skip


def predict_op(
    model: ModelSpec | str,
    hardware: Device | str,
    op: str,
    *,
    phase: str,
    batch: int,
    input_len: int,
    output_len: int = 1,
    tp: int = 1,
    precision: Precision | None = None,
) -> OpPrediction:
    """One named op of ``model`` on ``hardware`` (see the module text for the names)."""
    m = model if isinstance(model, ModelSpec) else get_model(model)
    dev, prec = get_hardware(hardware), precision or Precision()
    if batch < 1 or input_len < 1 or output_len < 1 or tp < 1:
        raise ConfigError("batch, input_len, output_len and tp must all be at least 1")
    name = graph_name(op)
    ops = op_graph(m, prec, phase, float(batch), float(input_len), float(output_len), tp, name in UNFUSED)
    found = find_op(ops, name)
    if found is None:
        known = ", ".join(sorted({o.name for o in ops} | set(OP_NAMES)))
        raise ConfigError(
            f"op {op!r} is not an op of {m.name}'s {phase} pass at tp {tp}; choose from {known}"
        )
    c = price_one(found, dev, prec, tp)

    def f(x: object) -> float:
        return float(np.asarray(x).reshape(-1)[0])

    bound = "link" if found.kind == "collective" else c.bound
    return OpPrediction(found.name, phase, f(c.time_s), f(c.compute_s), f(c.memory_s), f(c.flop),
                        f(c.bytes), bound)  # fmt: skip


def row_op(metric: str) -> tuple[str, str]:
    """(phase, op name in the graph) of a ``prefill_op_latency:X`` / ``decode_op_latency:X`` metric."""
    head, _, name = metric.partition(":")
    return head.split("_")[0], graph_name(name)


def rows_op(
    model: ModelSpec, phase: str, name: str, batch: FloatArray, input_len: FloatArray, output_len: FloatArray,
    tp: int, prec: Precision,
) -> Op | None:  # fmt: skip
    """The array-valued op ``name`` of ``model``'s ``phase`` pass at each row's batch and lengths."""
    ops = op_graph(model, prec, phase, batch, input_len, output_len, tp, name in UNFUSED)
    return find_op(ops, name)
