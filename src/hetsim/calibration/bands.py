"""Building and checking the uncertainty bands (:mod:`hetsim.analysis.uncertainty`) from
leave-one-source-out residuals.

Every scored row contributes r = ln(measured / predicted), turned around for a rate (tokens/s,
flop/s, bytes/s) so that r > 0 means the model was fast, to its regime key and to the coarser
keys the lookup backs off to. Sources are weighted equally (a 10,000-row profiler must not
decide a band for every other source), and the quantiles are split-conformal over sources: the
10th / 90th percentiles are taken at levels alpha/2 x S / (S + 1) and 1 - alpha/2 x S / (S + 1)
for S sources, the finite-sample correction of a held-out source.

The regime quantiles give a band its *shape* (where it sits, how wide one regime is against
another); how far a source the table has never seen falls from it is a second, calibrated step.
Every source of the table is held out in turn, its rows looked up in the regimes built from the
other sources, and each row's score is how many half-widths it lies from its band's centre. The
*scale* of a phase and lookup tier (``validated``: its own regime; ``borrowed``: the phase's pooled
band) is the ``level`` quantile of those scores, rows weighing alike (the target is a share of
held-out rows), from at least :data:`MIN_ROWS` rows of :data:`MIN_SOURCES` sources (as a
regime); a band is its regime's centre plus or minus scale x half-width. A tier without enough
scored rows keeps the regime band as it is (validated) or widened by ``widen`` (borrowed).

Coverage (:func:`coverage`) is checked the same way it would be used: each source's rows
against a table built, regimes and scales both, from every *other* source (leave one source out,
the scales from a nested leave-one-out inside it), so a band is never sized by the rows it is
judged on.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hetsim.analysis.uncertainty import BANDS_FILE, E2E_PHASES, BandTable, load_table, precision_class
from hetsim.calibration.defaults import DEFAULT_FIT_HARDWARE
from hetsim.calibration.e2e import FIRST_TOKEN, model_for, weight_only_fallback
from hetsim.calibration.measurements import Measurement
from hetsim.calibration.vocabulary import precision_of
from hetsim.cost.roofline import has_matrix_rate
from hetsim.errors import HetsimError
from hetsim.hardware.loader import get_hardware
from hetsim.outfiles import atomic_write_text

LEVEL = 0.8
MIN_ROWS = 20  # a regime with fewer held-out rows borrows a coarser one
MIN_SOURCES = 2  # ... or fewer sources (one says nothing of the spread between sources); so does a scale
WIDEN = 2.0  # a borrowed band (another calibration kind or precision) is this much wider, in log
RATE_UNITS = ("tokens/s", "flop/s", "bytes/s", "elements/s", "samples/s", "requests/s")
DECODE = ("tpot", "itl", "token_latency", "generation_time_per_token", "decode_tokens_per_s",
          "achieved_memory_bandwidth")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Residual:
    source: str
    key: tuple[str, str, str, str]  # calibration, precision, phase, model kind
    r: float  # ln(measured / predicted), time orientation


def phase_of(metric: str, level: str) -> str:
    if level != "e2e":
        return level  # kernel, collective, energy, power
    if metric in FIRST_TOKEN or metric.startswith("prefill"):
        return "prefill"
    if metric.startswith(DECODE):
        return "decode"
    return "end_to_end"


@cache
def _calibration(hardware: str) -> str:
    """The calibration kind of a row's hardware under the committed recipe (not read from the
    band table being built)."""
    try:
        dev = get_hardware(hardware)
    except HetsimError:
        return "none"
    if dev.kernels is None:
        return "none"
    return "fitted" if dev.name in DEFAULT_FIT_HARDWARE else "transferred"


@cache
def _precision(key: str, hardware: str) -> str:
    prec = precision_of(key) if key else None
    if prec is None:
        return "16-bit"
    try:
        if not has_matrix_rate(get_hardware(hardware), prec.compute):
            prec = weight_only_fallback(prec)
    except HetsimError:
        pass
    return precision_class(prec)


@cache
def _kind(model: str) -> str:
    spec = model_for(model)
    return "moe" if spec is not None and spec.is_moe else "dense"


def residual(row: Measurement, predicted: float, level: str) -> Residual:
    r = math.log(row.value / predicted)
    if row.unit in RATE_UNITS:
        r = -r
    key = (_calibration(row.hardware), _precision(row.precision, row.hardware), phase_of(row.metric, level),
           _kind(row.model))  # fmt: skip
    return Residual(row.source_id or row.file, key, r)


def _keys(k: tuple[str, str, str, str]) -> list[str]:
    cal, prec, phase, kind = k
    out = [f"{cal}/{prec}/{phase}/{kind}", f"{cal}/{prec}/{phase}/*", f"*/*/{phase}/*"]
    if phase in E2E_PHASES:
        out += [f"{cal}/{prec}/*/*", "*/*/*/*"]
    return out


def quantiles(rs: Sequence[Residual], level: float = LEVEL) -> tuple[float, float, int, int]:
    """Source-balanced split-conformal (lo, hi) of ``rs``, their count and their sources' count."""
    r = np.array([x.r for x in rs])
    counts: dict[str, int] = defaultdict(int)
    for x in rs:
        counts[x.source] += 1
    w = np.array([1.0 / counts[x.source] for x in rs])
    order = np.argsort(r)
    r, w = r[order], w[order]
    cdf = np.cumsum(w) / w.sum()
    s = len(counts)
    tail = (1 - level) / 2 * s / (s + 1)
    lo = float(r[min(int(np.searchsorted(cdf, tail)), len(r) - 1)])
    hi = float(r[min(int(np.searchsorted(cdf, 1 - tail)), len(r) - 1)])
    return lo, hi, len(rs), s


def _family(phase: str) -> str:
    """Phases whose bands share regimes (the three end-to-end times pool; every other kind alone)."""
    return "time" if phase in E2E_PHASES else phase


def _by(rs: Iterable[Residual], key: Callable[[Residual], str]) -> dict[str, list[Residual]]:
    out: dict[str, list[Residual]] = defaultdict(list)
    for x in rs:
        out[key(x)].append(x)
    return out


def _regimes(rs: Iterable[Residual], level: float) -> dict[str, tuple[float, float, int, int]]:
    groups: dict[str, list[Residual]] = defaultdict(list)
    for x in rs:
        for k in _keys(x.key):
            groups[k].append(x)
    return {k: quantiles(v, level) for k, v in sorted(groups.items())}


def _scales(rs: Sequence[Residual], level: float) -> dict[str, float]:
    """Per ``<phase>/<tier>``: the ``level`` quantile of the half-widths by which each source's
    rows fall from the bands of the regimes built without that source (see the module text)."""
    by_source = _by(rs, lambda x: x.source)
    scores: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for src, mine in by_source.items():
        rest = BandTable(level, MIN_ROWS, WIDEN, (), _regimes((x for x in rs if x.source != src), level),
                         min_sources=MIN_SOURCES)  # fmt: skip
        for x in mine:
            lo, hi, _, ok, _ = rest.lookup(*x.key, scaled=False)
            half = max((hi - lo) / 2, 1e-9)
            tier = f"{x.key[2]}/{'validated' if ok else 'borrowed'}"
            scores[tier].append((abs(x.r - (lo + hi) / 2) / half, src))
    enough = {k: [e for e, _ in v] for k, v in scores.items()
              if len(v) >= MIN_ROWS and len({s for _, s in v}) >= MIN_SOURCES}  # fmt: skip
    return {k: float(np.quantile(v, level, method="higher")) for k, v in sorted(enough.items())}


def build(residuals: Iterable[Residual], fit_hardware: Sequence[str], level: float = LEVEL) -> BandTable:
    regimes: dict[str, tuple[float, float, int, int]] = {}
    scales: dict[str, float] = {}
    for rs in _by(residuals, lambda x: _family(x.key[2])).values():
        regimes |= _regimes(rs, level)
        scales |= _scales(rs, level)
    return BandTable(level, MIN_ROWS, WIDEN, tuple(fit_hardware), dict(sorted(regimes.items())), MIN_SOURCES,
                     scales)  # fmt: skip


def covered(table: BandTable, x: Residual) -> bool:
    lo, hi, _, _, _ = table.lookup(*x.key[:3], x.key[3])
    return lo <= x.r <= hi


def coverage(
    residuals: Sequence[Residual], fit_hardware: Sequence[str], level: float = LEVEL
) -> dict[str, Any]:
    """Leave-one-source-out coverage: each source's residuals against a table built from the
    others (regimes and scales; a kind's table needs only that kind's rows). Overall, per phase,
    calibration kind and precision class: the share of rows inside their band, and beside it the
    mean of the sources' own shares (what a source-balanced band aims at) with the largest
    source's share of the rows (a kind whose rows are mostly one source's has a row coverage that
    is that source's)."""
    hits: dict[str, list[bool]] = defaultdict(list)
    per_source: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for rs in _by(residuals, lambda x: _family(x.key[2])).values():
        for src, mine in _by(rs, lambda x: x.source).items():
            table = build([x for x in rs if x.source != src], fit_hardware, level)
            for x in mine:
                ok = covered(table, x)
                for k in ("all", f"phase:{x.key[2]}", f"calibration:{x.key[0]}", f"precision:{x.key[1]}"):
                    hits[k].append(ok)
                    per_source[k][src].append(ok)

    def entry(k: str, v: list[bool]) -> dict[str, Any]:
        shares = [float(np.mean(o)) for o in per_source[k].values()]
        biggest = max(len(o) for o in per_source[k].values()) / len(v)
        return {"n": len(v), "coverage": float(np.mean(v)), "sources": len(shares),
                "per_source_mean": float(np.mean(shares)), "largest_source_share": biggest}  # fmt: skip

    return {"level": level, **{k: entry(k, v) for k, v in sorted(hits.items())}}


def write(table: BandTable, files: Sequence[str], path: Path | None = None) -> Path:
    data = {
        "written_by": "hetsim calibrate --folds",
        "method": "source-balanced split-conformal quantiles of leave-one-source-out log residuals "
        "ln(measured / predicted) (a rate's turned around), scaled per phase and tier by the held-out "
        "sources' scores (calibration/bands.py)",
        "files": sorted(files),
        "level": table.level, "min_rows": table.min_rows, "min_sources": table.min_sources,
        "widen": table.widen,
        "fit_hardware": list(table.fit_hardware),
        "scales": {k: round(v, 4) for k, v in table.scales.items()},
        "regimes": {k: [round(v[0], 4), round(v[1], 4), v[2], v[3]] for k, v in table.regimes.items()},
    }  # fmt: skip
    head = (
        "# Uncertainty bands per regime (calibration/precision/phase/model): [q_lo, q_hi, rows, sources]\n"
        "# of the held-out log residual, and per phase/tier the scale that sizes them for a source not\n"
        "# in the table; written by `hetsim calibrate --folds`, read at prediction time.\n"
    )
    target = path or BANDS_FILE
    atomic_write_text(target, head + yaml.safe_dump(data, sort_keys=False, width=110))
    load_table.cache_clear()
    return target


def committed() -> BandTable | None:
    return load_table()
