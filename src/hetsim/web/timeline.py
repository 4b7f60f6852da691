"""The memory-tier timeline: which side holds which tensor parts at each iteration of a
generation, where the mapping changed and what the migration cost (from the runtime's
:class:`~hetsim.sim.runtime.IterationRecord` list)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hetsim.api.analysis import AnalysisResult, IterationRecord
from hetsim.web.figures import layout
from hetsim.web.view import Figure

SIDE_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd")


def memory_timeline(
    records: Sequence[IterationRecord], side_names: Sequence[str], capacity_bytes: Sequence[float], title: str
) -> Figure:
    """Three stacked panels over the iterations: bytes used per side (with capacities), parts
    of each sublayer on the first (fast) side, and iteration time split into compute and
    migration; remaps are marked with the bytes they moved."""
    it = [r.index for r in records]
    traces: list[dict[str, Any]] = []
    for i, name in enumerate(side_names):
        c = SIDE_COLORS[i % len(SIDE_COLORS)]
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": it,
                "y": [r.used_bytes[i] / 1e9 for r in records],
                "name": f"{name} used",
                "line": {"color": c},
                "yaxis": "y3",
                "xaxis": "x",
                "legendgroup": "mem",
            }
        )
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": [it[0], it[-1]] if it else [],
                "y": [capacity_bytes[i] / 1e9] * 2 if it else [],
                "name": f"{name} capacity",
                "line": {"color": c, "dash": "dash", "width": 1},
                "yaxis": "y3",
                "legendgroup": "mem",
            }
        )
    subs = list(records[0].mapping) if records else []
    for j, sub in enumerate(subs):
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "line": {"shape": "hv", "color": f"hsl({90 * j},55%,40%)"},
                "x": it,
                "y": [r.mapping[sub] for r in records],
                "name": f"{sub} parts on {side_names[0]}",
                "yaxis": "y2",
                "legendgroup": "map",
            }
        )
    remaps = [r for r in records if r.remapped and r.migrated_bytes > 0]
    traces.append(
        {
            "type": "scatter",
            "mode": "markers",
            "x": [r.index for r in remaps],
            "y": [r.time_s * 1e3 for r in remaps],
            "name": "remap with migration",
            "marker": {"symbol": "triangle-up", "size": 9, "color": "#d62728"},
            "text": [
                f"iteration {r.index}: moved {r.migrated_bytes / 1e9:.2f} GB in {r.migration_s * 1e3:.2f} ms"
                for r in remaps
            ],
            "hovertemplate": "%{text}<extra></extra>",
        }
    )
    traces.append(
        {
            "type": "bar",
            "x": it,
            "y": [(r.time_s - r.migration_s) * 1e3 for r in records],
            "name": "iteration time",
            "marker": {"color": "#8c8c8c"},
        }
    )
    traces.append(
        {
            "type": "bar",
            "x": it,
            "y": [r.migration_s * 1e3 for r in records],
            "name": "migration time",
            "marker": {"color": "#d62728"},
        }
    )
    lay = layout(
        height=640,
        barmode="stack",
        xaxis={"title": {"text": "decode iteration"}, "anchor": "y"},
        yaxis={"domain": [0.0, 0.28], "title": {"text": "time (ms)"}},
        yaxis2={"domain": [0.36, 0.62], "title": {"text": f"parts on {side_names[0]}"}, "anchor": "x"},
        yaxis3={"domain": [0.70, 1.0], "title": {"text": "used (GB)"}, "anchor": "x"},
    )
    moved = sum(r.migrated_bytes for r in records)
    mig = sum(r.migration_s for r in records)
    total = sum(r.time_s for r in records) or 1.0
    return Figure(
        "memory-timeline",
        title,
        traces,
        lay,
        f"{len(remaps)} remap{'s' if len(remaps) != 1 else ''} moved {moved / 1e9:.2f} GB "
        f"in {mig * 1e3:.1f} ms "
        f"({mig / total:.1%} of the run). Top: bytes in use per memory side (dashed: capacity); "
        f"middle: how many parts of each sublayer sit on {side_names[0]}; bottom: time per iteration.",
    )


ROLES = (
    ("weights", "weights", "#1f77b4"),
    ("kv", "KV cache", "#ff7f0e"),
    ("activations", "activations", "#2ca02c"),
)


def tier_timeline(r: AnalysisResult) -> Figure | None:
    """The placement's memory-tier timeline of the decode (``AnalysisResult.tier_timeline``):
    one panel per memory side, resident bytes by role against the decode step, the side's
    capacity, and every re-map with what it changed and what the migration cost."""
    tl = r.tier_timeline
    if not tl or "context" not in tl or not r.sides:
        return None
    step = [c - r.input_len for c in tl["context"]]
    n = len(r.sides)
    gap = 0.08
    height = (1.0 - gap * (n - 1)) / n
    traces: list[dict[str, Any]] = []
    lay = layout(
        height=220 * n + 120, xaxis={"title": {"text": "decode step"}, "anchor": f"y{n if n > 1 else ''}"}
    )
    shapes: list[dict[str, Any]] = []
    for i, side in enumerate(r.sides):
        k = "" if i == 0 else str(i + 1)
        top = 1.0 - i * (height + gap)
        lay[f"yaxis{k}"] = {
            "domain": [top - height, top],
            "title": {"text": f"{side.name} ({side.memory}), GB"},
            "anchor": "x",
            "rangemode": "tozero",
        }
        for role, label, color in ROLES:
            ys = [v / 1e9 for v in tl.get(f"{side.name}/{role}", [0.0] * len(step))]
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "stackgroup": f"s{i}",
                    "x": step,
                    "y": ys,
                    "name": label,
                    "legendgroup": role,
                    "showlegend": i == 0,
                    "yaxis": f"y{k}",
                    "line": {"color": color, "width": 0.5},
                    "hovertemplate": f"{side.name} {label}: " + "%{y:.2f} GB at step %{x}<extra></extra>",
                }
            )
        cap = side.capacity_bytes / 1e9
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": [step[0], step[-1]],
                "y": [cap, cap],
                "yaxis": f"y{k}",
                "name": "capacity",
                "legendgroup": "cap",
                "showlegend": i == 0,
                "line": {"color": "#000", "dash": "dash", "width": 1},
                "hovertemplate": f"{side.name} capacity {cap:,.1f} GB<extra></extra>",
            }
        )
    for m in r.remaps:
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": m.step,
                "x1": m.step,
                "y0": 0,
                "y1": 1,
                "line": {"color": "#d62728", "width": 1},
            }
        )
    if r.remaps:
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": [m.step for m in r.remaps],
                "y": [0] * len(r.remaps),
                "name": "re-map",
                "marker": {"color": "#d62728", "symbol": "triangle-up", "size": 10},
                "text": [
                    f"step {m.step} (context {m.context}): {m.change}<br>"
                    f"migrated {m.migrated_bytes / 1e9:.2f} GB in {m.migration_s * 1e3:.2f} ms"
                    for m in r.remaps
                ],
                "hovertemplate": "%{text}<extra></extra>",
                "yaxis": f"y{n if n > 1 else ''}",
            }
        )
    lay["shapes"] = shapes
    moved = sum(m.migrated_bytes for m in r.remaps)
    mig = sum(m.migration_s for m in r.remaps)
    what = (
        f"{len(r.remaps)} re-map{'s' if len(r.remaps) > 1 else ''} moved {moved / 1e9:.2f} GB "
        f"in {mig * 1e3:.1f} ms "
        "(red lines; hover the markers)."
        if r.remaps
        else "The placement did not change during the decode (no re-map)."
    )
    return Figure(
        "tier-timeline",
        f"Memory-tier timeline of the decode (policy {r.policy})",
        traces,
        lay,
        f"Resident bytes per memory side by role at each decode step (stacked), against the side's capacity "
        f"(dashed). {what}",
    )
