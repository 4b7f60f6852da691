"""Compare: two to six systems on the same model and workload (each one `hetsim analyze`)."""

from __future__ import annotations

from hetsim.analysis.result import AnalysisResult
from hetsim.errors import ConfigError
from hetsim.hardware.loader import get_hardware
from hetsim.sim.inference import Workload, analyze
from hetsim.web import figures
from hetsim.web.context import Context
from hetsim.web.pages import Page, register
from hetsim.web.pages.common import (
    hardware_field,
    model_fields,
    precision_fields,
    read_model,
    read_precision,
    workload_fields,
)
from hetsim.web.view import Column, Field, Inputs, Table, View

MAX_SYSTEMS = 6
DEFAULT_SYSTEMS = (("a100-80gb-sxm", 1), ("h100-sxm", 1), ("h200", 1))
COLUMNS = (
    Column("system", "system"),
    Column("fits", "fits"),
    Column("ttft_s", "TTFT", "time"),
    Column("tpot_s", "TPOT", "time"),
    Column("e2e_latency_s", "end-to-end", "time"),
    Column("output_throughput_tok_per_s", "throughput (tok/s)", "float"),
    Column("energy_j_per_token", "energy per token (J)", "float"),
    Column("mbu", "MBU", "pct"),
    Column("mfu", "MFU", "pct"),
    Column("footprint_bytes", "footprint per device", "bytes"),
)
# (label, attribute, display scale)
PANELS = (
    ("TTFT (ms)", "ttft_s", 1e3),
    ("TPOT (ms)", "tpot_s", 1e3),
    ("output throughput (tok/s)", "output_throughput_tok_per_s", 1.0),
    ("energy per token (J)", "energy_j_per_token", 1.0),
)


def fields(ctx: Context) -> list[Field]:
    out = [*model_fields("llama2-13b"), *precision_fields(), *workload_fields(8, 1024, 256)]
    for i in range(1, MAX_SYSTEMS + 1):
        hw, tp = DEFAULT_SYSTEMS[i - 1] if i <= len(DEFAULT_SYSTEMS) else ("", 1)
        out.append(hardware_field(f"hw{i}", hw, f"system {i}", group=f"system {i}", allow_none=i > 2))
        out.append(Field(f"tp{i}", "× devices (tp)", "number", tp, group=f"system {i}"))
    return out


def label(r: AnalysisResult) -> str:
    return f"{r.tp}× {r.hardware}" if r.tp > 1 else r.hardware


def comparison_view(results: list[AnalysisResult], title: str) -> View:
    """Bars and a table of the systems' results (also the report of a comparison)."""
    labels = [label(r) for r in results]
    if len(set(labels)) < len(labels):
        labels = [f"{i + 1}: {s}" for i, s in enumerate(labels)]
    rows = [
        [lab, r.fits, *(getattr(r, c.key) for c in COLUMNS[2:])]
        for lab, r in zip(labels, results, strict=True)
    ]
    panels = [(name, [getattr(r, key) * scale for r in results]) for name, key, scale in PANELS]
    notes = [
        f"{lab} does not fit: {'; '.join(r.notes)}"
        for lab, r in zip(labels, results, strict=True)
        if not r.fits
    ]
    notes.append("$/Mtoken waits for the cost model of the explore issue (10).")
    return View(
        title,
        figures=[
            figures.grid_bars(
                "compare-bars", "Systems side by side (lower latency and energy are better)", labels, panels
            )
        ],
        tables=[Table("compare", "Systems", COLUMNS, rows)],
        notes=notes,
    )


def build(inp: Inputs, ctx: Context) -> View:
    model = read_model(inp, ctx)
    prec = read_precision(inp)
    w = Workload(inp.integer("batch", 8), inp.integer("input_len", 1024), inp.integer("output_len", 256))
    results = []
    for i in range(1, MAX_SYSTEMS + 1):
        name = inp.text(f"hw{i}")
        if name:
            tp = inp.integer(f"tp{i}", 1, maximum=1024)
            results.append(analyze(model, get_hardware(name), w, prec, tp=tp))
    if len(results) < 2:
        raise ConfigError("choose at least two systems to compare")
    return comparison_view(
        results, f"{model.name}: {prec.label}, batch {w.batch}, {w.input_len} + {w.output_len} tokens"
    )


PAGE = register(
    Page(
        "compare",
        "Compare",
        "Two to six systems on the same model and workload. Each column is one `hetsim analyze` "
        "run; systems that do not fit are reported, not hidden.",
        fields,
        build,
        order=20,
    )
)
