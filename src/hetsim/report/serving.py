"""Plots of a serving run: latency CDFs and the KV-cache timeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hetsim.api.serving import ServingResult, itl_samples, per_request_metrics
from hetsim.outfiles import atomic_write


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_latency_cdf(r: ServingResult, path: Path) -> Path:
    """Empirical CDFs of TTFT, TPOT, ITL and end-to-end latency (ms, log x axis)."""
    plt = _plt()
    per = per_request_metrics(r)
    step, w = itl_samples(r.iterations, r.itl_stalls)
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6), dpi=110)
    series = [  # (name, values, weights, the SLO that bounds it)
        ("TTFT", per["ttft"], None, r.slo.get("ttft")),
        ("TPOT", per["tpot"], None, r.slo.get("tpot")),
        ("ITL", step, w, r.slo.get("tpot")),
        ("E2E", per["e2e"], None, r.slo.get("e2e")),
    ]
    for ax, (name, x, wt, limit) in zip(axes, series, strict=True):
        x = np.asarray(x, dtype=float)
        keep = np.isfinite(x) & (x > 0)
        x = x[keep]
        if x.size:
            order = np.argsort(x)
            wts = np.ones_like(x) if wt is None else np.asarray(wt, dtype=float)[keep]
            cdf = np.cumsum(wts[order]) / np.sum(wts)
            ax.step(x[order] * 1e3, cdf, where="post")
            ax.set_xscale("log")
            # 1-2-5 steps, a handful of labels in plain numbers, so they never overlap
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=7))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        if limit is not None:
            ax.axvline(
                limit * 1e3, color="tab:red", linestyle="--", linewidth=1, label=f"SLO {limit * 1e3:g} ms"
            )
            ax.legend(loc="lower right", fontsize=8)
        ax.set_title(name)
        ax.set_xlabel("ms")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("fraction")
    fig.suptitle(f"{r.model} on {r.hardware} x{r.tp}, {r.engine}, {r.arrival} ({r.n_requests} requests)")
    fig.tight_layout()
    atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png"))
    plt.close(fig)
    return path


def plot_kv_timeline(r: ServingResult, path: Path) -> Path:
    """KV-cache utilisation, running and waiting requests and preemptions over time."""
    plt = _plt()
    tl = np.asarray(r.timeline, dtype=float).reshape(-1, 5)
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(10, 5.5), dpi=110, sharex=True)
    if len(tl):
        a1.step(tl[:, 0], tl[:, 1] / max(r.kv_blocks_total, 1), where="post", label="KV blocks used")
        from matplotlib.ticker import MaxNLocator

        a1b = a1.twinx()
        a1b.step(tl[:, 0], tl[:, 4], where="post", color="tab:red", label="preemptions (total)")
        a1b.set_ylabel("preemptions (total)")
        a1b.set_ylim(0, max(1.0, float(tl[:, 4].max()) * 1.05))  # never a symmetric axis about zero
        a1b.yaxis.set_major_locator(MaxNLocator(integer=True))
        a2.step(tl[:, 0], tl[:, 2], where="post", label="running")
        a2.step(tl[:, 0], tl[:, 3], where="post", label="waiting")
    a1.set_ylabel("KV-cache utilisation")
    a1.set_ylim(0, 1.05)
    a2.set_ylabel("requests")
    a2.set_xlabel("time (s)")
    a2.legend(loc="upper right")
    for ax in (a1, a2):
        ax.grid(alpha=0.3)
    fig.suptitle(f"KV cache of {r.engine}: {r.kv_blocks_total} blocks x {r.kv_block_tokens} tokens")
    fig.tight_layout()
    atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png"))
    plt.close(fig)
    return path
