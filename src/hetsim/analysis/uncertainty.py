"""Uncertainty bands: an interval on every predicted figure, from the held-out error of its
regime.

``hetsim calibrate --folds`` scores every published and development row by the knobs fitted
without its source (leave one source out) and writes, per *regime*, the 10th and 90th
percentiles of the log residual ln(measured / predicted) of time-like figures (a rate's residual
is turned around) to ``analysis/bands.yaml``, with the files and row counts it rests on
(split-conformal: the quantile index carries the (n + 1) correction). Prediction reads that
table; nothing is refitted per call.

A regime is ``<calibration>/<precision>/<phase>/<model>``:

- calibration: ``fitted`` (the device's own rows were in the kernel fit), ``transferred`` (the
  shared knobs reach it through its datasheet numbers), ``none`` (datasheet roofline);
- precision: ``16-bit``, ``fp8``, ``fp4``, ``int8`` (8-bit GEMMs) or ``weight-only``;
- phase: ``prefill`` (TTFT), ``decode`` (TPOT), ``end_to_end`` (latency, throughput), ``energy``
  (J per token), ``power`` (average power), ``kernel`` (one op);
- model: ``dense`` or ``moe``.

Lookup backs off when a regime has fewer than ``min_rows`` held-out rows or ``min_sources``
sources: first over the model kind, then, for the three end-to-end phases only, over the phase
(prefill, decode and end-to-end times share their errors; an energy, power, kernel or collective
figure never borrows a band of time residuals), staying within the same calibration kind and
precision class (the band is then *validated*); past that it borrows the band of the same phase
(any calibration, any precision) and says it is not validated. The band found is then sized by
the scale of its phase and tier (validated or borrowed), calibrated on held-out sources: its
centre plus or minus scale x half-width; a tier without a calibrated scale keeps a validated
band as it is and widens a borrowed one by ``widen`` in log space.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from hetsim.datafiles import read_mapping

if TYPE_CHECKING:
    from hetsim.analysis.result import AnalysisResult, Band
    from hetsim.workload.dtypes import Precision

BANDS_FILE = Path(__file__).with_name("bands.yaml")
E2E_PHASES = ("prefill", "decode", "end_to_end")  # the phases that share a pooled band
# result field -> (phase, whether the figure is a rate: its band is the time band turned around)
FIGURES: dict[str, tuple[str, bool]] = {
    "ttft_s": ("prefill", False),
    "tpot_s": ("decode", False),
    "e2e_latency_s": ("end_to_end", False),
    "output_throughput_tok_per_s": ("end_to_end", True),
    "energy_j_per_token": ("energy", False),
    "avg_power_w": ("power", False),
}


@dataclass(frozen=True, slots=True)
class BandTable:
    """The committed table: log-residual quantiles per regime key, and per ``<phase>/<tier>`` the
    scale that sizes a regime's band for a source not in it (calibration/bands.py)."""

    level: float
    min_rows: int
    widen: float
    fit_hardware: tuple[str, ...]
    regimes: dict[str, tuple[float, float, int, int]]  # key -> (q_lo, q_hi, rows, sources)
    min_sources: int = 1  # a regime of fewer sources is not its rows' own band
    scales: dict[str, float] = field(default_factory=dict)  # '<phase>/validated|borrowed' -> half-widths

    def lookup(
        self, cal: str, prec: str, phase: str, kind: str, scaled: bool = True
    ) -> tuple[float, float, int, bool, str]:
        """(q_lo, q_hi, rows, validated, key used) for a regime; ``scaled``: sized by the tier's
        scale (else the regime's quantiles as they are, what the scales are calibrated on)."""
        e2e = phase in E2E_PHASES
        pooled = [f"{cal}/{prec}/*/*"] if e2e else []  # times of the three phases pooled
        own = [f"{cal}/{prec}/{phase}/{kind}", f"{cal}/{prec}/{phase}/*", *pooled]
        for key in own:
            hit = self.regimes.get(key)
            enough = hit is not None and hit[2] >= self.min_rows
            if hit is not None and enough and (hit[3:] or (self.min_sources,))[0] >= self.min_sources:
                return (*self._sized(hit[0], hit[1], phase, True, scaled), hit[2], True, key)
        for key in (f"*/*/{phase}/*", *(["*/*/*/*"] if e2e else [])):
            hit = self.regimes.get(key)
            if hit is not None and hit[2] > 0:
                return (*self._sized(hit[0], hit[1], phase, False, scaled), hit[2], False, key)
        return -math.log(2.0), math.log(2.0), 0, False, "none"  # no table: a factor of two

    def _sized(self, lo: float, hi: float, phase: str, own: bool, scaled: bool) -> tuple[float, float]:
        m = self.scales.get(f"{phase}/{'validated' if own else 'borrowed'}") if scaled else None
        if m is not None:
            mid, half = (lo + hi) / 2, (hi - lo) / 2
            return mid - m * half, mid + m * half
        return (lo, hi) if own or not scaled else (lo * self.widen, hi * self.widen)


@cache
def load_table(path: Path = BANDS_FILE) -> BandTable | None:
    """The committed band table (None when it has not been written)."""
    if not path.is_file():
        return None
    raw = read_mapping(path)
    regimes = {str(k): (float(v[0]), float(v[1]), int(v[2]), int(v[3]) if len(v) > 3 else 0)
               for k, v in (raw.get("regimes") or {}).items()}  # fmt: skip
    scales = {str(k): float(v) for k, v in (raw.get("scales") or {}).items()}
    return BandTable(float(raw.get("level", 0.8)), int(raw.get("min_rows", 20)), float(raw.get("widen", 2.0)),
                     tuple(str(h) for h in raw.get("fit_hardware", ())), regimes,
                     int(raw.get("min_sources", 1)), scales)  # fmt: skip


def precision_class(prec: Precision) -> str:
    """``16-bit``, ``fp8``, ``fp4``, ``int8`` (8-bit integer GEMMs) or ``weight-only``."""
    if prec.weight_only:
        return "weight-only"
    c = prec.compute
    if c.bits <= 4:
        return "fp4"
    if c.bits <= 8:
        return "fp8" if c.is_float else "int8"
    return "16-bit"


def calibration_kind(hardware: str, calibration: str) -> str:
    """``fitted``, ``transferred`` or ``none`` (see the module text): the kernel knobs priced it
    (``<hw> overlay``, ``transferred from <hw> overlay``) or not (``none``, a memory-knobs-only
    transfer to a systolic chip, the CPU fit: no held-out row of theirs is in the band table)."""
    if not calibration.endswith(" overlay") or calibration.startswith("memory knobs"):
        return "none"
    table = load_table()
    fitted = table.fit_hardware if table is not None else ()
    return "fitted" if hardware in fitted else "transferred"


def regime_of(hardware: str, calibration: str, prec: Precision, moe: bool) -> str:
    """The regime string a result carries (its phase is added per figure)."""
    return f"{calibration_kind(hardware, calibration)}/{precision_class(prec)}/{'moe' if moe else 'dense'}"


def band(value: float, rate: bool, cal: str, prec: str, phase: str, kind: str) -> Band | None:
    """The band of one predicted figure (None for a non-positive or non-finite value)."""
    from hetsim.analysis.result import Band

    if not (math.isfinite(value) and value > 0):
        return None
    table = load_table()
    if table is None:
        lo, hi, rows, ok, key, level = -math.log(2.0), math.log(2.0), 0, False, "none", 0.8
    else:
        lo, hi, rows, ok, key = table.lookup(cal, prec, phase, kind)
        level = table.level
    if rate:
        lo, hi = -hi, -lo
    return Band(value * math.exp(lo), value * math.exp(hi), level, key, rows, ok)


def bands_of(values: dict[str, float], regime: str) -> dict[str, Band]:
    """A band per figure of ``values`` (names of :data:`FIGURES`) in ``regime``."""
    cal, prec, kind = [*regime.split("/"), "", "", ""][:3]
    out: dict[str, Band] = {}
    for name, value in values.items():
        phase, rate = FIGURES[name]
        b = band(float(value), rate, cal, prec, phase, kind)
        if b is not None:
            out[name] = b
    return out


def result_bands(r: AnalysisResult) -> dict[str, Band]:
    """A band per predicted figure of ``r`` (from its ``regime``)."""
    names = [n for n in FIGURES if not (n == "tpot_s" and r.output_len <= 1)]
    return bands_of({n: getattr(r, n) for n in names}, r.regime)


def band_range(bands: dict[str, Band], name: str, fmt: Callable[[float], str]) -> str:
    """'  (80% band lo to hi)' for a figure's band in the caller's format; '' without one. An
    unvalidated regime says so."""
    b = bands.get(name)
    if b is None:
        return ""
    tail = "" if b.validated else ", unvalidated regime"
    return f"  ({b.level:.0%} band {fmt(b.lo)} to {fmt(b.hi)}{tail})"
