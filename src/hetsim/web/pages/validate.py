"""Validate: predicted against measured for the published measurements (``hetsim validate``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hetsim.api.validation import Report, Scored, validate
from hetsim.errors import ConfigError
from hetsim.web.context import Context, listing, pick
from hetsim.web.figures import axis, layout
from hetsim.web.pages import Page, register
from hetsim.web.view import Card, Column, Field, Figure, Inputs, Table, View

ALL = "all files"
BAND = 0.20  # the ±20% band drawn around y = x
LEVEL_COLORS = {"kernel": "#1f77b4", "e2e": "#d62728", "collective": "#2ca02c"}
GROUPS = (
    ("hardware", lambda s: s.row.hardware),
    ("metric", lambda s: s.metric),
    ("role/level", lambda s: f"{s.role}/{s.level}"),
    ("source", lambda s: s.row.source_id or s.row.file),
)
STAT_COLUMNS = (
    Column("group", "group"),
    Column("n", "rows", "int"),
    Column("mape", "mean abs. % error", "pct"),
    Column("median_ape", "median abs. % error", "pct"),
)


def csv_files(ctx: Context) -> list[str]:
    return listing(ctx.realdata_dir, "*.csv")


def fields(ctx: Context) -> list[Field]:
    return [
        Field(
            "file",
            "measurement file",
            "select",
            ALL,
            (ALL, *csv_files(ctx)),
            group="data",
            help=f"from {ctx.realdata_dir}" if ctx.realdata_dir else "no measurement folder found",
        ),
        Field(
            "upload",
            "or upload a measurement CSV",
            "file",
            accept=".csv",
            group="data",
            help="the columns of data/measurements/published/*.csv; read by the loader of hetsim validate",
        ),
        Field(
            "unit",
            "unit of the plotted rows",
            "select",
            "s",
            ("s", "tokens/s", "bytes/s", "elements/s", "flop/s"),
            group="data",
        ),
        Field(
            "calibrated",
            "calibrated profiles",
            "checkbox",
            True,
            group="data",
            help="off: the datasheet roofline (hetsim validate --uncalibrated)",
        ),
    ]


def _report(inp: Inputs, ctx: Context) -> tuple[Report, str]:
    calibrated = inp.flag("calibrated", True)
    up = inp.uploads.get("upload")
    if up is not None:
        path = ctx.save_upload(up, (".csv",))
        return validate([path], calibrated=calibrated), path.name
    if ctx.realdata_dir is None:
        raise ConfigError(
            "no measurement folder: start the dashboard with --measurements DIR, or upload a CSV"
        )
    name = inp.text("file", ALL) or ALL
    paths: list[Path] = (
        [ctx.realdata_dir / n for n in csv_files(ctx)]
        if name == ALL
        else [ctx.realdata_dir / pick(name, csv_files(ctx), "measurement file")]
    )
    if not paths:
        raise ConfigError(f"no *.csv files in {ctx.realdata_dir}")
    key = ("validate", tuple(str(p) for p in paths), calibrated)
    return ctx.cached(key, lambda: validate(paths, calibrated=calibrated)), name


def scatter(scored: list[Scored], unit: str) -> Figure:
    traces: list[dict[str, Any]] = []
    if scored:
        vals = [v for s in scored for v in (s.row.value, s.predicted)]
        lo, hi = min(vals) / 1.5, max(vals) * 1.5
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": [lo, hi, hi, lo],
                "y": [lo * (1 - BAND), hi * (1 - BAND), hi * (1 + BAND), lo * (1 + BAND)],
                "fill": "toself",
                "fillcolor": "rgba(0,160,0,0.12)",
                "line": {"width": 0},
                "name": f"±{BAND:.0%} band",
                "hoverinfo": "skip",
            }
        )
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": [lo, hi],
                "y": [lo, hi],
                "name": "y = x",
                "line": {"color": "#000", "width": 1},
                "hoverinfo": "skip",
            }
        )
    for level, color in LEVEL_COLORS.items():
        group = [s for s in scored if s.level == level]
        if group:
            traces.append(
                {
                    "type": "scattergl",
                    "mode": "markers",
                    "name": f"{level} ({len(group)} rows)",
                    "x": [s.row.value for s in group],
                    "y": [s.predicted for s in group],
                    "text": [
                        f"{s.row.key}<br>{s.row.hardware} · {s.metric} · {s.role} · error {s.ape:.1%}"
                        for s in group
                    ],
                    "hovertemplate": "%{text}<br>measured %{x:.4g}, predicted %{y:.4g}<extra></extra>",
                    "marker": {"size": 5, "color": color, "opacity": 0.6},
                }
            )
    return Figure(
        "validate-scatter",
        f"Predicted against measured (rows measured in {unit})",
        traces,
        layout(xaxis=axis(f"measured ({unit})", log=True), yaxis=axis(f"predicted ({unit})", log=True)),
        "Log-log; the line is y = x, the shaded band ±20%. Hover a point for its file and line.",
    )


def build(inp: Inputs, ctx: Context) -> View:
    rep, name = _report(inp, ctx)
    unit = inp.text("unit", "s") or "s"
    shown = [s for s in rep.scored if s.row.unit == unit]
    total = rep.stats()
    held = rep.stats(lambda s: s.role == "held-out")
    cards = [
        Card("rows_scored", "rows scored", len(rep.scored), f"{len(rep.scored):,}"),
        Card("rows_skipped", "rows skipped", sum(rep.skipped.values()), f"{sum(rep.skipped.values()):,}"),
        Card(
            "mape",
            "mean abs. % error (all rows)",
            total["mape"],
            f"{total['mape']:.1%}" if np.isfinite(total["mape"]) else "-",
        ),
        Card(
            "median_ape",
            "median abs. % error",
            total["median_ape"],
            f"{total['median_ape']:.1%}" if np.isfinite(total["median_ape"]) else "-",
        ),
        Card(
            "heldout_mape",
            "mean abs. % error (held-out)",
            held["mape"],
            f"{held['mape']:.1%}" if np.isfinite(held["mape"]) else "-",
        ),
    ]
    tables = [
        Table(
            f"by-{g.replace('/', '-')}",
            f"Error per {g}",
            STAT_COLUMNS,
            [[k, v["n"], v["mape"], v["median_ape"]] for k, v in rep.by(key).items()],
        )
        for g, key in GROUPS
    ]
    tables.append(
        Table(
            "skipped",
            "Rows not scored, by reason",
            (Column("reason", "reason"), Column("n", "rows", "int")),
            [[k, v] for k, v in sorted(rep.skipped.items())],
        )
    )
    notes = [] if shown else [f"no scored rows are measured in {unit}; choose another unit"]
    mode = "calibrated" if rep.calibrated else "uncalibrated (datasheet roofline)"
    return View(f"Validation of {name}, {mode}", cards, [scatter(shown, unit)], tables, notes)


PAGE = register(
    Page(
        "validate",
        "Validate",
        "Every published measurement the cost model can predict, predicted through the same path "
        "as `hetsim validate`; rows it cannot predict are counted by reason.",
        fields,
        build,
        order=40,
        heavy=True,
    )
)
