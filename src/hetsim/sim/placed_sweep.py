"""``sweep``: N configurations' placed runs at once, under one policy or ``auto``.

Under ``auto`` (:mod:`hetsim.placement.choose`) every configuration is run by each candidate
and keeps the fastest that fits; nothing is reduced over configurations, so a point's
figures and its chosen policy are the same alone, in any sweep and in ``analyze``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hetsim.analysis.result import SweepResult
from hetsim.errors import MappingError
from hetsim.hardware.spec import Device
from hetsim.placement.choose import AUTO, auto_candidates, choose_auto
from hetsim.placement.policies import check_name, is_search, workspace_sides
from hetsim.sim.config import Options
from hetsim.sim.placed_run import evaluate, make_pricer
from hetsim.workload.dtypes import Precision
from hetsim.workload.model import ModelSpec
from hetsim.workload.ops import FloatArray

SWEEP_METRICS = (
    "ttft_s",
    "tpot_s",
    "e2e_latency_s",
    "output_throughput_tok_per_s",
    "mbu",
    "mfu",
    "energy_j_per_token",
    "avg_power_w",
)
Bpg = tuple[FloatArray, FloatArray, FloatArray]


def _run(
    name: str, m: ModelSpec, dev: Device, prec: Precision, bpg: Bpg, opts: Options, fp: dict[str, Any],
    dynamic: bool, shared: dict[str, Any] | None = None,
) -> tuple[dict[str, FloatArray], Any]:  # fmt: skip
    """(metrics, fits) of every configuration of ``bpg`` under policy ``name``: one run per
    workspace side (:func:`workspace_sides`; almost always one), scattered back."""
    n = bpg[0].size
    ws = workspace_sides(dev, np.broadcast_to(np.asarray(fp["activations"], dtype=float), (n,)))
    keys = np.unique(ws)
    if keys.size == 1:
        pricer = make_pricer(name, m, dev, prec, bpg, opts, fp, dynamic=dynamic, shared=shared)
        ev = evaluate(m, dev, prec, bpg, opts, pricer)
        return ev.metrics, ev.run.fits(dev)
    metrics = {k: np.zeros(n) for k in SWEEP_METRICS}
    fits = np.zeros(n, dtype=bool)
    for key in keys:
        idx = np.flatnonzero(ws == key)
        sub = (bpg[0][idx], bpg[1][idx], bpg[2][idx])
        sub_fp = {k: np.broadcast_to(np.asarray(v, dtype=float), (n,))[idx] for k, v in fp.items()}
        r, ok = _run(name, m, dev, prec, sub, opts, sub_fp, dynamic)
        for k in SWEEP_METRICS:
            metrics[k][idx] = r[k]
        fits[idx] = ok
    return metrics, fits


def sweep_run(
    policy: str, m: ModelSpec, dev: Device, prec: Precision, bpg: Bpg, opts: Options, fp: dict[str, Any],
    *, dynamic: bool,
) -> SweepResult:  # fmt: skip
    """The sweep of :func:`hetsim.sim.inference.sweep` (configurations ``bpg``, footprint ``fp``)."""
    key = check_name(policy)
    if key != AUTO and is_search(key):
        raise MappingError(
            f"policy {key!r} searches priced candidates per configuration: use analyze, not sweep"
        )
    B = bpg[0]
    n = B.size
    metrics = {k: np.zeros(n) for k in SWEEP_METRICS}
    fits = np.zeros(n, dtype=bool)
    chosen = np.full(n, key if key != AUTO else "primary", dtype=object)

    def put(idx: Any, r: dict[str, FloatArray], ok: Any) -> None:
        for k in SWEEP_METRICS:
            metrics[k][idx] = r[k]
        fits[idx] = ok

    if key != AUTO:
        put(slice(None), *_run(key, m, dev, prec, bpg, opts, fp, dynamic))
    else:
        _auto(m, dev, prec, bpg, fp, opts, dynamic, put, chosen)
    return SweepResult(
        model=m.name, hardware=dev.name, tp=opts.tp, batch=B, input_len=bpg[1], output_len=bpg[2],
        footprint_bytes=np.broadcast_to(np.asarray(fp["total"], dtype=float), (n,)).copy(), fits=fits,
        **metrics, policy=chosen.astype(str),
    )  # fmt: skip


def _auto(
    m: ModelSpec, dev: Device, prec: Precision, bpg: Bpg, fp: dict[str, Any], opts: Options, dynamic: bool,
    put: Any, chosen: Any,
) -> None:  # fmt: skip
    """``auto``: each candidate's run of every configuration, then per configuration the
    fastest that fits (:func:`choose_auto`)."""
    names: list[str] = []
    runs: list[tuple[dict[str, FloatArray], Any]] = []
    shared: dict[str, Any] = {}
    for name in auto_candidates(dev):
        try:
            runs.append(_run(name, m, dev, prec, bpg, opts, fp, dynamic, shared))
        except MappingError:
            continue
        names.append(name)
    e2e = np.stack([r["e2e_latency_s"] for r, _ in runs])
    ok = np.stack([np.asarray(f, dtype=bool) for _, f in runs])
    pick = choose_auto(e2e, ok)
    cols = np.arange(bpg[0].size)
    put(
        slice(None), {k: np.stack([r[k] for r, _ in runs])[pick, cols] for k in SWEEP_METRICS}, ok[pick, cols]
    )
    chosen[:] = np.array(names, dtype=object)[pick]
