"""Roofline plot of an ingested graph's ops, coloured by operator class."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hetsim.api.analysis import GraphResult
from hetsim.api.lookup import Device, Precision

COLORS = {"matmul": "C0", "attention": "C1", "normalisation": "C4", "elementwise": "C2", "other": "C7"}


def plot_graph_roofline(result: GraphResult, device: Device, prec: Precision, path: Path) -> Path:
    """Attainable flop/s vs intensity, each op at its achieved rate. Returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    side = device.primary
    bw = side.memory.bandwidth_bytes_per_s
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    x = np.logspace(-2, 4, 200)
    peak = side.unit_for("matrix").peak(prec.compute)
    ax.plot(
        x,
        np.minimum(peak, bw * x) / 1e12,
        "-",
        color="0.3",
        label=f"{peak / 1e12:,.0f} TFLOP/s, {bw / 1e12:.2f} TB/s",
    )
    for cls, color in COLORS.items():
        ops = [o for o in result.ops if o.sublayer == cls and o.flop > 0 and o.time_s > 0]
        if ops:
            ax.scatter(
                [o.intensity for o in ops],
                [o.flop / o.time_s / 1e12 for o in ops],
                color=color,
                s=18,
                edgecolor="k",
                linewidth=0.3,
                label=f"{cls} ({len(ops)})",
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (flop / byte)")
    ax.set_ylabel("achieved TFLOP/s")
    ax.set_title(f"{result.model} on {result.hardware}: batch {result.batch}, fuse {result.fuse}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
