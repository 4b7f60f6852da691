"""Plots of a serving run: latency CDFs and the KV-cache timeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hetsim.outfiles import atomic_write
from hetsim.serving.metrics import ServingResult, itl_samples, per_request_metrics


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_latency_cdf(r: ServingResult, path: Path) -> Path:
    """Empirical CDFs of TTFT, TPOT, ITL and end-to-end latency (ms, log x axis)."""
    plt = _plt()
    per = per_request_metrics(r)
    step, w = itl_samples(r.iterations)
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6), dpi=110)
    series = [
        ("TTFT", per["ttft"], None),
        ("TPOT", per["tpot"], None),
        ("ITL", step, w),
        ("E2E", per["e2e"], None),
    ]
    for ax, (name, x, wt) in zip(axes, series, strict=True):
        x = np.asarray(x, dtype=float)
        keep = np.isfinite(x)
        x = x[keep]
        if x.size:
            order = np.argsort(x)
            wts = np.ones_like(x) if wt is None else np.asarray(wt, dtype=float)[keep]
            cdf = np.cumsum(wts[order]) / np.sum(wts)
            ax.step(x[order] * 1e3, cdf, where="post")
            ax.set_xscale("log")
        ax.set_title(name)
        ax.set_xlabel("ms")
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
        a1b = a1.twinx()
        a1b.step(tl[:, 0], tl[:, 4], where="post", color="tab:red", label="preemptions (total)")
        a1b.set_ylabel("preemptions")
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
