"""Explore: a sweep store written by ``hetsim explore run``, read from the folder the
dashboard was started with (``--sweep DIR``): the Pareto front of two chosen columns, filters
on any numeric column (SLOs), a frontier-only toggle, and the design under the pointer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hetsim.errors import ConfigError
from hetsim.web.context import Context, pick
from hetsim.web.figures import PALETTE, axis, layout
from hetsim.web.pages import Page, register
from hetsim.web.view import Card, Column, Field, Figure, Inputs, Table, View

Array = np.ndarray[Any, Any]
MANIFEST = "manifest.json"
DESIGN = (
    "model",
    "hardware",
    "policy",
    "weight_dtype",
    "kv_dtype",
    "tp",
    "pp",
    "batch",
    "input_len",
    "output_len",
)
DEFAULT_X, DEFAULT_Y = "tok_per_s_per_user", "tok_per_s_per_device"
MAX_SHOWN = 20_000  # points drawn besides the frontier (a uniform sample beyond this; stated on the page)
MAX_COLORS = len(PALETTE)
SENSE_HELP = "auto: the spec's objective, else throughput max and time, cost, energy min"
SENSES = ("auto", "max", "min")  # auto: the spec's objective, else the column's known direction


def store_roots(ctx: Context) -> dict[str, Path]:
    """Stores under ``--sweep DIR`` by the name the page shows: the folder itself (by its own
    name) and its sub-folders with a manifest (a link out of the folder is left out)."""
    root = ctx.sweep_dir
    if root is None or not root.is_dir():
        return {}
    base = root.resolve()
    subs = {
        p.parent.name: p.parent
        for p in sorted(root.glob(f"*/{MANIFEST}"))
        if p.resolve().is_relative_to(base)
    }
    if not (root / MANIFEST).is_file():
        return subs
    own = base.name or "."
    return {(own if own not in subs else "."): root, **subs}


def stores(ctx: Context) -> list[str]:
    return list(store_roots(ctx))


def _numeric_columns(ctx: Context) -> list[str]:
    """Numeric columns of the stores (read from the Parquet schemas, not the data)."""
    names: dict[str, None] = {}
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return [DEFAULT_X, DEFAULT_Y]
    for root in store_roots(ctx).values():
        files = sorted((root / "chunks").glob("c-*.parquet"))[:1]
        for f in files:
            try:
                schema = pq.read_schema(f)
            except (OSError, ValueError):  # a damaged chunk: the page names it when chosen
                continue
            for fld in schema:
                t = str(fld.type)
                if t.startswith(("int", "uint", "float", "double", "bool")) and fld.name != "index":
                    names[fld.name] = None
    return list(names) or [DEFAULT_X, DEFAULT_Y]


def fields(ctx: Context) -> list[Field]:
    cols = _numeric_columns(ctx)
    found = stores(ctx)
    return [
        Field(
            "store",
            "sweep store",
            "select",
            found[0] if found else "",
            tuple(found) or ("",),
            group="store",
            help=f"under {ctx.sweep_dir}" if ctx.sweep_dir else "start with hetsim dashboard --sweep DIR",
        ),
        Field(
            "x", "x axis", "select", DEFAULT_X if DEFAULT_X in cols else cols[0], tuple(cols), group="axes"
        ),
        Field("x_sense", "x is better when", "select", "auto", SENSES, group="axes", help=SENSE_HELP),
        Field(
            "y", "y axis", "select", DEFAULT_Y if DEFAULT_Y in cols else cols[-1], tuple(cols), group="axes"
        ),
        Field("y_sense", "y is better when", "select", "auto", SENSES, group="axes", help=SENSE_HELP),
        Field(
            "filters",
            "filters (SLOs)",
            "text",
            "",
            group="filters",
            help="comma-separated, e.g. tpot_s <= 0.05, ttft_s <= 2, fits == 1",
        ),
        Field("frontier_only", "frontier only", "checkbox", False, group="filters"),
        Field(
            "color",
            "colour by",
            "select",
            "hardware",
            ("hardware", "model", "policy", "tp", "batch"),
            group="filters",
        ),
        Field("log_x", "log x", "checkbox", False, group="filters"),
        Field("log_y", "log y", "checkbox", False, group="filters"),
    ]


def _read(ctx: Context, root: Path) -> dict[str, Array]:
    from hetsim.api.explore import open_existing, read_results

    open_existing(root)  # a one-line error for a folder that is not (yet) a store
    done = root / "done.jsonl"
    stamp = done.stat().st_mtime_ns if done.exists() else 0
    cols: dict[str, Array] = ctx.cached(("explore", str(root), stamp), lambda: read_results(root))
    return cols


def parse_filters(text: str, cols: dict[str, Array]) -> list[Any]:
    """``col <= v`` bounds in the sweep spec's own syntax (hetsim.explore.spec.Bound)."""
    from hetsim.api.explore import BOUND_PATTERN, Bound

    out = []
    for part in (p for p in text.split(",") if p.strip()):
        m = BOUND_PATTERN.match(part)
        if not m:
            raise ConfigError(f"filter {part.strip()!r}: write a bound like 'tpot_s <= 0.05'")
        if m.group(1) not in cols or cols[m.group(1)].dtype.kind not in "iufb":
            raise ConfigError(f"filter {part.strip()!r}: no numeric column {m.group(1)!r} in this store")
        out.append(Bound(m.group(1), m.group(2), float(m.group(3))))
    return out


def _hover(cols: dict[str, Array], idx: Array, x: str, y: str) -> list[str]:
    design = [c for c in DESIGN if c in cols]
    return [
        "<br>".join(
            [" · ".join(f"{c} {cols[c][i]}" for c in design), f"{x} {cols[x][i]:.4g}, {y} {cols[y][i]:.4g}"]
        )
        for i in idx
    ]


def build(inp: Inputs, ctx: Context) -> View:
    if ctx.sweep_dir is None:
        raise ConfigError(
            "no sweep store: start the dashboard with --sweep DIR (a folder written by hetsim explore run)"
        )
    roots = store_roots(ctx)
    name = inp.text("store") or next(iter(roots), "")
    root = roots[pick(name, roots, "sweep store")]
    cols = _read(ctx, root)
    x, y = inp.text("x", DEFAULT_X), inp.text("y", DEFAULT_Y)
    for c in (x, y):
        if c not in cols or cols[c].dtype.kind not in "iufb":
            raise ConfigError(f"no numeric column {c!r} in {name}; choose from the x and y lists")
    from hetsim.api.explore import Store, design_columns, parse_spec, resolve_senses

    spec = parse_spec(Store(root).manifest()["spec"])
    chosen = [inp.choice("x_sense", SENSES, "auto"), inp.choice("y_sense", SENSES, "auto")]
    (_, sx, _), (_, sy, _) = (
        resolve_senses([c], None if s == "auto" else [s], spec.objectives)[0]
        for c, s in zip((x, y), chosen, strict=True)
    )
    bounds = parse_filters(inp.text("filters"), cols)
    n_all = len(cols[x])
    keep = np.ones(n_all, dtype=bool)
    for b in bounds:
        keep &= b.keep(np.asarray(cols[b.column], dtype=float))
    kept = {k: v[keep] for k, v in cols.items()}
    from hetsim.api.explore import pareto_mask, varying_columns

    front = pareto_mask(kept, [(x, sx), (y, sy)]) if keep.any() else np.zeros(0, dtype=bool)
    fidx = np.flatnonzero(front)
    fidx = fidx[np.argsort(np.asarray(kept[x], dtype=float)[fidx], kind="stable")]
    figure, shown = _figure(kept, front, fidx, x, y, inp)
    cards = [
        Card("rows", "rows in the store", n_all, f"{n_all:,}"),
        Card("kept", "rows passing the filters", int(keep.sum()), f"{int(keep.sum()):,}"),
        Card("frontier", "designs on the frontier", len(fidx), f"{len(fidx):,}"),
    ]
    varying = varying_columns(kept, design_columns(spec))
    shown_cols = [c for c in (*varying, x, y, "usd_per_mtoken", "ttft_s", "tpot_s") if c in kept]
    shown_cols = list(dict.fromkeys(shown_cols))
    table = Table(
        "frontier",
        f"Frontier designs, by {x}",
        tuple(Column(c, c, _fmt(c)) for c in shown_cols),
        [[kept[c][i] for c in shown_cols] for i in fidx],
    )
    rest = int(keep.sum()) - len(fidx)
    notes = []
    if not inp.flag("frontier_only") and shown < rest:
        notes.append(
            f"drawing {shown:,} of {rest:,} non-frontier points (a uniform sample); the frontier is "
            "computed on every row"
        )
    what = ", ".join(b.text for b in bounds) or "no filters"
    return View(f"{name}: {y} ({sy}) against {x} ({sx}); {what}", cards, [figure], [table], notes)


def _fmt(col: str) -> Any:
    if col.endswith("_s"):
        return "time"
    if col.endswith("_bytes"):
        return "bytes"
    return "float" if col not in DESIGN else ""


def _figure(
    kept: dict[str, Array], front: Array, fidx: Array, x: str, y: str, inp: Inputs
) -> tuple[Figure, int]:
    traces: list[dict[str, Any]] = []
    shown = 0
    if not inp.flag("frontier_only"):
        rest = np.flatnonzero(~front)
        if rest.size > MAX_SHOWN:
            rest = np.sort(np.random.default_rng(0).choice(rest, MAX_SHOWN, replace=False))
        shown = int(rest.size)
        by = inp.text("color", "hardware")
        groups = kept[by][rest].astype(str) if by in kept else np.array(["all"] * rest.size)
        names, counts = np.unique(groups, return_counts=True)
        top = [str(n) for n in names[np.argsort(-counts, kind="stable")]]
        if len(top) > MAX_COLORS:  # the largest groups get a colour each, the rest one "other"
            groups = np.where(np.isin(groups, top[: MAX_COLORS - 1]), groups, "other")
            top = [*top[: MAX_COLORS - 1], "other"]
        for j, label in enumerate(top):
            idx = rest[groups == label]
            traces.append(
                {
                    "type": "scattergl",
                    "mode": "markers",
                    "name": f"{by} {label}",
                    "x": kept[x][idx].tolist(),
                    "y": kept[y][idx].tolist(),
                    "text": _hover(kept, idx, x, y),
                    "hovertemplate": "%{text}<extra></extra>",
                    "marker": {"size": 6, "color": PALETTE[j % len(PALETTE)], "opacity": 0.55},
                }
            )
    traces.append(
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "Pareto frontier",
            "x": kept[x][fidx].tolist(),
            "y": kept[y][fidx].tolist(),
            "text": _hover(kept, fidx, x, y),
            "hovertemplate": "%{text}<extra>frontier</extra>",
            "line": {"color": "#d62728", "width": 1.5},
            "marker": {"size": 9, "color": "#d62728", "line": {"color": "#000", "width": 0.5}},
        }
    )
    lay = layout(xaxis=axis(x, log=inp.flag("log_x")), yaxis=axis(y, log=inp.flag("log_y")))
    return Figure(
        "pareto",
        f"Pareto front: {y} against {x}",
        traces,
        lay,
        "Red: the designs no other design beats on both axes (after the filters). "
        "Hover a point for its design.",
    ), shown


PAGE = register(
    Page(
        "explore",
        "Explore",
        "A design-space sweep written by `hetsim explore run`: choose the axes, filter on any column, "
        "and read the designs on the Pareto front.",
        fields,
        build,
        order=30,
        cacheable=False,  # a store grows while hetsim explore run writes it; _read keys on its manifest
        heavy=True,
    )
)
