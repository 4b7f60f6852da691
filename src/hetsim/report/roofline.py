"""Roofline plot with the operators of an analysis on it.

Each op sits at (its arithmetic intensity, the flop rate it achieves on one device). Colour
is the sublayer, marker shape the phase, and the fill the bound the table reports for it
(filled: memory- or link-bound, hollow: compute-bound), so the plot and the table agree. On a
multi-tier system every roof an op touches is drawn: each memory side holding its data (its
bandwidth), each link its data stream over (the link's stream bandwidth) and each side's
units that compute it (their peak). Ops at the same point share one label; labels are moved
until they do not overlap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hetsim.api.analysis import AnalysisResult, OpResult
from hetsim.api.lookup import Device, Precision
from hetsim.outfiles import atomic_write

SUBLAYER_COLORS = {"qkv": "C0", "attention": "C1", "fc": "C2", "norm": "C4", "embed": "C5", "lm_head": "C6"}
PHASE_MARKERS = {"prefill": "o", "decode": "s"}
# label offsets (points) tried in turn until a label overlaps no earlier one
OFFSETS = ((4, 3), (4, -9), (-4, 3), (-4, -9), (4, 12), (4, -18), (-4, 12), (-4, -18), (10, 22), (10, -28))


def _groups(ops: list[OpResult]) -> dict[tuple[str, float, float], list[OpResult]]:
    """Ops of one phase at (nearly) the same point of the plot, which share a label."""
    out: dict[tuple[str, float, float], list[OpResult]] = {}
    for op in ops:
        if op.flop <= 0 or op.time_s <= 0 or op.kind == "collective":
            continue
        rate = op.flop / op.time_s / 1e12
        key = (op.phase, round(float(np.log10(op.intensity)), 2), round(float(np.log10(rate)), 2))
        out.setdefault(key, []).append(op)
    return out


def _place_labels(ax: Any, fig: Any, points: list[tuple[float, float, str]]) -> None:
    renderer = fig.canvas.get_renderer()
    placed: list[Any] = [ax.get_legend().get_window_extent(renderer)] if ax.get_legend() else []
    for x, y, text in sorted(points, key=lambda p: (-p[1], p[0])):
        label = None
        for dx, dy in OFFSETS:
            if label is not None:
                label.remove()
            label = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=6,
                                ha="left" if dx > 0 else "right")  # fmt: skip
            box = label.get_window_extent(renderer)
            if not any(box.overlaps(b) for b in placed):
                break
        if label is not None:
            placed.append(label.get_window_extent(renderer))


def _touched(result: AnalysisResult, device: Device) -> tuple[list[int], list[int], list[str]]:
    """(memory sides holding an op's data, sides computing one, links crossed) of a run."""
    names = [s.name for s in device.sides]
    held, computing = set(), set()
    for op in result.ops:
        for part in op.data.split(" + ") if op.data else ():
            held.add(part.split(" ")[0])
        for part in op.compute.split(" + ") if op.compute else ():
            computing.add(part)
    links = [lk.name for lk in result.links if lk.bytes > 0]
    return (
        [i for i, n in enumerate(names) if n in held],
        [i for i, n in enumerate(names) if n in computing],
        links,
    )


def _tier_roofs(ax: Any, x: Any, result: AnalysisResult, device: Device, prec: Precision) -> list[Any]:
    """The roofs of every memory side, link and computing side the run's ops touch."""
    from hetsim.api.lookup import link_bandwidth

    sides, computing, links = _touched(result, device)
    top = max((device.sides[s].unit_for("matrix").peak(prec.compute) for s in computing), default=1.0)
    lines = []
    for s in sides:
        if s == 0:
            continue  # the primary's roof is drawn above
        side = device.sides[s]
        bw = side.memory.bandwidth_bytes_per_s
        label = f"roof: memory {side.name} ({side.memory.name}) {bw / 1e12:.2f} TB/s"
        (line,) = ax.plot(x, np.minimum(top, bw * x) / 1e12, ":", color="C3", label=label)
        lines.append(line)
    for name in links:
        bw = link_bandwidth(device, name)
        (line,) = ax.plot(x, np.minimum(top, bw * x) / 1e12, "-.", color="C9",
                          label=f"roof: link {name} {bw / 1e9:,.0f} GB/s (stream)")  # fmt: skip
        lines.append(line)
    for s in computing:
        if s == 0:
            continue
        side = device.sides[s]
        unit = side.unit_for("matrix")
        peak = unit.peak(prec.compute)
        label = f"roof: compute {side.name} {unit.name} {peak / 1e12:,.1f} TFLOP/s"
        (line,) = ax.plot(x, np.full_like(x, peak / 1e12), "--", color="C8", label=label)
        lines.append(line)
    return lines


def plot_roofline(result: AnalysisResult, device: Device, prec: Precision, path: Path) -> Path:
    """Draw attainable flop/s vs arithmetic intensity with every op of ``result`` placed at
    its achieved rate (per device). Returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    side = device.primary
    bw = side.memory.bandwidth_bytes_per_s
    fig, ax = plt.subplots(figsize=(9, 6), dpi=120)
    x = np.logspace(-1, 4, 200)
    handles: list[Any] = []
    for kind, style in (("matrix", "-"), ("vector", "--")):
        unit = side.unit_for(kind)
        if unit.kind != kind:
            continue
        peak = unit.peak(prec.compute)
        (line,) = ax.plot(x, np.minimum(peak, bw * x) / 1e12, style, color="0.3",
                          label=f"roof: {unit.name} {peak / 1e12:,.0f} TFLOP/s ({prec.compute.name}), "
                                f"{side.memory.name} {bw / 1e12:.2f} TB/s")  # fmt: skip
        handles.append(line)
    if len(device.sides) > 1:
        handles += _tier_roofs(ax, x, result, device, prec)
    points = []
    sublayers: set[str] = set()
    for (phase, _, _), group in _groups(result.ops).items():
        op = group[0]
        rate = op.flop / op.time_s / 1e12
        color = SUBLAYER_COLORS.get(op.sublayer, "C7")
        sublayers.add(op.sublayer)
        filled = op.bound != "compute"
        face, edge = (color, "k") if filled else ("white", color)
        ax.scatter(op.intensity, rate, marker=PHASE_MARKERS[phase], s=40, linewidth=1.2, facecolor=face,
                   edgecolor=edge)  # fmt: skip
        points.append((op.intensity, rate, ", ".join(dict.fromkeys(o.name for o in group))))
    for sub in sorted(sublayers):
        handles.append(Line2D([], [], ls="", marker="o", color=SUBLAYER_COLORS.get(sub, "C7"), label=sub))
    handles += [
        Line2D([], [], ls="", marker="o", color="0.5", label="prefill"),
        Line2D([], [], ls="", marker="s", color="0.5", label="decode step"),
        Line2D(
            [],
            [],
            ls="",
            marker="o",
            markerfacecolor="0.5",
            markeredgecolor="k",
            label="memory- or link-bound",
        ),
        Line2D(
            [], [], ls="", marker="o", markerfacecolor="white", markeredgecolor="0.5", label="compute-bound"
        ),
    ]
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (flop / byte)")
    ax.set_ylabel("achieved rate per device (TFLOP/s)")
    n_dev = result.tp * result.pp
    ax.set_title(
        f"Roofline: {result.model} on {n_dev}x {result.hardware} ({result.precision}), batch {result.batch}, "
        f"{result.input_len}+{result.output_len} tokens\n(all-reduces run on the link and are not shown)",
        fontsize=9,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(handles=handles, fontsize=7, loc="lower right", framealpha=0.9)
    fig.tight_layout()
    _place_labels(ax, fig, points)
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format=path.suffix.lstrip(".") or "png"))
    finally:
        plt.close(fig)
    return path
