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
from itertools import product
from typing import Literal

import numpy as np

from hetsim.calibration.e2e import E2ETask, e2e_reason, e2e_tasks, is_e2e, predict_e2e
from hetsim.calibration.measurements import Measurement
from hetsim.calibration.wallclock import benchmarked_op, stream_op, timing_profile
from hetsim.cost.roofline import collective_cost, has_matrix_rate, op_cost
from hetsim.errors import ConfigError
from hetsim.hardware.loader import get_hardware
from hetsim.hardware.spec import Device
from hetsim.workload.dtypes import Precision
from hetsim.workload.graph import build_ops
from hetsim.workload.model import ModelSpec
from hetsim.workload.ops import FloatArray, Op

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


def _concat_ops(ops: Sequence[Op]) -> Op:
    """One op whose numeric fields are the concatenation of ``ops``' (same kind)."""
    first = ops[0]
    values: dict[str, object] = {}
    for f in fields(Op):
        vals = [getattr(o, f.name) for o in ops]
        if isinstance(vals[0], str | int) and not isinstance(vals[0], bool) and f.name != "count":
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
    "gemm_latency": "gemm", "gemm_tflops": "gemm", "matmul_tflops_best_shape": "gemm",
    "gemm_effective_memory_bandwidth": "gemm",
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
    if m.startswith("stream_bandwidth:") or m == "achieved_memory_bandwidth":
        if r.occupancy is not None and r.occupancy < 0.995:
            return "", "partial_occupancy"
        return "stream", ""
    if m.startswith("allreduce_time"):
        if r.devices_per_node is not None and r.devices_per_node < r.n_devices:
            return "", "multi_node_collective"
        return "collective", ""
    if m.startswith(("prefill_op_latency", "decode_op_latency")):
        return "", "op_latency_needs_layer_shape"
    if is_e2e(m):
        reason = e2e_reason(r)
        return ("", reason) if reason else ("e2e", "")
    return "", "unsupported_metric"


def plan(
    rows: Sequence[Measurement], known_hardware: Callable[[str], bool], skip_tags: frozenset[str]
) -> tuple[list[Task], Counter[str]]:
    """Group rows into priced tasks; count every row that cannot be predicted by reason."""
    skipped: Counter[str] = Counter()
    by_hw: dict[str, dict[str, list[Measurement]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
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
        if family not in ("stream", "collective", "e2e") and r.precision not in ("fp16", "bf16"):
            skipped["unsupported_precision"] += 1
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
    gemm = [r for r in fams.get("gemm", []) if None not in (r.gemm_m, r.gemm_n, r.gemm_k)]
    skipped["missing_gemm_shape"] += len(fams.get("gemm", [])) - len(gemm)
    # metric -> (time or rate, numerator of a rate: flop or bytes)
    gemm_metrics: dict[str, tuple[Kind, str]] = {
        "gemm_latency": ("time", ""), "gemm_tflops": ("rate", "flop"),
        "matmul_tflops_best_shape": ("rate", "flop"), "gemm_effective_memory_bandwidth": ("rate", "bytes"),
    }  # fmt: skip
    for (metric, (kind, numer)), timed in product(gemm_metrics.items(), (False, True)):
        rs = [r for r in gemm if r.metric == metric and (timing_profile(r) is not None) == timed]
        if rs:
            mnk = np.array([(r.gemm_m, r.gemm_n, r.gemm_k) for r in rs], dtype=float)
            m, n, k = mnk.T
            op = Op("gemm", "fc", "gemm", "matrix", 1, flop=2 * m * n * k, weight_bytes=2 * k * n,
                    act_read_bytes=2 * m * k, act_write_bytes=2 * m * n,
                    gemm_m=m, gemm_n=n, gemm_k=k)  # fmt: skip
            work = op.flop if numer == "flop" else op.bytes
            num = None if kind == "time" else np.asarray(work, dtype=float)
            tasks.append(Task(hw, "kernel", tuple(rs), op, kind, num, host_s=_host_s(rs)))
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
    coll: dict[int, list[Measurement]] = defaultdict(list)
    for r in fams.get("collective", []):
        coll[r.n_devices].append(r)
    for p, rs in coll.items():
        b = np.array([r.size_bytes or 0.0 for r in rs])
        op = Op("allreduce", "comm", "collective", "vector", 1, flop=b / 2, act_read_bytes=b)
        tasks.append(Task(hw, "collective", tuple(rs), op, tp=p))
    if fams.get("e2e"):
        dev = get_hardware(hw)
        for et in e2e_tasks(hw, lambda dt: has_matrix_rate(dev, dt), fams["e2e"], skipped):
            tasks.append(Task(hw, "e2e", et.rows, tp=et.tp, e2e=et))
    return tasks


def predict_task(task: Task, dev: Device) -> FloatArray:
    """Predicted values (SI, same unit as the rows) of one task on ``dev``."""
    kp = dev.kernels
    if task.family == "e2e":
        assert task.e2e is not None
        return predict_e2e(task.e2e, dev)
    assert task.op is not None
    if task.family == "collective":
        t = np.asarray(collective_cost(task.op, dev.interconnect, task.tp, kp).time_s, dtype=float)
    else:
        side = dev.primary
        # kernel rows time the kernel alone: no launch gap (calibrated) / the preset's overhead;
        # a host-timed row's floor already holds its launch
        overhead = 0.0 if kp is not None or task.host_s is not None else dev.kernel_overhead_s
        unit = side.unit_for(task.op.prefers)
        t = np.asarray(
            op_cost(task.op, unit, side.memory, FP16, overhead_s=overhead, kernels=kp).time_s, dtype=float
        )
    t = np.broadcast_to(t, (len(task.rows),))
    if task.host_s is not None:
        t = t + task.host_s  # the host's share of a wall-clock measurement (one kernel per call)
    if task.kind == "rate":
        assert task.numer is not None
        rate: FloatArray = task.numer / t
        return rate
    return np.array(t, dtype=float)
