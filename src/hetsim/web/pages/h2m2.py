"""H2M2: the paper reproduction (``hetsim reproduce h2m2``): speedups per policy against the
paper's, the targets, and the memory-tier timeline of the dynamic run."""

from __future__ import annotations

from typing import Any

from hetsim.web.context import Context
from hetsim.web.figures import axis, layout
from hetsim.web.pages import Page, register
from hetsim.web.timeline import memory_timeline
from hetsim.web.view import Card, Column, Field, Figure, Inputs, Table, View

POLICIES = ("hbm-only", "hierarchical", "static-lp", "attention-first", "h2m2", "oracle")
TARGET_COLUMNS = (
    Column("target", "target"),
    Column("value", "ours", "float"),
    Column("paper", "paper"),
    Column("lo", "accepted from", "float"),
    Column("hi", "accepted to", "float"),
    Column("met", "met"),
)


def fields(ctx: Context) -> list[Field]:
    return [
        Field(
            "reading",
            "reading",
            "select",
            "calibrated",
            ("calibrated", "literal"),
            help="literal: the paper's stated hardware only; calibrated: one set of global, named knobs",
        )
    ]


def speedup_figure(block: dict[str, Any], reading: str) -> Figure:
    models = list(block)
    traces = [
        {
            "type": "bar",
            "name": p,
            "x": models,
            "y": [block[m].get(p, {}).get("mean_speedup") for m in models],
            "hovertemplate": "%{x}: %{y:.2f}×<extra>" + p + "</extra>",
        }
        for p in POLICIES
    ]
    return Figure(
        "h2m2-speedup",
        f"Mean speedup over LPDDR-only per model ({reading} reading)",
        traces,
        layout(
            barmode="group",
            xaxis=axis("model"),
            yaxis=axis("speedup over LPDDR-only (×)"),
            shapes=[
                {
                    "type": "line",
                    "xref": "paper",
                    "x0": 0,
                    "x1": 1,
                    "y0": 1,
                    "y1": 1,
                    "line": {"color": "#888", "dash": "dot"},
                }
            ],
        ),
        "Averaged over the paper's sequence lengths; the dotted line is LPDDR-only (1×). A missing bar: "
        "that policy has no speedup for the model (hbm-only: the model does not fit in HBM).",
    )


def h2m2_view(
    results: dict[str, Any], records: Any = None, capacity: Any = None, reading: str = "calibrated"
) -> View:
    """The reproduction's figures and targets; the timeline needs the run's records."""
    block = results["models"] if reading == "calibrated" else results["literal"]
    targets = results["targets"]
    met = sum(bool(t["met"]) for t in targets)
    cards = [
        Card(
            "targets_met",
            "targets met",
            met,
            f"{met} / {len(targets)}",
            "good" if met == len(targets) else "",
        ),
        *(
            Card(
                f"{m}_h2m2",
                f"{m}: h2m2 speedup",
                block[m]["h2m2"]["mean_speedup"],
                f"{block[m]['h2m2']['mean_speedup']:.2f}×",
            )
            for m in block
        ),
    ]
    figs = [speedup_figure(block, reading)]
    notes = []
    if records is not None and capacity is not None:
        figs.append(
            memory_timeline(
                records,
                ("HBM", "LPDDR"),
                capacity,
                "Memory-tier timeline of the dynamic run (GPT3-175B, B = 32, H2M2 policy)",
            )
        )
    else:
        notes.append(
            "The memory-tier timeline needs the run itself (dashboard or `make demo`), not results.json."
        )
    rows = [[t["target"], t["value"], t["paper"], t["lo"], t["hi"], bool(t["met"])] for t in targets]
    notes.append(
        "Missed targets stay listed with our figure; docs/h2m2.md and out/h2m2/report.md give the reasons."
    )
    return View(
        f"H2M2 reproduction (arXiv 2504.14893), {reading} reading",
        cards,
        figs,
        [Table("targets", "Targets", TARGET_COLUMNS, rows)],
        notes,
    )


def reproduction(ctx: Context) -> Any:
    """The reproduction, computed once per dashboard (a few seconds) and cached."""
    from hetsim.api.reproduce import reproduce

    return ctx.cached("h2m2", reproduce)


def build(inp: Inputs, ctx: Context) -> View:
    reading = inp.choice("reading", ("calibrated", "literal"), "calibrated")
    rep = reproduction(ctx)
    recs = rep.dynamic_records["h2m2"] if reading == "calibrated" else None
    return h2m2_view(rep.results, recs, rep.capacity_bytes if recs else None, reading)


PAGE = register(
    Page(
        "h2m2",
        "H2M2",
        "The H2M2 reproduction: a bandwidth side (HBM3) and a capacity side (LPDDR5X), each with its own "
        "compute, and a head-aware mapping chosen at run time as the KV cache grows.",
        fields,
        build,
        order=60,
        heavy=True,
    )
)
