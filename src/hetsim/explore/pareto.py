"""Pareto fronts over chosen objectives (each minimised or maximised)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hetsim.errors import ConfigError
from hetsim.outfiles import atomic_write

Array = np.ndarray[Any, Any]
# Which way is better for the metric columns a store holds (hetsim.explore.evaluate and
# serving_eval): more throughput, utilisation and SLO attainment; less time, cost, energy,
# power, memory, devices and preemptions. A design axis (batch, tp, a hardware parameter) has
# no better direction: its sense must be given.
HIGHER_IS_BETTER = frozenset({
    "output_throughput_tok_per_s", "tok_per_s_per_user", "tok_per_s_per_device", "tok_per_s_per_usd",
    "request_throughput_per_s", "goodput_req_per_s", "slo_attainment", "completed", "mbu", "mfu",
})  # fmt: skip
LOWER_IS_BETTER = frozenset({
    "ttft_s", "tpot_s", "e2e_latency_s", "ttft_p99_s", "tpot_p99_s", "e2e_p99_s", "usd_per_mtoken",
    "usd_per_hour", "capex_usd", "energy_j_per_token", "avg_power_w", "footprint_bytes", "n_devices",
    "preemptions", "kv_peak_utilization",
})  # fmt: skip


def known_sense(column: str) -> str | None:
    """'max' or 'min' for a metric column whose better direction is known, else None."""
    if column in HIGHER_IS_BETTER:
        return "max"
    if column in LOWER_IS_BETTER:
        return "min"
    return None


def resolve_senses(
    columns: Sequence[str], given: Sequence[str] | None, objectives: Sequence[tuple[str, str]] = ()
) -> list[tuple[str, str, str]]:
    """(column, sense, why) for each column: the sense given, else the spec's objective for
    that column, else the column's known sense; a column with none of them is refused."""
    if given is not None and len(given) != len(columns):
        raise ConfigError(f"--sense: give one of min/max per axis ({len(columns)}), e.g. 'min,max'")
    spec = dict(objectives)
    out = []
    for i, col in enumerate(columns):
        if given is not None:
            out.append((col, given[i], "given"))
        elif col in spec:
            out.append((col, spec[col], "the spec's objective"))
        elif (sense := known_sense(col)) is not None:
            out.append((col, sense, "higher is better" if sense == "max" else "lower is better"))
        else:
            raise ConfigError(f"{col!r} has no better direction hetsim knows; give --sense (e.g. 'min,max')")
    return out


def varying_columns(columns: Mapping[str, Array], candidates: Sequence[str]) -> list[str]:
    """The ``candidates`` (design axes) whose values differ between the rows."""
    out = []
    for c in candidates:
        if c in columns and len(columns[c]) and np.unique(np.asarray(columns[c]).astype(str)).size > 1:
            out.append(c)
    return out


def pareto_mask(columns: Mapping[str, Array], objectives: Sequence[tuple[str, str]]) -> Array:
    """Boolean mask of the rows no other row dominates (at least as good in every objective
    and better in one). Rows with a NaN objective are never on the front; of exact duplicates
    the first is kept, so a front has no repeated points."""
    if not objectives:
        raise ValueError("give at least one objective")
    cols = [np.asarray(columns[c], dtype=float) * (-1.0 if s == "max" else 1.0) for c, s in objectives]
    x = np.stack(cols, axis=1)  # (n, m), all minimised
    n = x.shape[0]
    ok = ~np.isnan(x).any(axis=1)
    keep = np.zeros(n, dtype=bool)
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return keep
    order = idx[np.lexsort(x[idx].T[::-1])]  # by first objective, then the next ...
    if x.shape[1] == 1:
        keep[order[0]] = True
        return keep
    if x.shape[1] == 2:
        y = x[order, 1]  # sorted by the first: a row is kept iff its second beats all before
        before = np.concatenate([[np.inf], np.minimum.accumulate(y)[:-1]])
        keep[order[y < before]] = True
        return keep
    front: list[int] = []
    for i in order:  # lexicographic order: no later row dominates an earlier one
        if not front or not np.any(np.all(x[front] <= x[i], axis=1)):
            front.append(int(i))
    keep[front] = True
    return keep


def top_k(columns: Mapping[str, Array], by: str, k: int, order: str = "min") -> Array:
    """Indices of the ``k`` best rows by ``by`` (stable: ties keep their order)."""
    x = np.asarray(columns[by], dtype=float)
    key = -x if order == "max" else x
    return np.argsort(key, kind="stable")[:k]


def plot_front(
    columns: Mapping[str, Array],
    x: str,
    y: str,
    path: str,
    *,
    senses: tuple[str, str] = ("max", "max"),
    label: str | None = None,
) -> int:
    """Scatter every row in grey and the (x, y) front in colour; write a PNG to ``path``.
    Returns the number of points on the front."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mask = pareto_mask(columns, [(x, senses[0]), (y, senses[1])])
    xs, ys = np.asarray(columns[x], dtype=float), np.asarray(columns[y], dtype=float)
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    ax.scatter(xs[~mask], ys[~mask], s=6, c="0.75", label="designs")
    o = np.argsort(xs[mask])
    ax.plot(xs[mask][o], ys[mask][o], "o-", c="tab:red", ms=4, label="Pareto front")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    for axis, vals in (("x", xs), ("y", ys)):
        v = vals[np.isfinite(vals)]
        if v.size and v.min() > 0 and v.max() / v.min() > 100:
            getattr(ax, f"set_{axis}scale")("log")
    ax.set_title(label or f"{y} vs {x}")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png"))
    plt.close(fig)
    return int(mask.sum())
