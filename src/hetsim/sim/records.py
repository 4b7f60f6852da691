"""Result records of a run: the :class:`AnalysisResult` built from the evaluated metrics and
one :class:`OpResult` per priced op; :mod:`hetsim.sim.placed_records` adds the placement's
per-side, per-link and re-map records on them."""

from __future__ import annotations

from typing import Any

import numpy as np

from hetsim.analysis.result import AnalysisResult, FloatArray, OpResult, PhaseResult, SideResult
from hetsim.analysis.uncertainty import regime_of
from hetsim.cost.roofline import Cost
from hetsim.hardware.spec import Device
from hetsim.sim.config import Options, Workload
from hetsim.workload.dtypes import Precision
from hetsim.workload.graph import kv_bytes_per_token, weight_bytes
from hetsim.workload.model import ModelSpec
from hetsim.workload.ops import Op


def fit_note(sides: list[SideResult]) -> str:
    """The note of a run that does not fit: what each side holds of its capacity."""
    held = ", ".join(
        f"{s.name} {s.resident_bytes / 1e9:.1f} of {s.capacity_bytes / 1e9:.1f} GB" for s in sides
    )
    return f"does not fit: {held}"


def system_capacity(dev: Device) -> float:
    """Memory of one device over all its sides (bytes): ``capacity_bytes`` of a result, on
    every path; whether the chosen placement fits is decided side by side (``sides``)."""
    return float(sum(s.memory.capacity_bytes for s in dev.sides))


def result_record(
    m: ModelSpec,
    dev: Device,
    prec: Precision,
    w: Workload,
    opts: Options,
    fp: dict[str, Any],
    fits: bool,
    r: dict[str, FloatArray],
    ops: list[OpResult],
) -> AnalysisResult:
    """The result record of one evaluated configuration (N = 1) with its per-op records.
    ``fits``: the placement priced fits every side of the device."""
    cap = system_capacity(dev)

    def s(key: str) -> float:
        return float(np.asarray(r[key]).reshape(-1)[0])

    notes = list(dev.calibration_notes)  # what priced it: the calibration rule and knobs
    if not fits:
        held = [float(fp["total"]) if i == 0 else 0.0 for i in range(len(dev.sides))]
        sides = [SideResult(x.name, x.memory.name, x.memory.capacity_bytes, h, False, 0.0, 0.0, 0.0)
                 for x, h in zip(dev.sides, held, strict=True)]  # fmt: skip
        notes.append(fit_note(sides))
    if w.output_len == 1:
        notes.append("output_len = 1: no decode steps, TPOT is 0")
    if opts.experts.ep > 1:
        e = opts.experts
        how = (
            (
                f"DP attention: {e.dp} ranks{f' of TP{e.tp}' if e.tp > 1 else ''} of batch {w.batch} each "
                "(throughput and energy over all), "
                "experts dispatched and combined by all-to-all"
            )
            if e.dp_attention
            else "over the TP group"
        )
        notes.append(f"expert parallel EP{e.ep} ({how}); routing skew {e.skew:g}")
    if opts.speculation is not None:
        notes.append(opts.speculation.label)
    return AnalysisResult(
        model=m.name,
        hardware=dev.name,
        precision=prec.label,
        tp=opts.tp,
        pp=opts.pp,
        batch=w.batch,
        input_len=w.input_len,
        output_len=w.output_len,
        params=m.params,
        weight_bytes=weight_bytes(m, prec),
        kv_bytes_per_token=kv_bytes_per_token(m, prec),
        footprint_bytes=float(fp["total"]),
        footprint_breakdown={k: float(v) for k, v in fp.items() if k != "total"},
        capacity_bytes=cap,
        fits=fits,
        ttft_s=s("ttft_s"),
        tpot_s=s("tpot_s"),
        e2e_latency_s=s("e2e_latency_s"),
        output_throughput_tok_per_s=s("output_throughput_tok_per_s"),
        mbu=s("mbu"),
        mfu=s("mfu"),
        energy_j=s("energy_j"),
        energy_j_per_token=s("energy_j_per_token"),
        avg_power_w=s("avg_power_w"),
        prefill=PhaseResult(
            s("ttft_s"),
            s("prefill_flop"),
            s("prefill_bytes"),
            s("prefill_energy_j"),
            s("prefill_mbu"),
            s("mfu"),
        ),
        decode=PhaseResult(
            s("decode_time_s"),
            s("decode_flop"),
            s("decode_bytes"),
            s("decode_energy_j"),
            s("mbu"),
            s("decode_mfu"),
        ),
        ops=ops,
        notes=notes,
        calibration=dev.calibration,
        regime=regime_of(dev.name, dev.calibration, prec, m.is_moe),  # its uncertainty bands
    )


def op_result(op: Op, c: Cost, phase: str, dev: Device) -> OpResult:
    def f(x: Any) -> float:
        return float(np.asarray(x).reshape(-1)[0])

    flop, nbytes = f(c.flop), f(c.bytes)
    unit = "link" if op.kind == "collective" else dev.primary.unit_for(op.prefers).name
    n = op.count
    return OpResult(
        name=op.name,
        phase=phase,
        sublayer=op.sublayer,
        kind=op.kind,
        unit=unit,
        count=n,
        flop=flop,
        bytes=nbytes,
        weight_bytes=f(op.weight_bytes) * n,
        kv_bytes=f(op.kv_read_bytes + op.kv_write_bytes) * n,
        act_bytes=f(op.act_read_bytes + op.act_write_bytes) * n,
        intensity=flop / nbytes if nbytes else float("inf"),
        time_s=f(c.time_s),
        compute_s=f(c.compute_s),
        memory_s=f(c.memory_s),
        energy_j=f(c.energy_j),
        bound="link" if op.kind == "collective" else c.bound,
    )
