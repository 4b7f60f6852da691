"""Plotly figures (plain JSON, no plotly import) built from core-API results.

Every axis carries its unit; every trace a legend name; hover text names the operator or
design. Numbers are SI inside and scaled only for display (ms, GB, TFLOP/s), as the axis
titles say.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hetsim.api.analysis import AnalysisResult
from hetsim.api.lookup import Device
from hetsim.web.view import Figure

Trace = dict[str, Any]
# One colour per sublayer, shared by every figure (Plotly's default qualitative palette).
SUBLAYER_COLORS = {
    "qkv": "#1f77b4",
    "attention": "#ff7f0e",
    "fc": "#2ca02c",
    "norm": "#9467bd",
    "embed": "#8c564b",
    "lm_head": "#e377c2",
    "comm": "#7f7f7f",
}
PALETTE = ("#4c78a8", "#72b7b2", "#54a24b", "#b279a2", "#9d755d", "#bab0ac")  # neutral: no red/green verdict
BOUND_COLORS = {"memory": "#1f77b4", "compute": "#d62728", "link": "#7f7f7f"}
BASE_LAYOUT: dict[str, Any] = {
    # the mode bar stands on the right edge, so it never covers the legend above the plot
    "margin": {"l": 70, "r": 48, "t": 40, "b": 60},
    "modebar": {"orientation": "v"},
    # above the plot: below it, a wrapped legend runs into the x-axis title
    "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom"},
    "hovermode": "closest",
    "font": {"size": 12},
}


def layout(**kw: Any) -> dict[str, Any]:
    out = dict(BASE_LAYOUT)
    out.update(kw)
    return out


def axis(title: str, log: bool = False, **kw: Any) -> dict[str, Any]:
    return {"title": {"text": title}, "type": "log" if log else "-", "automargin": True, **kw}


def roofline(r: AnalysisResult, device: Device | None, compute_dtype: str) -> Figure:
    """Achieved TFLOP/s against arithmetic intensity for every op with work, and the roofs
    of the primary side's units (when the device is known)."""
    traces: list[Trace] = []
    ops = [o for o in r.ops if o.flop > 0 and o.time_s > 0 and o.kind != "collective" and o.bytes > 0]
    lo = min((o.intensity for o in ops), default=0.1)
    hi = max((o.intensity for o in ops), default=1e4)
    if device is not None:
        side = device.primary
        bw = side.memory.bandwidth_bytes_per_s
        x = np.logspace(np.log10(max(lo / 3, 1e-3)), np.log10(hi * 3), 120)
        for kind, dash in (("matrix", "solid"), ("vector", "dash")):
            unit = side.unit_for(kind)
            if unit.kind != kind:
                continue
            peak = unit.peak(compute_dtype)
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "x": x.tolist(),
                    "y": (np.minimum(peak, bw * x) / 1e12).tolist(),
                    "name": f"roof: {unit.name} {peak / 1e12:,.0f} TFLOP/s, {bw / 1e12:.2f} TB/s",
                    "line": {"color": "#444", "dash": dash, "width": 1.5},
                    "hoverinfo": "name",
                }
            )
    for phase, symbol in (("prefill", "circle"), ("decode", "square")):
        for sub in dict.fromkeys(o.sublayer for o in ops):
            group = [o for o in ops if o.phase == phase and o.sublayer == sub]
            if not group:
                continue
            traces.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "name": f"{phase} · {sub}",
                    "x": [o.intensity for o in group],
                    "y": [o.flop / o.time_s / 1e12 for o in group],
                    "text": [
                        f"{o.name} ({phase})<br>{o.time_s * 1e3:.3f} ms, {o.bound}-bound" for o in group
                    ],
                    "hovertemplate": "%{text}<br>%{x:.3g} flop/B, %{y:.3g} TFLOP/s<extra></extra>",
                    "marker": {
                        "symbol": symbol,
                        "size": 9,
                        "color": SUBLAYER_COLORS.get(sub, "#17becf"),
                        "line": {"width": 0.5, "color": "#000"},
                    },
                }
            )
    return Figure(
        "roofline",
        "Roofline: every operator at its achieved rate",
        traces,
        layout(
            xaxis=axis("arithmetic intensity (flop / byte)", log=True),
            yaxis=axis("achieved TFLOP/s", log=True),
        ),
        "Circles: prefill (whole batch); squares: one decode step (mean over steps). "
        "Lines: the roofs of the primary memory side (compute peak at the run's data type, "
        "memory bandwidth).",
    )


def op_times(r: AnalysisResult, phase: str) -> Figure:
    """Time per operator of one phase, coloured by what bounds it."""
    ops = [o for o in r.ops if o.phase == phase]
    traces = []
    for bound in ("memory", "compute", "link"):
        group = [o for o in ops if o.bound == bound]
        if group:
            traces.append(
                {
                    "type": "bar",
                    "name": f"{bound}-bound",
                    "x": [o.name for o in group],
                    "y": [o.time_s * 1e3 for o in group],
                    "marker": {"color": BOUND_COLORS[bound]},
                    "hovertemplate": "%{x}: %{y:.4g} ms<extra>" + bound + "-bound</extra>",
                }
            )
    what = "prefill of the whole batch" if phase == "prefill" else "one decode step (mean)"
    return Figure(
        f"times-{phase}",
        f"Time per operator: {what}",
        traces,
        layout(
            barmode="stack",
            xaxis={
                "title": {"text": "operator (summed over layers)"},
                "type": "category",
                "automargin": True,
                "categoryorder": "array",
                "categoryarray": [o.name for o in ops],
                "tickangle": -40,
            },
            yaxis=axis("time (ms)"),
        ),
    )


def side_roles(r: AnalysisResult) -> list[tuple[str, float, dict[str, float]]]:
    """(side label, capacity bytes, bytes by role at the side's peak) per memory side. From the
    placement's tier timeline when there is one, else the footprint on the primary side."""
    tl = r.tier_timeline
    out: list[tuple[str, float, dict[str, float]]] = []
    if tl and "context" in tl and r.sides:
        for side in r.sides:
            zero = [0.0] * len(tl["context"])
            roles = {k: list(tl.get(f"{side.name}/{k}", zero)) for k in ("weights", "kv", "activations")}
            totals = [sum(v) for v in zip(*roles.values(), strict=True)]
            at = max(range(len(totals)), key=totals.__getitem__)
            out.append(
                (f"{side.name} ({side.memory})", side.capacity_bytes, {k: v[at] for k, v in roles.items()})
            )
        return out
    fb = r.footprint_breakdown
    name = f"{r.sides[0].name} ({r.sides[0].memory})" if r.sides else "per device"
    peak = {
        "weights": fb.get("weights", 0.0),
        "kv": fb.get("kv_cache", 0.0),
        "activations": fb.get("activations", 0.0),
    }
    return [(name, r.capacity_bytes, peak)]


def memory_use(r: AnalysisResult) -> Figure:
    """Bytes held per memory side of one device, by tensor role, against each side's capacity."""
    rows = side_roles(r)
    labels = [lab for lab, _, _ in rows]
    traces: list[Trace] = [
        {
            "type": "bar",
            "orientation": "h",
            "name": label,
            "y": labels,
            "x": [roles[key] / 1e9 for _, _, roles in rows],
            "marker": {"color": color},
            "hovertemplate": "%{y}: %{x:.2f} GB<extra>" + label + "</extra>",
        }
        for key, label, color in (
            ("weights", "weights", "#1f77b4"),
            ("kv", "KV cache", "#ff7f0e"),
            ("activations", "activations", "#2ca02c"),
        )
    ]
    traces.append(
        {
            "type": "scatter",
            "mode": "markers",
            "name": "capacity",
            "y": labels,
            "x": [c / 1e9 for _, c, _ in rows],
            "marker": {"symbol": "line-ns-open", "size": 30, "color": "#d62728", "line": {"width": 3}},
            "hovertemplate": "%{y}: capacity %{x:.1f} GB<extra></extra>",
        }
    )
    used = sum(sum(roles.values()) for _, _, roles in rows) / 1e9
    cap = sum(c for _, c, _ in rows) / 1e9
    top = max(max(c, sum(roles.values())) for _, c, roles in rows) / 1e9
    return Figure(
        "memory",
        f"Memory use per device: {used:,.1f} GB held of {cap:,.1f} GB ({used / cap:.0%})",
        traces,
        layout(
            barmode="stack",
            height=200 + 50 * len(rows),
            xaxis=axis("GB (10⁹ bytes)", range=[0, top * 1.08]),
            yaxis={"automargin": True},
            margin={"l": 30, "r": 48, "t": 30, "b": 60},
        ),
        "Each memory side at its fullest point of the run: weights (of the largest pipeline stage), KV cache "
        "and activation workspace; the red tick is the side's capacity.",
    )


def grid_bars(
    fig_id: str, title: str, labels: Sequence[str], panels: Sequence[tuple[str, list[float]]]
) -> Figure:
    """One bar chart per metric on a grid of two columns (one colour per system)."""
    n = len(panels)
    rows = -(-n // 2)
    traces: list[Trace] = []
    lay: dict[str, Any] = layout(showlegend=False, height=260 * rows, annotations=[])
    gap = 0.12
    for i, (metric, values) in enumerate(panels):
        k = "" if i == 0 else str(i + 1)
        col, row = i % 2, i // 2
        x0, x1 = (0.0, 0.5 - gap / 2) if col == 0 else (0.5 + gap / 2, 1.0)
        h = (1.0 - gap * (rows - 1)) / rows
        y1 = 1.0 - row * (h + gap)
        y0 = y1 - h
        traces.append(
            {
                "type": "bar",
                "x": list(labels),
                "y": values,
                "xaxis": f"x{k}",
                "yaxis": f"y{k}",
                "marker": {"color": [PALETTE[j % len(PALETTE)] for j in range(len(labels))]},
                "hovertemplate": "%{x}: %{y:.4g}<extra>" + metric + "</extra>",
                "name": metric,
            }
        )
        lay[f"xaxis{k}"] = {"domain": [x0, x1], "anchor": f"y{k}", "automargin": True}
        lay[f"yaxis{k}"] = {"domain": [y0, y1], "anchor": f"x{k}", "title": {"text": metric}}
    return Figure(fig_id, title, traces, lay)


__all__ = [
    "BOUND_COLORS",
    "SUBLAYER_COLORS",
    "axis",
    "grid_bars",
    "layout",
    "memory_use",
    "op_times",
    "roofline",
]
