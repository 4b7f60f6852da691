"""Inference on a homogeneous system (every op on the primary memory side of each device).

One vectorised evaluation serves a single analysis (N = 1, with the per-op table) and a sweep
(N configurations at once). Decode steps are never looped over: each step's time is a
function of its context length c, evaluated on ``DECODE_SAMPLES`` evenly spaced contexts
across [P+1, P+G-1] and averaged with the trapezoid rule. Step time is piecewise linear in c
(linear in each roofline regime), so the trapezoid mean equals the mean over the integer
steps except near a regime change, where it differs by far less than 0.1%.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from hetsim.analysis.result import AnalysisResult, FloatArray, SweepResult
from hetsim.cost.power import run_energy_j, throttled_s
from hetsim.cost.roofline import Cost, Overlap, price, reference_flop, require_gemm_dtype
from hetsim.errors import CapacityError, ConfigError
from hetsim.hardware.loader import get_hardware
from hetsim.hardware.spec import Device
from hetsim.placement.policies import check_name
from hetsim.sim.config import Options as Options
from hetsim.sim.config import Serving as Serving
from hetsim.sim.config import Workload as Workload
from hetsim.sim.config import footprint as footprint
from hetsim.sim.records import primary_sides, result_record
from hetsim.workload.dtypes import Precision
from hetsim.workload.graph import AttentionImpl, build_ops
from hetsim.workload.model import ModelSpec
from hetsim.workload.ops import Op
from hetsim.workload.registry import get_model

DECODE_SAMPLES = 65
_U = np.linspace(0.0, 1.0, DECODE_SAMPLES)
_W = np.full(DECODE_SAMPLES, 1.0 / (DECODE_SAMPLES - 1))
_W[[0, -1]] /= 2  # trapezoid weights on [0, 1], summing to 1


def _price_all(ops: list[Op], dev: Device, prec: Precision, opts: Options) -> list[Cost]:
    return [price(op, dev, prec, opts.tp, opts.overlap) for op in ops]


def _total(costs: list[Cost]) -> Cost:
    """Sum of the fields the metrics use (time, energy, flop, bytes). Parts of equal shape are
    summed in place first and broadcast once: in a sweep most decode ops are (N, 1) (they do
    not depend on the context) and only attention is (N, K)."""
    out = {}
    for f in ("time_s", "energy_j", "flop", "bytes"):
        by_shape: dict[tuple[int, ...], FloatArray] = {}
        for c in costs:
            x = np.asarray(getattr(c, f), dtype=float)
            acc = by_shape.get(x.shape)
            if acc is None:
                by_shape[x.shape] = x.copy()
            else:
                np.add(acc, x, out=acc)
        shapes = sorted(by_shape, key=lambda sh: int(np.prod(sh)))
        total = np.zeros(np.broadcast_shapes(*shapes))
        for sh in shapes:
            np.add(total, by_shape[sh], out=total)
        out[f] = total
    return Cost(**out)


def _kernels(ops: list[Op]) -> float:
    """Kernels one pass launches: one per op repetition."""
    return float(sum(op.count for op in ops))


def _evaluate(
    model: ModelSpec,
    dev: Device,
    prec: Precision,
    B: FloatArray,
    P: FloatArray,
    G: FloatArray,
    opts: Options,
    pricer: Any = None,
) -> tuple[dict[str, FloatArray], list[Op], list[Cost], list[Op], list[Cost]]:
    """Metrics for N configurations (arrays of shape (N,)), plus ops and costs. ``pricer``
    (a :class:`hetsim.sim.placed.Pricer`) prices under a placement instead of the primary
    side: called as ``pricer(ops, phase, context)``; it adds its ``migration_s`` to the run
    and states the ``bandwidth_bytes_per_s`` MBU and the ``peak_flop_per_s`` (per phase) MFU are
    measured against."""
    n_dev = opts.tp * opts.pp
    if n_dev > 1 and dev.interconnect is None:
        raise ConfigError(
            f"tp={opts.tp}, pp={opts.pp}: {dev.name} has no interconnect, so the devices cannot "
            "exchange activations; use tp=1 and pp=1, or a hardware file with an 'interconnect'"
        )
    pre_ops = build_ops(
        model, prec, phase="prefill", batch=B, q_len=P, context=P, tp=opts.tp, attention=opts.attention
    )
    steps = np.maximum(G - 1, 0)  # decode steps after the prefill's first token
    ctx = P[:, None] + 1 + np.maximum(steps - 1, 0)[:, None] * _U[None, :]  # (N, K)
    srv = opts.serving
    dec_ops = build_ops(
        model,
        prec,
        phase="decode",
        batch=srv.graph_batch(B)[:, None],  # a CUDA-graph step runs at its captured (padded) batch
        q_len=1.0,
        context=ctx,
        tp=opts.tp,
        attention=opts.attention,
        shared_kv_reads=opts.serving.gqa_shared_kv,
    )
    if pricer is not None and hasattr(pricer, "plan"):
        pricer.plan(dec_ops)  # a placement planned for the run is planned on the decode's kernels
    pre_costs = pricer(pre_ops, "prefill", P) if pricer else _price_all(pre_ops, dev, prec, opts)
    pre = _total(pre_costs)
    dec_costs = pricer(dec_ops, "decode", ctx) if pricer else _price_all(dec_ops, dev, prec, opts)
    dec = _total(dec_costs)

    def mean(x: Any) -> FloatArray:
        out: FloatArray = np.broadcast_to(np.asarray(x, dtype=float), ctx.shape) @ _W
        return out

    # pipeline stages hand activations on; stages run one after another for a static batch
    # (pp - 1 boundaries, one message each carrying every token of the pass)
    pre_p2p: Any = 0.0
    p2p: Any = 0.0
    if opts.pp > 1:
        link_bw = dev.interconnect.bandwidth_bytes_per_s if dev.interconnect else np.inf
        lat = dev.interconnect.latency_s if dev.interconnect else 0.0
        act = model.d_model * prec.activation.bytes_per_element
        pre_p2p = (opts.pp - 1) * (lat + B * P * act / link_bw)
        p2p = (opts.pp - 1) * (lat + B * act / link_bw)
    # the whole batch is prefilled before any first token; a framework may then run
    # ``first`` decode steps (at context P + 1) before emitting it; each pass costs ``step``,
    # the request its host overhead once
    step = opts.serving.step_s(dev)
    first = opts.serving.first_token_decode_steps
    # a phase whose dynamic power would exceed the board's limit runs throttled (cost/power.py)
    dec_e = np.broadcast_to(np.asarray(dec.energy_j, dtype=float), ctx.shape)
    dec_t = throttled_s(np.broadcast_to(np.asarray(dec.time_s, dtype=float), ctx.shape), dec_e, dev)
    pre_t = throttled_s(pre.time_s, pre.energy_j, dev)
    # asynchronous launch: a pass takes the longer of the GPU's time and the host's dispatch
    n_layers = model.n_layers
    pre_t = np.maximum(pre_t, srv.host_pass_s(_kernels(pre_ops), n_layers, B, "prefill"))
    host_dec = np.asarray(srv.host_pass_s(_kernels(dec_ops), n_layers, B, "decode"))
    dec_t = np.maximum(dec_t, host_dec[..., None])
    ttft = pre_t + pre_p2p + step + first * (dec_t[:, 0] + p2p + step) + opts.serving.request_overhead_s
    tpot = np.where(steps > 0, mean(dec_t) + p2p + step, 0.0)
    mig = pricer.migration_s if pricer else 0.0
    e2e = ttft + steps * tpot + mig
    dyn = opts.tp * (pre.energy_j + first * dec_e[:, 0] + steps * mean(dec.energy_j))  # pp splits layers
    # host time between passes and before the first pass draws idle power only
    busy = e2e - step * (1 + first + steps) - opts.serving.request_overhead_s
    energy = run_energy_j(dev, n_dev, opts.tp, dyn, busy, e2e)
    side = dev.primary
    bw = pricer.bandwidth_bytes_per_s if pricer else side.memory.bandwidth_bytes_per_s
    mx = side.unit_for("matrix")
    peak = mx.peak(prec.compute)
    peaks = pricer.peak_flop_per_s if pricer else {}  # placed: the sides that compute each phase
    pre_peak, dec_peak = peaks.get("prefill", peak), peaks.get("decode", peak)
    dec_time = np.maximum(mean(dec_t), 1e-30)
    # MBU counts memory traffic only: a collective's bytes cross the link, not the memory tier
    # (counting them gave MBU > 1 where the link is faster than the memory, e.g. LPDDR)
    pre_mem = _memory_bytes(pre_ops, pre_costs)
    dec_mem = mean(_memory_bytes(dec_ops, dec_costs))
    out = {
        "ttft_s": ttft,
        "tpot_s": tpot,
        "e2e_latency_s": e2e,
        "output_throughput_tok_per_s": B * G / e2e,
        "mbu": np.where(steps > 0, _utilisation(dec_mem, dec_time, bw * opts.pp), 0.0),
        "mfu": _utilisation(reference_flop(pre_ops, pre_costs, mx, prec), pre_t, pre_peak * opts.pp),
        "energy_j": energy,
        "energy_j_per_token": energy / (B * G),
        "avg_power_w": energy / e2e,
        "prefill_flop": pre.flop,
        "prefill_bytes": pre.bytes,
        "prefill_energy_j": pre.energy_j * opts.tp,
        "prefill_mbu": _utilisation(pre_mem, pre_t, bw * opts.pp),
        "decode_time_s": mean(dec_t),
        "decode_flop": mean(dec.flop),
        "decode_bytes": mean(dec.bytes),
        "decode_energy_j": mean(dec.energy_j) * opts.tp,
        "decode_mfu": _utilisation(
            mean(reference_flop(dec_ops, dec_costs, mx, prec)), dec_time, dec_peak * opts.pp
        ),
    }
    return (
        out,
        pre_ops,
        pre_costs,
        dec_ops,
        # per-op decode means are for the one-configuration table; a sweep does not read them,
        # nor does the placed path (it averages its own per-side records)
        [Cost(*(mean(getattr(c, f)) for f in Cost.__dataclass_fields__)) for c in dec_costs]
        if B.size == 1 and pricer is None
        else [],
    )


def _memory_bytes(ops: list[Op], costs: list[Cost]) -> Any:
    """Bytes the ops move to and from memory (collectives excluded: they move over a link)."""
    return sum((c.bytes for op, c in zip(ops, costs, strict=True) if op.kind != "collective"), 0.0)


def _utilisation(work: Any, time_s: Any, peak_per_s: float) -> FloatArray:
    """work / time / peak. Every op's time is at least its work at the peak rate, so the
    ratio exceeds 1 only by floating-point rounding (1 + 4e-16), which is clipped here; a
    larger excess is a modelling bug and is left for :func:`analysis.checks.check_result`
    to refuse rather than hidden."""
    raw = np.asarray(work, dtype=float) / time_s / peak_per_s
    out: FloatArray = np.where(raw <= 1.0 + 1e-9, np.minimum(raw, 1.0), raw)
    return out


def _resolve(
    model: ModelSpec | str,
    hardware: Device | str,
    precision: Precision | None,
    serving: Serving | None = None,
) -> tuple[ModelSpec, Device, Precision]:
    m, dev, prec = get_model(model), get_hardware(hardware), precision or Precision()  # type: ignore[arg-type]
    require_gemm_dtype(dev, prec)
    if serving is not None and serving.quantized_lm_head and not prec.quantized_head:
        prec = dataclasses.replace(prec, quantized_head=True)  # the framework quantises every linear layer
    return m, dev, prec


def analyze(
    model: ModelSpec | str,
    hardware: Device | str,
    workload: Workload,
    precision: Precision | None = None,
    *,
    tp: int = 1,
    pp: int = 1,
    attention: AttentionImpl = "fused",
    overlap: Overlap = "max",
    check_fit: bool = False,
    serving: Serving | None = None,
    policy: str = "auto",
    dynamic: bool = True,
) -> AnalysisResult:
    """Analyse one static-batch inference run under a placement ``policy`` (``hetsim
    policies``; ``auto``: the primary side when it fits, else the fastest policy that fits
    the whole device). ``dynamic`` re-places the decode as the KV cache grows (else it is
    placed once for the full length). With ``check_fit`` a run whose placement does not fit
    raises :class:`CapacityError`."""
    m, dev, prec = _resolve(model, hardware, precision, serving)
    opts = Options(tp=tp, pp=pp, attention=attention, overlap=overlap, serving=serving or Serving())
    if pp < 1 or pp > m.n_layers:
        raise ConfigError(f"pp must be between 1 and the {m.n_layers} layers of {m.name}")
    w = workload
    seq = w.input_len + w.output_len
    fp = footprint(m, prec, w.batch, seq, opts, live_len=w.input_len)
    cap = dev.primary.memory.capacity_bytes
    fits = bool(fp["total"] <= cap)
    key = check_name(policy)
    if key != "primary" and not (key == "auto" and (fits or len(dev.sides) == 1)):
        from hetsim.sim.placed_analyze import analyze_placed  # imports this module

        return analyze_placed(key, m, dev, prec, w, opts, fp, check_fit=check_fit, dynamic=dynamic)
    if check_fit and not fits:
        more = ""
        if len(dev.sides) > 1:
            rest = " + ".join(f"{s.memory.capacity_bytes / 1e9:.0f} GB {s.name}" for s in dev.sides[1:])
            more = f" on {dev.primary.name} ({rest} unused by policy 'primary'; try --policy auto or offload)"
        raise CapacityError(
            f"{m.name} at batch {w.batch}, {seq} tokens needs {fp['total'] / 1e9:.1f} GB per "
            f"device but {dev.name} has {cap / 1e9:.1f} GB ({cap / 2**30:.1f} GiB){more}; try a larger "
            "--tp, a smaller --weight-dtype/--kv-dtype, or a smaller batch"
        )
    arr = (
        np.array([float(w.batch)]),
        np.array([float(w.input_len)]),
        np.array([float(w.output_len)]),
    )
    r, pre_ops, pre_costs, dec_ops, dec_costs = _evaluate(m, dev, prec, *arr, opts)
    why = "requested" if key == "primary" else "auto: fits on the primary side"
    if key == "auto" and not fits:
        why = f"auto: {dev.name} has one memory side; nothing to place elsewhere"
    out = result_record(m, dev, prec, w, opts, fp, fits, r, (pre_ops, pre_costs, dec_ops, dec_costs))
    return dataclasses.replace(out, policy="primary", policy_reason=why, sides=primary_sides(out, dev))


def sweep(
    model: ModelSpec | str,
    hardware: Device | str,
    batch: Any,
    input_len: Any,
    output_len: Any,
    precision: Precision | None = None,
    *,
    tp: int = 1,
    pp: int = 1,
    attention: AttentionImpl = "fused",
    overlap: Overlap = "max",
    serving: Serving | None = None,
    policy: str = "auto",
    dynamic: bool = True,
) -> SweepResult:
    """Evaluate many (batch, input_len, output_len) configurations at once (arrays broadcast
    together) under a placement ``policy`` (``auto``: per configuration, the primary side
    where it fits, else the fastest policy that fits). No per-configuration Python loop."""
    m, dev, prec = _resolve(model, hardware, precision, serving)
    B, P, G = (np.asarray(x, dtype=float) for x in np.broadcast_arrays(batch, input_len, output_len))
    B, P, G = B.reshape(-1), P.reshape(-1), G.reshape(-1)
    if B.size == 0 or min(B.min(), P.min(), G.min()) < 1:
        raise ConfigError("batch, input_len and output_len must all be positive")
    opts = Options(tp=tp, pp=pp, attention=attention, overlap=overlap, serving=serving or Serving())
    fp_all = footprint(m, prec, B, P + G, opts, live_len=P)
    fp = fp_all["total"]
    key = check_name(policy)
    primary_fits = fp <= dev.primary.memory.capacity_bytes
    if key != "primary" and not (key == "auto" and (len(dev.sides) == 1 or bool(np.all(primary_fits)))):
        from hetsim.sim.placed_analyze import sweep_placed  # imports this module

        return sweep_placed(key, m, dev, prec, (B, P, G), opts, fp_all, dynamic=dynamic)
    r, *_ = _evaluate(m, dev, prec, B, P, G, opts)
    return SweepResult(
        model=m.name,
        hardware=dev.name,
        tp=tp,
        batch=B,
        input_len=P,
        output_len=G,
        footprint_bytes=fp,
        fits=primary_fits,
        **{k: np.asarray(r[k], dtype=float) for k in SWEEP_METRICS},
        policy=np.full(B.shape, "primary"),
    )


SWEEP_METRICS = (
    "ttft_s",
    "tpot_s",
    "e2e_latency_s",
    "output_throughput_tok_per_s",
    "mbu",
    "mfu",
    "energy_j_per_token",
    "avg_power_w",
)
