"""The one placed run: a static batch's metrics from its two phases priced under a policy.

Every analysis and sweep is this run, on any device: the homogeneous case is the ``primary``
policy (everything on side 0; on a one-side device the only placement there is). One
vectorised evaluation serves one analysis (N = 1, with per-op and per-side records) and a
sweep (N configurations at once). Decode steps are never looped over: each step's time is a
function of its context length c, evaluated on ``DECODE_SAMPLES`` evenly spaced contexts
across [P+1, P+G-1] and averaged with the trapezoid rule. Step time is piecewise linear in c
(linear in each roofline regime), so the trapezoid mean equals the mean over the integer
steps except near a regime change, where it differs by far less than 0.1%.

A configuration's result depends on its own values only: sums run in a fixed order (the
ops' order, then the contexts' by :func:`mean_ctx`), never reduced over configurations, so a
point gives bit-identical figures alone or in any sweep, in any order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hetsim.cost.collectives import for_engine
from hetsim.cost.power import run_energy_j, throttled_s
from hetsim.cost.roofline import Cost, reference_factors
from hetsim.errors import ConfigError
from hetsim.hardware.spec import Device, Link
from hetsim.placement.policies import get_policy, usage_bytes
from hetsim.placement.record import Placement
from hetsim.sim.config import Options
from hetsim.sim.interleave import sub_batched
from hetsim.sim.placed import _U, BoolArray, PlacedRun, Pricer, mean_ctx
from hetsim.sim.placed_plan import per_config, split_weights
from hetsim.sim.speculative import prompt_handoff_s, step_drafts
from hetsim.workload.dtypes import Precision
from hetsim.workload.graph import build_ops
from hetsim.workload.model import ModelSpec
from hetsim.workload.ops import FloatArray, Num, Op

FIELDS = ("time_s", "energy_j", "flop", "bytes")


def op_sum(values: list[Num]) -> Any:
    """A sum over ops in the ops' order, broadcasting as it goes: every configuration gets
    the same additions in the same order whatever the shapes (an op's cost is (K, N) where a
    neighbour's placement made its share an array, (N,) alone: the same values)."""
    arrays = [np.asarray(x, dtype=float) for x in values]
    if not arrays:
        return 0.0
    acc = np.zeros(np.broadcast_shapes(*(a.shape for a in arrays)))
    for a in arrays:  # in place: 0 + x0 is x0, then the same additions as acc + x in order
        np.add(acc, a, out=acc)
    return acc


def op_total(costs: list[Cost], fields: tuple[str, ...] = FIELDS) -> dict[str, Any]:
    """The fields the metrics use (time, energy, flop, bytes), summed over the ops."""
    return {f: op_sum([getattr(c, f) for c in costs]) for f in fields}


def _kernels(ops: list[Op]) -> float:
    """Kernels one pass launches: one per op repetition."""
    return float(sum(op.count for op in ops))


def contexts(P: FloatArray, G: FloatArray) -> FloatArray:
    """The decode's sampled contexts per configuration, shape (DECODE_SAMPLES, N): contexts
    first, so a per-configuration array (N,) broadcasts against them as it is."""
    steps = np.maximum(G - 1, 0)
    out: FloatArray = (P + 1) + np.maximum(steps - 1, 0) * _U[:, None]
    return out


def make_pricer(
    name: str, model: ModelSpec, dev: Device, prec: Precision, bpg: tuple[FloatArray, FloatArray, FloatArray],
    opts: Options, fp: dict[str, Any], *, dynamic: bool, shared: dict[str, Any] | None = None,
) -> Pricer:  # fmt: skip
    """The phase pricer of policy ``name`` for the configurations ``bpg`` (``fp``: their
    footprint, arrays of shape (N,))."""
    B, P, G = bpg
    kvpt = np.asarray(fp["kv_cache"], dtype=float) / (B * (P + G))  # per configuration
    return Pricer(name, get_policy(name), dev, prec, split_weights(model, prec, fp, opts.tp), kvpt,
                  fp["activations"], B, P, G, tp=opts.tp, overlap=opts.overlap, dynamic=dynamic,
                  shared=shared, overlap_transfers=opts.serving.overlap_transfers)  # fmt: skip


def primary_fits(
    model: ModelSpec, dev: Device, prec: Precision, bpg: tuple[FloatArray, FloatArray, FloatArray],
    opts: Options, fp: dict[str, Any],
) -> BoolArray:  # fmt: skip
    """Whether each configuration's run fits the primary side under the ``primary``
    placement: what it holds at the full length (the most it holds; its run's fit check
    reads the same bytes), without pricing it."""
    pricer = make_pricer("primary", model, dev, prec, bpg, opts, fp, dynamic=True)
    full = pricer.P + pricer.G
    held = usage_bytes(pricer.problem_at(full, "prefill"), Placement.primary(len(dev.sides)))[0]
    out: BoolArray = per_config(held, pricer.n) <= dev.primary.memory.capacity_bytes * (1 + 1e-12)
    return out


@dataclass(frozen=True, slots=True)
class Evaluated:
    """A run's metrics (arrays of shape (N,)), its ops and what the pricer returned."""

    metrics: dict[str, FloatArray]
    pre_ops: list[Op]
    dec_ops: list[Op]
    run: PlacedRun


def evaluate(
    model: ModelSpec, dev: Device, prec: Precision, bpg: tuple[FloatArray, FloatArray, FloatArray],
    opts: Options, pricer: Pricer, *, records: bool = False,
) -> Evaluated:  # fmt: skip
    """Metrics of N configurations (``bpg``: arrays of shape (N,)) under ``pricer``'s policy:
    the migration of its re-maps is added to the run; MBU is measured against the summed
    bandwidth of the memories the decode reads, MFU against the summed peak of the sides
    that compute each phase (per configuration). ``records``: also the decode step's flop,
    bytes and MFU (an analysis's phase record; a sweep does not report them)."""
    B, P, G = bpg
    n_dev = opts.devices
    if n_dev > 1 and dev.interconnect is None:
        raise ConfigError(
            f"tp={opts.tp}, pp={opts.pp}, ep={opts.experts.ep}: {dev.name} has no interconnect, so the "
            "devices cannot exchange activations; use one device, or a hardware file with an 'interconnect'"
        )
    spec = opts.speculation
    pre_ops = for_engine(build_ops(  # the engine's all-reduce, eager
        model, prec, phase="prefill", batch=B, q_len=P, context=P, tp=opts.tp, attention=opts.attention,
        experts=opts.experts,
    ), opts.serving)  # fmt: skip
    steps = np.maximum(G - 1, 0)  # decode steps after the prefill's first token
    ctx = contexts(P, G)
    srv = opts.serving
    # the engine's all-reduce (its own kernels; a replayed CUDA graph's pay no host enqueue)
    dec_ops = for_engine(build_ops(
        model, prec, phase="decode",
        batch=srv.graph_batch(B),  # a CUDA-graph step runs at its captured (padded) batch
        q_len=1.0 if spec is None else spec.tokens + 1.0,  # a speculative step verifies k + 1 positions
        context=ctx, tp=opts.tp, attention=opts.attention, shared_kv_reads=srv.gqa_shared_kv,
        experts=opts.experts,
    ), srv, B)  # fmt: skip
    run = pricer.run(pre_ops, dec_ops, ctx)
    pre_costs, dec_costs = run.prefill.op_costs, run.decode.op_costs
    pre = op_total(pre_costs)
    fields = FIELDS if records else ("time_s", "energy_j")
    dec = {f: np.broadcast_to(v, ctx.shape) for f, v in op_total(dec_costs, fields).items()}
    # pipeline stages hand activations on; stages run one after another for a static batch
    # (pp - 1 boundaries, one message each carrying every token of the pass)
    pre_p2p, p2p = _stage_handoffs(model, dev, prec, opts, B, P)
    # the whole batch is prefilled before any first token; a framework may then run
    # ``first`` decode steps (at context P + 1) before emitting it; each pass costs ``step``,
    # the request its host overhead once
    step = srv.pass_host_s(dev, B)
    first = srv.first_token_decode_steps
    # a phase whose dynamic power would exceed the board's limit runs throttled (cost/power.py)
    dec_e = dec["energy_j"]
    dec_t = throttled_s(sub_batched(dec["time_s"], dec_ops, run.decode, dev, opts), dec_e, dev)
    pre_t = throttled_s(np.broadcast_to(pre["time_s"], B.shape), pre["energy_j"], dev)
    # asynchronous launch: a pass takes the longer of the GPU's time and the host's dispatch
    # the engine's dispatch time per kernel, scaled by the device's host CPU (Grace vs x86)
    pre_host = srv.host_pass_s(_kernels(pre_ops), model.n_layers, B, "prefill") * dev.host_dispatch_scale
    dec_host = srv.host_pass_s(_kernels(dec_ops), model.n_layers, B, "decode") * dev.host_dispatch_scale
    host_bound = (pre_host >= pre_t, mean_ctx(np.broadcast_to(dec_host >= dec_t, ctx.shape)) > 0.5)
    pre_t = np.maximum(pre_t, pre_host)
    dec_t = np.maximum(dec_t, dec_host)
    # speculative decoding: a step is k draft passes and the verify; it emits ``per`` tokens
    sp = step_drafts(spec, model, dev, prec, srv.graph_batch(B), ctx, opts, srv)
    dec_t, dec_e, per, passes = dec_t + sp.time_s, dec_e + sp.energy_j, sp.tokens_per_step, sp.passes
    dec_mean = mean_ctx(dec_t)
    pre_p2p = pre_p2p + prompt_handoff_s(spec, model, dev, prec, B, P)  # to a drafter on another side
    ttft = pre_t + pre_p2p + step + first * (dec_t[0] + p2p + step) + srv.request_overhead_s
    tpot = np.where(steps > 0, (dec_mean + p2p + step) / per, 0.0)
    e2e = ttft + steps * tpot + run.migration.seconds
    dec_energy, first_e = mean_ctx(dec_e), dec_e[0]
    width = opts.tp * opts.dp  # devices of a stage (DP-attention ranks each run the whole pass)
    dyn = width * (pre["energy_j"] + first * first_e + steps / per * dec_energy)  # pp splits layers
    # fixed host time between passes draws idle power only; the per-sequence part keeps the board
    # active (ML.ENERGY v3 power rows, leave one GPU out: 31.7% counted idle, 21.3% active)
    busy = e2e - srv.step_s(dev) * (1 + first + steps / per * passes) - srv.request_overhead_s
    energy = run_energy_j(dev, n_dev, width, dyn, busy, e2e)
    seqs = B * opts.dp  # sequences over every DP-attention rank (``B`` per rank)
    bw = run.decode.bandwidth_bytes_per_s
    dec_time = np.maximum(dec_mean, 1e-30)
    # MFU's flop at the reference rate (the primary's matrix peak at the compute type): an op
    # of a faster data type counts its flop scaled down to that rate (cost/roofline.py)
    mx = dev.primary.unit_for("matrix")
    pre_ref = _reference_flop(pre_costs, reference_factors(pre_ops, mx, prec))
    # MBU counts memory traffic only: a collective's bytes cross the link, not the memory tier
    # (counting them gave MBU > 1 where the link is faster than the memory, e.g. LPDDR)
    pre_mem = _memory_bytes(pre_ops, pre_costs)
    dec_mem = mean_ctx(np.broadcast_to(_memory_bytes(dec_ops, dec_costs) + sp.memory_bytes, ctx.shape))
    out = {
        "ttft_s": ttft,
        "tpot_s": tpot,
        "e2e_latency_s": e2e,
        "output_throughput_tok_per_s": seqs * G / e2e,
        "mbu": np.where(steps > 0, _utilisation(dec_mem, dec_time, bw * opts.pp + sp.bw_bytes_per_s), 0.0),
        "mfu": _utilisation(pre_ref, pre_t, run.prefill.peak_flop_per_s * opts.pp),
        "energy_j": energy,
        "energy_j_per_token": energy / (seqs * G),
        "avg_power_w": energy / e2e,
        "prefill_flop": pre["flop"],
        "prefill_bytes": pre["bytes"],
        "prefill_energy_j": pre["energy_j"] * width,
        "prefill_mbu": _utilisation(pre_mem, pre_t, bw * opts.pp),
        "decode_time_s": dec_mean,
        "decode_energy_j": dec_energy * width,
        "decode_tokens_per_step": np.full(B.shape, per),
        # 1 where issuing the pass's kernels takes longer than running them (most decode steps)
        "prefill_host_bound": np.where(host_bound[0], 1.0, 0.0),
        "decode_host_bound": np.where(host_bound[1], 1.0, 0.0),
    }
    if records:
        dec_ref = _reference_flop(dec_costs, reference_factors(dec_ops, mx, prec)) + sp.reference_flop
        dec_flop, dec_bytes = dec["flop"] + sp.flop, dec["bytes"] + sp.memory_bytes
        out["decode_flop"] = mean_ctx(np.broadcast_to(dec_flop, ctx.shape))
        out["decode_bytes"] = mean_ctx(np.broadcast_to(dec_bytes, ctx.shape))
        dec_ref_mean = mean_ctx(np.broadcast_to(dec_ref, ctx.shape))
        dec_peak = run.decode.peak_flop_per_s * opts.pp + sp.peak_flop_per_s
        out["decode_mfu"] = _utilisation(dec_ref_mean, dec_time, dec_peak)
    n = B.shape
    metrics = {k: np.broadcast_to(np.asarray(v, dtype=float), n) for k, v in out.items()}
    return Evaluated(metrics, pre_ops, dec_ops, run)


def _stage_handoffs(
    model: ModelSpec, dev: Device, prec: Precision, opts: Options, B: Any, P: Any
) -> tuple[Any, Any]:
    """Seconds of the pipeline hand-offs of the prefill and of a decode step (0 without pp):
    one message per boundary, over the scale-up interconnect where the two stages share a
    scale-up domain and over each device's NIC where they do not (stages of tp x dp devices
    laid out in order: EP8 x PP2 on two 8-GPU nodes hands over between the nodes)."""
    pp = opts.pp
    if pp <= 1 or dev.interconnect is None:
        return 0.0, 0.0
    act = model.d_model * prec.activation.bytes_per_element
    pre: Any = 0.0
    step: Any = 0.0
    for link, n in _handoff_links(dev, opts.tp * opts.dp, pp):
        bw = link.bandwidth_bytes_per_s * (link.efficiency if link is dev.scale_out else 1.0)
        pre = pre + n * (link.latency_s + B * P * act / bw)
        step = step + n * (link.latency_s + B * act / bw)
    return pre, step


def _handoff_links(dev: Device, width: int, pp: int) -> list[tuple[Link, int]]:
    """(link, boundaries) of the pp - 1 stage boundaries of stages ``width`` devices wide."""
    assert dev.interconnect is not None
    node = dev.node_devices
    across = 0
    for i in range(1, pp):  # stage i-1 hands to stage i: device j to device j + width
        first, last = (i - 1) * width, (i + 1) * width - 1
        across += node > 0 and (width >= node or first // node != last // node)
    if across and dev.scale_out is None:
        raise ConfigError(
            f"pp={pp} stages of {width} devices span more than one {node}-device scale-up domain of "
            f"{dev.name}, which has no scale_out network: add scale_out (each device's NIC) to the "
            f"hardware file, or use at most {node} devices"
        )
    out = [(dev.interconnect, pp - 1 - across)]
    return [*out, (dev.scale_out, across)] if dev.scale_out is not None and across else out


def _reference_flop(costs: list[Cost], factors: list[float]) -> Any:
    """A phase's flop with each op's weighted by its reference factor, summed in op order."""
    return op_sum([c.flop if k == 1.0 else c.flop * k for c, k in zip(costs, factors, strict=True)])


def _memory_bytes(ops: list[Op], costs: list[Cost]) -> Any:
    """Bytes the ops move to and from memory (collectives excluded: they move over a link)."""
    return op_sum([c.bytes for op, c in zip(ops, costs, strict=True) if op.kind != "collective"])


def _utilisation(work: Any, time_s: Any, peak_per_s: Any) -> FloatArray:
    """work / time / peak. Every op's time is at least its work at the peak rate, so the
    ratio exceeds 1 only by floating-point rounding (1 + 4e-16), which is clipped here; a
    larger excess is a modelling bug and is left for :func:`analysis.checks.check_result`
    to refuse rather than hidden."""
    raw = np.asarray(work, dtype=float) / time_s / peak_per_s
    out: FloatArray = np.where(raw <= 1.0 + 1e-9, np.minimum(raw, 1.0), raw)
    return out
