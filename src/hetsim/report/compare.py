"""Bar plot of a `hetsim compare` table: TTFT, TPOT, throughput and energy per token."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hetsim.errors import ConfigError
from hetsim.outfiles import atomic_write

PANELS = (
    ("ttft_s", "TTFT (ms)", 1e3, "lower is better"),
    ("tpot_s", "TPOT (ms)", 1e3, "lower is better"),
    ("output_throughput_tok_per_s", "output throughput (tokens/s)", 1.0, "higher is better"),
    ("energy_j_per_token", "energy per token (J)", 1.0, "lower is better"),
)


def plot_compare(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Four bar panels, one bar per row (labelled model / hardware / precision). Returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dropped = sum(r["ttft_s"] is None for r in rows)
    rows = [r for r in rows if r["ttft_s"] is not None]  # rows that do not fit have no figures
    if not rows:
        raise ConfigError(
            "no combination fits in memory, so there is nothing to plot (see --ignore-capacity)"
        )
    labels = [_label(r, rows) for r in rows]
    n = len(rows)
    fig, axes = plt.subplots(2, 2, figsize=(max(8.0, 1.1 * n + 5), 7.5), dpi=110)
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    colors = [cmap(i % cmap.N) for i in range(n)]
    for ax, (key, title, scale, hint) in zip(axes.flat, PANELS, strict=True):
        values = [float(r[key]) * scale for r in rows]
        bars = ax.bar(range(n), values, color=colors)
        ax.bar_label(
            bars, labels=[f"{v:,.0f}" if v >= 100 else f"{v:.3g}" for v in values], fontsize=7, padding=2
        )
        ax.set_title(f"{title}, {hint}", fontsize=9)
        ax.set_ylabel(title, fontsize=8)
        ax.set_xticks(range(n), [str(i + 1) for i in range(n)], fontsize=8)
        ax.set_xlabel("configuration (numbered in the legend)", fontsize=8)
        ax.margins(y=0.15)
        ax.grid(True, axis="y", alpha=0.3)
    r0 = rows[0]
    fig.suptitle(
        f"hetsim compare: batch {r0['batch']}, {r0['input_len']}+{r0['output_len']} tokens, "
        f"tp {r0['tp']} x pp {r0['pp']}"
        + (f"  ({dropped} combination(s) that do not fit in memory left out)" if dropped else ""),
        fontsize=10,
    )
    from matplotlib.patches import Patch

    handles = [Patch(color=c) for c in colors]
    fig.legend(handles, [f"{i + 1}: {s}" for i, s in enumerate(labels)], loc="lower center",
               ncol=min(n, 3), fontsize=8, frameon=False)  # fmt: skip
    fig.tight_layout(rect=(0, 0.04 + 0.035 * ((n + 2) // 3), 1, 0.96))
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format=path.suffix.lstrip(".") or "png"))
    finally:
        plt.close(fig)
    return path


def _label(r: dict[str, Any], rows: Sequence[dict[str, Any]]) -> str:
    """The parts of (model, hardware, precision) that differ between rows."""
    parts = [k for k in ("model", "hardware", "precision") if len({x[k] for x in rows}) > 1]
    return " / ".join(str(r[k]) for k in parts or ["hardware"])
