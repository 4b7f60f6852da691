"""Pricing knobs: named assumptions that change how an op is priced on a side's units.

The defaults price exactly as the datasheet roofline (the homogeneous path). A study that
needs more — the H2M2 reproduction's calibrated reading (``hetsim.experiments.h2m2_knobs``)
— passes a :class:`PricingKnobs` record to the placement pricing, so every system keeps one
pricing path and the knobs carry their provenance in the study that sets them.

- ``gemm_overlap``: a GEMM runs on the matrix and the matrix-vector units at once (their
  peaks add; H2M2, h2m2.md §8: 2 x (131 + 32.8) TOPS).
- ``efficiency``: fraction of compute peak reached, per placed group (``qkv``, ``attention``,
  ``fc``); 1.0 where not given.
- ``gemm_fill_rows``: a weight-stationary array reaches full rate only when a GEMM streams at
  least this many rows (tokens) per loaded weight tile; below, efficiency = M / rows (0: off).
- ``barrier_s``: one barrier per layer after a group split over several computing sides
  (where the device's execution model synchronises per group: ``Device.execution``, which
  is the hardware's, not a pricing knob).
- ``allreduce_s``: the time of one tensor-parallel all-reduce, instead of pricing it on the
  interconnect (a fitted figure where the interconnect is not described).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from hetsim.errors import ConfigError
from hetsim.hardware.efficiency import EfficiencyCurve
from hetsim.hardware.spec import ComputeUnit, Side
from hetsim.workload.ops import Op

KNOB_GROUPS = ("qkv", "attention", "fc")


@dataclass(frozen=True, slots=True)
class PricingKnobs:
    gemm_overlap: bool = False
    efficiency: tuple[tuple[str, float], ...] = ()
    gemm_fill_rows: float = 0.0
    barrier_s: float = 0.0
    allreduce_s: float | None = None

    def __post_init__(self) -> None:
        for name, value in self.efficiency:
            if name not in KNOB_GROUPS or not 0 < value <= 1:
                raise ConfigError(
                    f"efficiency of {name!r} must be in (0, 1] for one of {', '.join(KNOB_GROUPS)}"
                )
        if self.barrier_s < 0 or self.gemm_fill_rows < 0:
            raise ConfigError("barrier_s and gemm_fill_rows must be non-negative")
        if self.allreduce_s is not None and not self.allreduce_s >= 0:
            raise ConfigError("allreduce_s must be non-negative")

    @property
    def is_default(self) -> bool:
        return self == DEFAULT_KNOBS

    def eff(self, group: str) -> float:
        return dict(self.efficiency).get(group, 1.0)

    def unit(self, side: Side, op: Op) -> ComputeUnit:
        """The unit that runs ``op`` on ``side`` under these knobs (memoised: one record per
        side, op kind, group and GEMM height)."""
        m = float(np.max(op.gemm_m)) if op.kind == "gemm" and self.gemm_fill_rows > 0 else 0.0
        key = (id(side), op.kind, op.prefers, op.sublayer, m, self)
        hit = _UNITS.get(key)
        if hit is not None and hit[0] is side:
            return hit[1]
        unit = self._unit(side, op)
        if len(_UNITS) > 4096:
            _UNITS.clear()
        _UNITS[key] = (side, unit)
        return unit

    def _unit(self, side: Side, op: Op) -> ComputeUnit:
        unit = gemm_unit(side, self.gemm_overlap) if op.kind == "gemm" else side.unit_for(op.prefers)
        eff = self.eff(op.sublayer)
        if op.kind == "gemm" and self.gemm_fill_rows > 0:
            eff *= float(min(1.0, float(np.max(op.gemm_m)) / self.gemm_fill_rows))
        if eff < 1.0:
            unit = replace(unit, efficiency=EfficiencyCurve.constant(eff))
        return unit


DEFAULT_KNOBS = PricingKnobs()
_UNITS: dict[tuple[object, ...], tuple[Side, ComputeUnit]] = {}


def gemm_unit(side: Side, overlap: bool) -> ComputeUnit:
    """The unit that runs GEMMs on ``side``; with ``overlap`` the matrix and matrix-vector
    units work together, so their peaks add."""
    mx = side.unit_for("matrix")
    if not overlap:
        return mx
    mv = side.unit_for("matvec")
    if mv is mx:
        return mx
    peaks = {k: v + mv.peak(k) for k, v in mx.peak_flop_per_s.items()}
    return replace(mx, name=f"{mx.name}+{mv.name}", peak_flop_per_s=peaks)
