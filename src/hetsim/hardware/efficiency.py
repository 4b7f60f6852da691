"""Size-dependent efficiency curves held in the hardware spec.

A curve maps an op size (flop for compute units, bytes for memory tiers) to the fraction of
peak that an op of that size reaches. Interpolation rule: piecewise linear in log10(size),
clamped to the end values outside the table. Every value must lie in (0, 1].

Physical floor: a larger op never finishes sooner than a smaller one, so the time factor
size / efficiency(size) must not decrease. Where a table's linear ramp would make it
decrease (a steep rise at low efficiency, e.g. 0.05 -> 0.25 over one decade), the curve
uses the monotone envelope instead: on a grid of ``GRID_PER_DECADE`` points per decade the
time factor is replaced by its smallest value at any larger size (the small op is priced as
if padded to the size that runs at least as fast), and that envelope is interpolated in
log(size)-log(efficiency), which keeps it monotone between grid points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hetsim.errors import ConfigError
from hetsim.hardware.provenance import ASSUMED, Provenance

FloatArray = npt.NDArray[np.float64]
Num = float | FloatArray
GRID_PER_DECADE = 32


@dataclass(frozen=True)
class EfficiencyCurve:
    sizes: tuple[float, ...] = (1.0,)
    values: tuple[float, ...] = (1.0,)
    provenance: Provenance = ASSUMED

    def __post_init__(self) -> None:
        if len(self.sizes) != len(self.values) or not self.sizes:
            raise ConfigError("efficiency curve: sizes and values must be non-empty and equal length")
        if any(not 0 < v <= 1 for v in self.values):
            raise ConfigError(f"efficiency curve: every value must be in (0, 1], got {self.values}")
        if any(s <= 0 for s in self.sizes) or any(
            b <= a for a, b in zip(self.sizes, self.sizes[1:], strict=False)
        ):
            raise ConfigError("efficiency curve: sizes must be positive and strictly increasing")
        object.__setattr__(self, "_logx", np.log10(np.asarray(self.sizes, dtype=float)))
        object.__setattr__(self, "_y", np.asarray(self.values, dtype=float))
        object.__setattr__(self, "_envelope", self._monotone_envelope())

    def _monotone_envelope(self) -> tuple[FloatArray, FloatArray] | None:
        """(log10 sizes, log10 efficiencies) of the monotone-time envelope, or None when the
        table's own ramp already never makes a larger op faster."""
        lo, hi = np.log10(self.sizes[0]), np.log10(self.sizes[-1])
        if hi <= lo:
            return None
        x = np.linspace(lo, hi, int(np.ceil((hi - lo) * GRID_PER_DECADE)) + 1)
        eff = np.interp(x, self._logx, self._y)  # type: ignore[attr-defined]
        t = 10.0**x / eff
        env = np.minimum.accumulate(t[::-1])[::-1]
        if np.all(np.diff(t) >= 0):
            return None
        return x, x - np.log10(env)

    def __call__(self, size: Num) -> Num:
        """Efficiency at ``size`` (same shape as ``size``)."""
        if len(self.values) == 1:
            return self.values[0] if np.ndim(size) == 0 else np.full(np.shape(size), self.values[0])
        x = np.log10(np.maximum(size, 1e-30))
        env = self._envelope  # type: ignore[attr-defined]
        if env is not None:
            out = 10.0 ** np.interp(x, env[0], env[1])
            return float(out) if np.ndim(out) == 0 else out
        out = np.interp(x, self._logx, self._y)  # type: ignore[attr-defined]
        return float(out) if np.ndim(out) == 0 else out

    @classmethod
    def constant(cls, value: float, provenance: Provenance = ASSUMED) -> EfficiencyCurve:
        return cls((1.0,), (value,), provenance)


FULL = EfficiencyCurve()
