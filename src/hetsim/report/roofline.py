"""Roofline plot with the operators of an analysis on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hetsim.analysis.result import AnalysisResult
from hetsim.hardware.spec import Device
from hetsim.outfiles import atomic_write
from hetsim.workload.dtypes import Precision


def plot_roofline(result: AnalysisResult, device: Device, prec: Precision, path: Path) -> Path:
    """Draw attainable flop/s vs arithmetic intensity with every op of ``result`` placed at
    its achieved rate. Returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    side = device.primary
    bw = side.memory.bandwidth_bytes_per_s
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    x = np.logspace(-1, 4, 200)
    for kind, style in (("matrix", "-"), ("vector", "--")):
        unit = side.unit_for(kind)
        if unit.kind != kind:
            continue
        peak = unit.peak(prec.compute)
        ax.plot(
            x,
            np.minimum(peak, bw * x) / 1e12,
            style,
            color="0.3",
            label=f"{unit.name} {peak / 1e12:,.0f} TFLOP/s, {bw / 1e12:.2f} TB/s",
        )
    markers = {"prefill": "o", "decode": "s"}
    colors = {
        "qkv": "C0",
        "attention": "C1",
        "fc": "C2",
        "norm": "C4",
        "embed": "C5",
        "lm_head": "C6",
    }
    for op in result.ops:
        if op.flop <= 0 or op.time_s <= 0 or op.bound == "link":
            continue
        ax.scatter(
            op.intensity,
            op.flop / op.time_s / 1e12,
            marker=markers[op.phase],
            color=colors.get(op.sublayer, "C7"),
            s=36,
            edgecolor="k",
            linewidth=0.4,
        )
        ax.annotate(
            f"{op.name}",
            (op.intensity, op.flop / op.time_s / 1e12),
            fontsize=6,
            xytext=(3, 2),
            textcoords="offset points",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (flop / byte)")
    ax.set_ylabel("achieved TFLOP/s")
    ax.set_title(
        f"{result.model} on {result.hardware}: batch {result.batch}, "
        f"{result.input_len}+{result.output_len} tokens  (o prefill, □ decode)",
        fontsize=9,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format=path.suffix.lstrip(".") or "png"))
    finally:
        plt.close(fig)
    return path
