"""Compare: two to six systems on the same model and workload (each one `hetsim analyze`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hetsim.api.analysis import AnalysisResult, run_analysis
from hetsim.api.lookup import Device, hardware_preset, system_cost, usd_per_mtoken
from hetsim.errors import ConfigError
from hetsim.web import figures
from hetsim.web.context import Context
from hetsim.web.pages import Page, register
from hetsim.web.pages.common import (
    hardware_field,
    model_fields,
    option_fields,
    read_options,
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
    Column("usd_per_mtoken", "$ per M output tokens", "float"),
    Column("capex_usd", "capex ($)", "float"),
)
# (label, attribute, display scale)
PANELS = (
    ("TTFT (ms)", "ttft_s", 1e3),
    ("TPOT (ms)", "tpot_s", 1e3),
    ("output throughput (tok/s)", "output_throughput_tok_per_s", 1.0),
    ("energy per token (J)", "energy_j_per_token", 1.0),
)
COST_PANEL = "$ per M output tokens"


def fields(ctx: Context) -> list[Field]:
    out = [*model_fields("llama2-13b"), *option_fields(skip=("tp",)), *workload_fields(8, 1024, 256)]
    for i in range(1, MAX_SYSTEMS + 1):
        hw, tp = DEFAULT_SYSTEMS[i - 1] if i <= len(DEFAULT_SYSTEMS) else ("", 1)
        out.append(hardware_field(f"hw{i}", hw, f"system {i}", group=f"system {i}", allow_none=i > 2))
        out.append(Field(f"tp{i}", "× devices (tp)", "number", tp, group=f"system {i}"))
    return out


def cost_of(row: Mapping[str, Any], device: Device | None) -> tuple[float | None, float | None]:
    """($ per million output tokens, capex $) of the run's tp x pp devices at the run's average
    power, with the explore issue's price book (hetsim.cost.prices); None without a preset device
    or a run that does not fit. Rows of ``hetsim compare --json`` carry no power: it is the energy
    per output token times the output rate (the run's energy over its duration, exactly)."""
    power, thr = row.get("avg_power_w"), row.get("output_throughput_tok_per_s")
    if power is None and thr is not None and row.get("energy_j_per_token") is not None:
        power = float(row["energy_j_per_token"]) * float(thr)
    if device is None or power is None or thr is None:
        return None, None
    sc = system_cost(device, int(row["tp"]) * int(row["pp"]), float(power))
    return float(usd_per_mtoken(sc.usd_per_hour, thr)), sc.capex_usd


# what names a comparison row (``hetsim compare --json`` rows carry these first)
IDENTITY_KEYS = ("model", "hardware", "precision", "tp", "pp", "batch", "input_len", "output_len", "fits")


def summary(r: AnalysisResult) -> dict[str, Any]:
    """The fields a comparison shows, as ``hetsim compare --json`` rows name them."""
    keys = (
        *IDENTITY_KEYS,
        "notes",
        "avg_power_w",
        *(c.key for c in COLUMNS[2:-2]),
    )
    return {k: getattr(r, k) for k in keys}


def label(row: Mapping[str, Any]) -> str:
    return f"{row['tp']}× {row['hardware']}" if int(row["tp"]) > 1 else str(row["hardware"])


def comparison_view(rows: list[dict[str, Any]], devices: list[Device | None], title: str) -> View:
    """Bars and a table of the systems' results (also the report of a comparison). ``rows``:
    :func:`summary` of each result, or the rows of ``hetsim compare --json`` (None where a
    system does not fit)."""
    labels = [label(r) for r in rows]
    if len(set(labels)) < len(labels):
        labels = [f"{i + 1}: {s}" for i, s in enumerate(labels)]
    costs = [cost_of(r, d) for r, d in zip(rows, devices, strict=True)]
    table = [
        [lab, r["fits"], *(r.get(c.key) for c in COLUMNS[2:-2]), *cost]
        for lab, r, cost in zip(labels, rows, costs, strict=True)
    ]

    def num(v: Any, scale: float = 1.0) -> float:
        return float("nan") if v is None else float(v) * scale

    panels = [(name, [num(r.get(key), scale) for r in rows]) for name, key, scale in PANELS]
    panels.append((COST_PANEL, [num(c[0]) for c in costs]))
    notes = [
        f"{lab} does not fit in memory" + (f": {'; '.join(r['notes'])}" if r.get("notes") else "")
        for lab, r in zip(labels, rows, strict=True)
        if not r["fits"]
    ]
    notes.append(
        "$ per million tokens: capex amortised plus energy at the run's average power, from the price "
        "book of hetsim.cost.prices (sources in src/hetsim/cost/prices.yaml)."
    )
    return View(
        title,
        figures=[
            figures.grid_bars(
                "compare-bars",
                "Systems side by side (lower latency, energy and cost are better)",
                labels,
                panels,
            )
        ],
        tables=[Table("compare", "Systems", COLUMNS, table)],
        notes=notes,
    )


def build(inp: Inputs, ctx: Context) -> View:
    base = read_options(inp, ctx, hardware="a100-80gb-sxm", tp=1)  # every option but the systems'
    results = []
    devices: list[Device | None] = []
    for i in range(1, MAX_SYSTEMS + 1):
        name = inp.text(f"hw{i}")
        if name:
            tp = inp.integer(f"tp{i}", 1, maximum=1024)
            opts = base.replace(hardware=hardware_preset(name), tp=tp, ignore_capacity=True)
            dev = opts.device()
            row = summary(run_analysis(opts))
            if not row["fits"] and not base.ignore_capacity:  # no figures for a run that cannot happen
                row.update({c.key: None for c in COLUMNS[2:-2]})
            results.append(row)
            devices.append(dev)
    if len(results) < 2:
        raise ConfigError("choose at least two systems to compare")
    prec = base.precision()
    return comparison_view(
        results,
        devices,
        f"{base.model_spec().name}: {prec.label}, batch {base.batch}, "
        f"{base.input_len} + {base.output_len} tokens",
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
