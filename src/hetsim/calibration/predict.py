"""Predict measured rows with the project's own cost model.

Kernel rows become :class:`~hetsim.workload.ops.Op` records built by
:func:`~hetsim.workload.graph.build_ops` (Vidur's per-layer GEMMs, activation and norm) or
with the same formulas (LLMCompass softmax / layernorm / GELU, stream kernels), priced by
:func:`~hetsim.cost.roofline.op_cost`; collectives by
:func:`~hetsim.cost.roofline.collective_cost`; end-to-end rows by
:func:`~hetsim.sim.inference.sweep`. Rows of one hardware and kind are merged into one op
with array-valued counts, so pricing 10k rows is a handful of vectorised calls (and a fit can
re-price them hundreds of times).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from functools import cache
from typing import Literal

import numpy as np

from hetsim.calibration.e2e import (
    E2ETask,
    e2e_reason,
    e2e_tasks,
    is_e2e,
    model_for,
    precision_for,
    predict_e2e,
    weight_only_fallback,
)
from hetsim.calibration.kernel_rows import GEMM_METRICS, allreduce_op, attention_ops, bus_factor, gemm_tasks
from hetsim.calibration.measurements import Measurement
from hetsim.calibration.op_predict import row_op, rows_op
from hetsim.calibration.steady import steady_state
from hetsim.calibration.vocabulary import precision_of
from hetsim.calibration.wallclock import benchmarked_op, stream_op, timing_profile
from hetsim.cost.collectives import Fabric
from hetsim.cost.roofline import collective_cost, has_matrix_rate, op_cost
from hetsim.errors import ConfigError, HetsimError
from hetsim.hardware.loader import get_hardware
from hetsim.hardware.spec import Device
from hetsim.workload.dtypes import Precision
from hetsim.workload.graph import build_ops
from hetsim.workload.model import ModelSpec
from hetsim.workload.ops import AllReduceImpl, FloatArray, Op

FP16 = Precision()
VIDUR_OPS = {
    "attn_pre_proj": "qkv_proj",
    "attn_post_proj": "out_proj",
    "mlp_up_proj": "ffn_up",
    "mlp_down_proj": "ffn_down",
    "mlp_act": "ffn_act",
    "input_layernorm": "attn_norm",
}
Kind = Literal["time", "rate"]


@dataclass(frozen=True, slots=True)
class Task:
    """Rows of one hardware priced together. ``numer`` turns a time into the row's rate
    (flop, elements or bytes per call) when ``kind == 'rate'``."""

    hardware: str
    family: str  # 'kernel', 'collective', 'e2e'
    rows: tuple[Measurement, ...]
    op: Op | None = None
    kind: Kind = "time"
    numer: FloatArray | None = None
    tp: int = 1
    e2e: E2ETask | None = None
    host_s: FloatArray | None = None  # per row: what a host wall clock adds (calibration/wallclock.py)
    prec: Precision = FP16  # the data types the kernel ran at (GEMM rows: FP8, FP4)
    more_ops: tuple[Op, ...] = ()  # ops run after ``op`` whose times add (unfused attention)
    post: FloatArray | None = None  # per row: a factor applied to the priced rate (bus bandwidth)


def _concat_ops(ops: Sequence[Op]) -> Op:
    """One op whose numeric fields are the concatenation of ``ops``' (same kind)."""
    first = ops[0]
    values: dict[str, object] = {}
    for f in fields(Op):
        vals = [getattr(o, f.name) for o in ops]
        keep = isinstance(vals[0], str | int | AllReduceImpl) and not isinstance(vals[0], bool)
        if keep and f.name != "count":
            values[f.name] = vals[0]
        elif f.name == "count":
            values[f.name] = 1
        else:
            parts = [np.broadcast_to(np.asarray(v, dtype=float), np.shape(o.flop)).reshape(-1)
                     for v, o in zip(vals, ops, strict=True)]  # fmt: skip
            values[f.name] = np.concatenate(parts)
    return replace(first, **values)  # type: ignore[arg-type]


def _vidur_model(r: Measurement) -> ModelSpec:
    d = r.dims
    e, h = int(d["E"]), int(d["H"])
    return ModelSpec(
        name="vidur-layer", n_layers=1, d_model=e, n_heads=h, n_kv_heads=int(d["KV"]),
        head_dim=e // h, d_ff=int(d["F"]), vocab_size=32000,
        ffn="gated" if d.get("gated", 1.0) else "plain",
    )  # fmt: skip


def _vidur_ops(rows: list[Measurement], skipped: Counter[str]) -> list[tuple[list[Measurement], Op]]:
    """Build the layer's ops once per (model dims, tp) and pick each row's op."""
    out: list[tuple[list[Measurement], Op]] = []
    groups: dict[tuple[tuple[tuple[str, float], ...], int, str], list[Measurement]] = defaultdict(list)
    for r in rows:
        groups[(tuple(sorted(r.dims.items())), r.tp, r.metric)].append(r)
    for (_, tp, metric), rs in groups.items():
        name = VIDUR_OPS[metric.split(":", 1)[1]]
        try:
            model = _vidur_model(rs[0])
            t = np.array([float(r.num_tokens or 0) for r in rs])
            ops = build_ops(model, FP16, phase="prefill", batch=1.0, q_len=t, context=t, tp=int(tp),
                            include_embeddings=False)  # fmt: skip
        except (ConfigError, KeyError, ZeroDivisionError):
            skipped["unsupported_shape"] += len(rs)
            continue
        op = next(o for o in ops if o.name == name)
        if op.kind == "gemm":  # the row's own shape is ground truth (it equals ours for Vidur)
            g = [(r.gemm_m, r.gemm_n, r.gemm_k) for r in rs]
            if all(None not in x for x in g):
                arr = np.array(g, dtype=float)
                op = replace(op, gemm_m=arr[:, 0], gemm_n=arr[:, 1], gemm_k=arr[:, 2])
        out.append((rs, op))
    return out


def _elementwise_op(kind: str, r: Measurement) -> tuple[Op, float]:
    """(op, elements) for LLMCompass softmax / layernorm / GELU rows, as graph.py counts them."""
    e = float(r.elements or 0.0)
    n = float(r.dims.get("op_N", e))
    ab = 2.0
    if kind == "softmax":
        op = Op("softmax", "attention", "softmax", "sfu", 1, flop=5.0 * e, act_read_bytes=e * ab,
                act_write_bytes=e * ab)  # fmt: skip
    elif kind == "layernorm":
        op = Op("norm", "norm", "norm", "vector", 1, flop=5.0 * e, weight_bytes=2 * n * ab,
                act_read_bytes=e * ab, act_write_bytes=e * ab)  # fmt: skip
    else:
        op = Op("gelu", "fc", "elementwise", "vector", 1, flop=8.0 * e, act_read_bytes=e * ab,
                act_write_bytes=e * ab)  # fmt: skip
    return op, e


def _host_s(rows: Sequence[Measurement]) -> FloatArray | None:
    """Per row, the host floor its timing profile adds (None: every row is CUDA time)."""
    profiles = [timing_profile(r) for r in rows]
    if all(p is None for p in profiles):
        return None
    return np.array([p.floor_s(benchmarked_op(r)) if p else 0.0 for p, r in zip(profiles, rows, strict=True)])


STREAM_BYTES = 2.0**30  # gpu-stream sizes its arrays far beyond the caches: price 1 GiB


def _stream_op(r: Measurement) -> Op:
    kernel = r.metric.split(":", 1)[1] if ":" in r.metric else "read"  # achieved_memory_bandwidth
    reads = {"init": 0, "read": 1, "scale": 1, "triad": 2}.get(kernel, 1)
    writes = 0 if kernel == "read" else 1
    per = STREAM_BYTES / max(reads + writes, 1)
    # a pure streaming copy: priced like a gather ("lookup"), at the memory-streaming fraction
    return Op("stream", "embed", "lookup", "vector", 1, flop=0.0, act_read_bytes=reads * per,
              act_write_bytes=writes * per)  # fmt: skip


KERNEL_METRICS = {
    **{m: "gemm" for m in GEMM_METRICS},
    "softmax_throughput": "elementwise", "layernorm_throughput": "elementwise",
    "gelu_throughput": "elementwise",
}  # fmt: skip
# tags that cannot matter to a row: a per-GPU vs total doubt on a single device
MOOT_TAGS: dict[str, Callable[[Measurement], bool]] = {"per_gpu_vs_total": lambda r: r.n_devices == 1}


def _family(r: Measurement) -> tuple[str, str]:
    """(family, '') of a row the cost model prices, or ('', reason) for one it does not."""
    m = r.metric
    if m.startswith("op_time_median:") and m.split(":", 1)[1] in VIDUR_OPS:
        return "vidur", ""
    if m in KERNEL_METRICS:
        return KERNEL_METRICS[m], ""
    if m == "achieved_memory_bandwidth" and model_for(r.model) is not None:
        reason = e2e_reason(r)  # a model's decode: derived from its prediction (calibration/derived.py)
        return ("", reason) if reason else ("e2e", "")
    if m.startswith("stream_bandwidth:") or m == "achieved_memory_bandwidth":
        if r.occupancy is not None and r.occupancy < 0.995:
            return "", "partial_occupancy"
        return "stream", ""
    if m.startswith("allreduce_time") or m == "allreduce_bus_bandwidth":
        if across_nodes(r) and _node_devices(r.hardware) != r.devices_per_node:
            return "", "multi_node_collective"  # nodes unlike the preset's, or no scale-out network
        return "collective", ""
    if m.startswith("attention_tflops:"):
        return "attention", ""
    if m.startswith(("prefill_op_latency:", "decode_op_latency:")):
        return ("op", "") if model_for(r.model) is not None else ("", "unknown_model")
    if is_e2e(m):
        reason = e2e_reason(r)
        return ("", reason) if reason else ("e2e", "")
    return "", f"unsupported_metric:{m.split(':')[0]}"


def across_nodes(r: Measurement) -> bool:
    """A row over several nodes: priced over the preset's scale-out NIC, never fitted on."""
    return r.devices_per_node is not None and r.devices_per_node < r.n_devices


@cache
def _node_devices(hardware: str) -> int:  # of a preset with a scale-out network (else 0)
    try:
        dev = get_hardware(hardware)
    except HetsimError:
        return 0
    return dev.node_devices if dev.scale_out is not None else 0


def plan(
    rows: Sequence[Measurement], known_hardware: Callable[[str], bool], skip_tags: frozenset[str]
) -> tuple[list[Task], Counter[str]]:
    """Group rows into priced tasks; count every row that cannot be predicted by reason."""
    skipped: Counter[str] = Counter()
    by_hw: dict[str, dict[str, list[Measurement]]] = defaultdict(lambda: defaultdict(list))
    for raw in rows:
        r = steady_state(raw)  # a serving row at its stated running batch (calibration/steady.py)
        if not r.hardware or not known_hardware(r.hardware):
            skipped["unknown_hardware"] += 1
            continue
        bad = sorted(t for t in r.tags & skip_tags if not (t in MOOT_TAGS and MOOT_TAGS[t](r)))
        if bad:
            skipped[f"ambiguous_tag:{bad[0]}"] += 1
            continue
        family, reason = _family(r)
        if reason:
            skipped[reason] += 1
            continue
        if family == "op" and precision_of(r.precision) is None:
            skipped[f"unsupported_precision:{r.precision or 'not_stated'}"] += 1
            continue
        if family in ("vidur", "elementwise", "attention") and r.precision not in ("fp16", "bf16"):
            skipped[f"unsupported_precision:{r.precision or 'not_stated'}"] += 1
            continue
        by_hw[r.hardware][family].append(r)
    tasks: list[Task] = []
    for hw, fams in by_hw.items():
        tasks.extend(_tasks_for(hw, fams, skipped))
    return tasks, skipped


def _tasks_for(hw: str, fams: Mapping[str, list[Measurement]], skipped: Counter[str]) -> list[Task]:
    tasks: list[Task] = []
    if fams.get("vidur"):
        by_kind: dict[str, list[tuple[list[Measurement], Op]]] = defaultdict(list)
        for rs, op in _vidur_ops(fams["vidur"], skipped):
            by_kind[op.kind].append((rs, op))
        for pairs in by_kind.values():
            rows = tuple(r for rs, _ in pairs for r in rs)
            tasks.append(Task(hw, "kernel", rows, _concat_ops([op for _, op in pairs])))
    dev = get_hardware(hw)
    for rs, op, kind, num, prec in gemm_tasks(fams.get("gemm", []), lambda r: timing_profile(r) is not None,
                                              skipped):  # fmt: skip
        if not has_matrix_rate(dev, prec.compute):
            skipped[f"no_matrix_rate:{prec.compute.name}"] += len(rs)
            continue
        tasks.append(Task(hw, "kernel", tuple(rs), op, kind, num, host_s=_host_s(rs), prec=prec))
    tasks += attention_tasks(hw, fams.get("attention", []), skipped)
    tasks += op_tasks(hw, fams.get("op", []), skipped)
    groups: dict[str, list[tuple[Measurement, Op, float]]] = defaultdict(list)
    for r in fams.get("elementwise", []):
        op_kind = r.metric.split("_")[0]
        op, e = _elementwise_op(op_kind, r)
        prof = timing_profile(r)
        if prof is not None and prof.ops[op_kind].pricing == "stream":
            op = stream_op(op)  # an Inductor kernel: vectorised loads, a DRAM stream
        groups[op.kind + ("/timed" if prof else "")].append((r, op, e))
    for r in fams.get("stream", []):
        op = _stream_op(r)
        groups["stream"].append((r, op, STREAM_BYTES))
    for items in groups.values():
        op = _concat_ops([i[1] for i in items])
        rows = tuple(i[0] for i in items)
        rates = np.array([i[2] for i in items])
        tasks.append(Task(hw, "kernel", rows, op, "rate", rates, host_s=_host_s(rows)))
    coll: dict[tuple[int, bool, bool], list[Measurement]] = defaultdict(list)
    for r in fams.get("collective", []):
        if not r.size_bytes:
            skipped["missing_message_size"] += 1
            continue
        coll[(r.n_devices, r.metric == "allreduce_bus_bandwidth", across_nodes(r))].append(r)
    for (p, busbw, _), rs in coll.items():
        b = np.array([r.size_bytes or 0.0 for r in rs])
        if busbw:  # nccl-tests bus bandwidth: S / t x 2 (p - 1) / p
            post = np.full(b.shape, bus_factor(p))
            tasks.append(Task(hw, "collective", tuple(rs), allreduce_op(b), "rate", b, tp=p, post=post))
        else:
            tasks.append(Task(hw, "collective", tuple(rs), allreduce_op(b), tp=p))
    if fams.get("e2e"):
        for et in e2e_tasks(hw, lambda dt: has_matrix_rate(dev, dt), fams["e2e"], skipped):
            tasks.append(Task(hw, "e2e", et.rows, tp=et.tp, e2e=et))
    return tasks


def attention_tasks(hw: str, rows: list[Measurement], skipped: Counter[str]) -> list[Task]:
    """Attention-throughput rows (TFLOPS of the forward pass; kernel_rows.py)."""
    return [Task(hw, "kernel", tuple(rs), ops[0], "rate", flop, more_ops=tuple(ops[1:]))
            for rs, ops, flop in attention_ops(rows, skipped)]  # fmt: skip


def op_tasks(hw: str, rows: list[Measurement], skipped: Counter[str]) -> list[Task]:
    """Per-op latency rows (``prefill_op_latency:Q_K_V``): the named op of the row's model at
    its batch, lengths and TP, one repetition (calibration/op_predict.py)."""
    groups: dict[tuple[str, str, str, int, str, str], list[Measurement]] = defaultdict(list)
    for r in rows:
        phase, name = row_op(r.metric)
        groups[(r.model, phase, name, r.tp, r.precision, r.framework)].append(r)
    tasks = []
    dev = get_hardware(hw)
    for (model_name, phase, name, tp, key, framework), rs in groups.items():
        prec = precision_for(key, framework)
        if not has_matrix_rate(dev, prec.compute):
            prec = weight_only_fallback(prec)
        model = model_for(model_name)
        complete = [r for r in rs if r.batch and r.input_len]
        skipped["missing_workload"] += len(rs) - len(complete)
        if model is None or not complete:
            continue
        b, p, g = (np.array([float(getattr(r, f) or 1) for r in complete])
                   for f in ("batch", "input_len", "output_len"))  # fmt: skip
        op = rows_op(model, phase, name, b, p, g, tp, prec)
        if op is None:
            skipped["unknown_op"] += len(complete)
            continue
        op = replace(op, count=1)
        family = "collective" if op.kind == "collective" else "kernel"
        tasks.append(Task(hw, family, tuple(complete), op, tp=tp, prec=prec))
    return tasks


def predict_task(task: Task, dev: Device) -> FloatArray:
    """Predicted values (SI, same unit as the rows) of one task on ``dev``."""
    kp = dev.kernels
    if task.family == "e2e":
        assert task.e2e is not None
        return predict_e2e(task.e2e, dev)
    assert task.op is not None
    if task.family == "collective":
        fab = Fabric.of(dev) if across_nodes(task.rows[0]) else None  # else one domain of tp devices
        t = np.asarray(collective_cost(task.op, dev.interconnect, task.tp, kp, fab).time_s, dtype=float)
    else:
        side = dev.primary
        # kernel rows time the kernel alone: no launch gap (calibrated) / the preset's overhead;
        # a host-timed row's floor already holds its launch
        overhead = 0.0 if kp is not None or task.host_s is not None else dev.kernel_overhead_s
        unit = side.unit_for(task.op.prefers)
        t = np.asarray(
            op_cost(task.op, unit, side.memory, task.prec, overhead_s=overhead, kernels=kp,
                    vector=side.unit_for("vector")).time_s, dtype=float,
        )  # fmt: skip
    for extra in task.more_ops:
        unit = side.unit_for(extra.prefers)
        t = t + np.asarray(op_cost(extra, unit, side.memory, task.prec, overhead_s=overhead, kernels=kp,
                                   vector=side.unit_for("vector")).time_s, dtype=float)  # fmt: skip
    t = np.broadcast_to(t, (len(task.rows),))
    if task.host_s is not None:
        t = t + task.host_s  # the host's share of a wall-clock measurement (one kernel per call)
    if task.kind == "rate":
        assert task.numer is not None
        rate: FloatArray = task.numer / t
        return rate if task.post is None else rate * task.post
    return np.array(t, dtype=float)
