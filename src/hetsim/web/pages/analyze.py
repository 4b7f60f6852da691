"""Analyze: one static-batch run, as ``hetsim analyze`` computes it (same core call)."""

from __future__ import annotations

from hetsim.api.analysis import AnalysisResult, run_analysis
from hetsim.api.lookup import Device
from hetsim.units import fmt_bytes, fmt_time
from hetsim.web import figures
from hetsim.web.context import Context
from hetsim.web.pages import Page, register
from hetsim.web.pages.common import (
    hardware_field,
    hardware_upload_field,
    model_fields,
    option_fields,
    read_options,
    workload_fields,
)
from hetsim.web.timeline import tier_timeline
from hetsim.web.view import Card, Column, Field, Inputs, Table, View

OP_COLUMNS = (
    Column("phase", "phase"),
    Column("name", "operator"),
    Column("sublayer", "sublayer"),
    Column("unit", "unit"),
    Column("count", "layers", "int"),
    Column("time_s", "time", "time"),
    Column("flop", "flop", "sci"),
    Column("bytes", "bytes", "bytes"),
    Column("weight_bytes", "weight bytes", "bytes"),
    Column("kv_bytes", "KV bytes", "bytes"),
    Column("act_bytes", "activation bytes", "bytes"),
    Column("intensity", "flop/byte", "float"),
    Column("compute_s", "compute time", "time"),
    Column("memory_s", "memory time", "time"),
    Column("energy_j", "energy (J)", "float"),
    Column("bound", "bound"),
    Column("data", "data on"),
    Column("compute", "runs on"),
    Column("route", "route"),
)
SIDE_COLUMNS = (
    Column("name", "side"),
    Column("memory", "memory"),
    Column("resident_bytes", "holds (peak)", "bytes"),
    Column("capacity_bytes", "capacity", "bytes"),
    Column("fits", "fits"),
    Column("bytes_moved", "bytes moved", "bytes"),
    Column("busy_s", "busy", "time"),
    Column("energy_j", "energy (J)", "float"),
)
REMAP_COLUMNS = (
    Column("step", "decode step", "int"),
    Column("context", "context", "int"),
    Column("change", "what moved"),
    Column("migrated_bytes", "migrated", "bytes"),
    Column("migration_s", "migration time", "time"),
)


def fields(ctx: Context) -> list[Field]:
    return [*model_fields("llama2-7b"), hardware_field(), hardware_upload_field(), *option_fields(),
            *workload_fields(1, 512, 128)]  # fmt: skip


def summary_cards(r: AnalysisResult) -> list[Card]:
    """The CLI's summary rows, one card each (same values, same formatting)."""
    fits = "yes" if r.fits else "no"
    return [
        Card("params", "parameters", r.params, f"{r.params / 1e9:.2f} B"),
        Card("weight_bytes", "weights", r.weight_bytes, fmt_bytes(r.weight_bytes)),
        Card(
            "kv_bytes_per_token", "KV cache per token", r.kv_bytes_per_token, fmt_bytes(r.kv_bytes_per_token)
        ),
        Card(
            "footprint_bytes",
            "footprint per device",
            r.footprint_bytes,
            f"{fmt_bytes(r.footprint_bytes)} of {fmt_bytes(r.capacity_bytes)}",
        ),
        Card("fits", "fits in memory", r.fits, fits, "good" if r.fits else "bad"),
        Card("ttft_s", "TTFT (prefill of the batch)", r.ttft_s, fmt_time(r.ttft_s)),
        Card("tpot_s", "TPOT (mean decode step)", r.tpot_s, fmt_time(r.tpot_s)),
        Card("e2e_latency_s", "end-to-end latency", r.e2e_latency_s, fmt_time(r.e2e_latency_s)),
        Card(
            "output_throughput_tok_per_s",
            "output throughput",
            r.output_throughput_tok_per_s,
            f"{r.output_throughput_tok_per_s:,.1f} tok/s",
        ),
        Card("mbu", "MBU (decode)", r.mbu, f"{r.mbu:.1%}"),
        Card("mfu", "MFU (prefill)", r.mfu, f"{r.mfu:.1%}"),
        Card("energy_j_per_token", "energy per token", r.energy_j_per_token, f"{r.energy_j_per_token:.3f} J"),
        Card("avg_power_w", "average power", r.avg_power_w, f"{r.avg_power_w:,.0f} W"),
        *band_cards(r),
        Card("policy", "placement policy", r.policy, r.policy),
    ]


def band_cards(r: AnalysisResult) -> list[Card]:
    """One card per uncertainty band (hetsim.analysis.uncertainty): [lo, hi] of the figure; a
    regime without held-out rows of its own says so."""
    shown = (
        ("ttft_s", "TTFT", fmt_time), ("tpot_s", "TPOT", fmt_time),
        ("output_throughput_tok_per_s", "throughput", lambda x: f"{x:,.1f} tok/s"),
        ("energy_j_per_token", "energy per token", lambda x: f"{x:.3f} J"),
    )  # fmt: skip
    out = []
    for key, label, fmt in shown:
        b = r.bands.get(key)
        if b is not None:
            tail = "" if b.validated else " (unvalidated regime)"
            out.append(Card(f"{key}_band", f"{label}: {b.level:.0%} band{tail}", [b.lo, b.hi],
                            f"{fmt(b.lo)} to {fmt(b.hi)}", "" if b.validated else "bad"))  # fmt: skip
    return out


def ops_table(r: AnalysisResult) -> Table:
    return Table(
        "ops",
        "Per-operator table (click a header to sort)",
        OP_COLUMNS,
        [[getattr(o, c.key) for c in OP_COLUMNS] for o in r.ops],
        "Prefill rows: the whole batch; decode rows: one step, mean over the decode steps. "
        "Each row sums the operator over its layers.",
    )


def analysis_view(r: AnalysisResult, device: Device | None, compute_dtype: str) -> View:
    """Everything the Analyze page and an analysis report show, from one result."""
    title = (
        f"{r.model} on {r.tp * r.pp}× {r.hardware}: {r.precision}, batch {r.batch}, "
        f"{r.input_len} + {r.output_len} tokens"
    )
    notes = list(r.notes)
    if r.policy_reason:
        notes.insert(0, f"placement: {r.policy_reason}")
    if device is None:
        notes.append(
            f"hardware {r.hardware!r} is not a preset: the roofline shows the operators without roofs"
        )
    return View(
        title,
        summary_cards(r),
        [
            figures.roofline(r, device, compute_dtype),
            figures.memory_use(r),
            figures.op_times(r, "prefill"),
            figures.op_times(r, "decode"),
            *([tl] if (tl := tier_timeline(r)) is not None else []),
        ],
        [ops_table(r), *placement_tables(r)],
        notes,
    )


def placement_tables(r: AnalysisResult) -> list[Table]:
    out = []
    if r.sides:
        rows = [[getattr(s, c.key) for c in SIDE_COLUMNS] for s in r.sides]
        out.append(Table("sides", "Memory sides (whole run)", SIDE_COLUMNS, rows))
    if r.remaps:
        rows = [[getattr(m, c.key) for c in REMAP_COLUMNS] for m in r.remaps]
        out.append(Table("remaps", "Re-maps during the decode", REMAP_COLUMNS, rows))
    return out


def build(inp: Inputs, ctx: Context) -> View:
    opts = read_options(inp, ctx)
    r = run_analysis(opts)
    return analysis_view(r, opts.device(), opts.precision().compute.name)


PAGE = register(
    Page(
        "analyze",
        "Analyze",
        "One static batch on one system: prefill of the whole batch, then decode steps with a "
        "growing context. The numbers are those of `hetsim analyze` for the same inputs.",
        fields,
        build,
        order=10,
    )
)
