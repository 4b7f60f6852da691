"""The memory-tier timeline: which tier holds what over the decode, with the re-map points."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hetsim.api.analysis import AnalysisResult
from hetsim.errors import ConfigError
from hetsim.outfiles import atomic_write

ROLES = ("weights", "kv", "activations")
ROLE_LABEL = {"weights": "weights", "kv": "KV cache", "activations": "activations"}


def plot_tiers(result: AnalysisResult, path: Path) -> Path:
    """One panel per memory side: resident bytes by role (stacked) against the decode step,
    the side's capacity as a line, and every re-map as a vertical marker. Returns ``path``."""
    tl = result.tier_timeline
    if not tl or "context" not in tl:
        raise ConfigError("--plot-tiers: this result has no tier timeline (no decode steps placed)")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    step = np.asarray(tl["context"]) - result.input_len
    sides = result.sides
    fig, axes = plt.subplots(
        len(sides), 1, figsize=(8, 2.6 * len(sides) + 0.6), dpi=120, sharex=True, squeeze=False
    )
    for ax, side in zip(axes[:, 0], sides, strict=True):
        layers = [
            np.asarray(tl.get(f"{side.name}/{r}", np.zeros_like(step)), dtype=float) / 1e9 for r in ROLES
        ]
        ax.stackplot(
            step, *layers, labels=[ROLE_LABEL[r] for r in ROLES], colors=("C0", "C1", "C2"), alpha=0.8
        )
        ax.axhline(side.capacity_bytes / 1e9, color="k", lw=1, ls="--", label="capacity")
        for m in result.remaps:
            ax.axvline(m.step, color="C3", lw=1)
        ax.set_ylabel(f"{side.name} ({side.memory})\nresident (GB)")
        ax.set_ylim(0, side.capacity_bytes / 1e9 * 1.08)
        ax.grid(alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.955), fontsize=8, ncol=4,
               frameon=False)  # fmt: skip
    axes[-1, 0].set_xlabel("decode step" + ("  (red: re-map)" if result.remaps else ""))
    fig.suptitle(
        f"{result.model} on {result.hardware}: memory tiers under policy {result.policy}", fontsize=10
    )
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format=path.suffix.lstrip(".") or "png"))
    finally:
        plt.close(fig)
    return path
