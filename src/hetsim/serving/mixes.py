"""Named request mixes: prompt and output length distributions of published workloads.

Each mix (``serving/presets/mixes.yaml``) states its source. Mixes derived from a published trace
keep 101 quantiles of its prompt and output lengths and their Spearman rank correlation; a
sample draws correlated uniforms through a Gaussian copula (correlation 2 sin(pi rho_s / 6), the
Pearson value that gives Spearman rho_s) and maps them through the interpolated quantile
functions. The others are clipped lognormals whose assumed numbers are listed in the mix's
``assumed`` field and printed with every result that uses them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from hetsim.errors import ConfigError, UnknownNameError
from hetsim.safeload import parse_text
from hetsim.serving.requests import IntArray, LengthDist

_FILE = Path(__file__).parent / "presets" / "mixes.yaml"
_Q = np.linspace(0.0, 1.0, 101)


@dataclass(frozen=True, slots=True)
class Mix:
    name: str
    description: str
    source: str
    input_quantiles: tuple[float, ...] = ()
    output_quantiles: tuple[float, ...] = ()
    spearman: float = 0.0
    input: LengthDist | None = None
    output: LengthDist | None = None
    assumed: tuple[str, ...] = ()

    @property
    def mean_lengths(self) -> tuple[float, float]:
        """(mean prompt, mean output) tokens of the mix (from its quantile function or parameters)."""
        if self.input_quantiles:
            return float(np.mean(self.input_quantiles)), float(np.mean(self.output_quantiles))
        assert self.input is not None and self.output is not None
        return self.input.mean, self.output.mean

    def sample(self, rng: np.random.Generator, k: int, max_total: int = 0) -> tuple[IntArray, IntArray]:
        """(prompt, output) token counts of ``k`` requests; with ``max_total``, only pairs that fit
        it (the others are drawn again, as serving benchmarks drop requests longer than the
        model's context)."""
        if not max_total:
            return self._draw(rng, k)
        xs, ys, have = [], [], 0
        for _ in range(100):
            x, y = self._draw(rng, max(2 * (k - have), 64))
            ok = x + y <= max_total
            xs.append(x[ok])
            ys.append(y[ok])
            have += int(ok.sum())
            if have >= k:
                return np.concatenate(xs)[:k], np.concatenate(ys)[:k]
        raise ConfigError(
            f"request mix {self.name}: almost no request fits {max_total} tokens; use a longer-context model"
        )

    def _draw(self, rng: np.random.Generator, k: int) -> tuple[IntArray, IntArray]:
        if not self.input_quantiles:
            assert self.input is not None and self.output is not None
            return self.input.sample(rng, k), self.output.sample(rng, k)
        r = 2 * math.sin(math.pi * self.spearman / 6)
        z1 = rng.standard_normal(k)
        z2 = r * z1 + math.sqrt(max(1 - r * r, 0.0)) * rng.standard_normal(k)
        from scipy.special import ndtr  # the standard normal CDF, vectorised

        u1, u2 = ndtr(z1), ndtr(z2)
        x = np.interp(u1, _Q, np.asarray(self.input_quantiles, dtype=float))
        y = np.interp(u2, _Q, np.asarray(self.output_quantiles, dtype=float))
        return (np.maximum(np.rint(x), 1).astype(np.int64), np.maximum(np.rint(y), 1).astype(np.int64))


def _dist(spec: Any, where: str) -> LengthDist:
    if not isinstance(spec, dict) or spec.get("kind") != "lognormal":
        raise ConfigError(f"{where}: a parametric length needs kind: lognormal")
    mean, cv = float(spec["mean"]), float(spec["cv"])
    return LengthDist("lognormal", mean, mean * cv, int(spec["lo"]), int(spec["hi"]))


@cache
def mixes() -> dict[str, Mix]:
    """Every named mix, by name."""
    data = parse_text(_FILE.read_text(), "yaml", str(_FILE), trusted=True)
    out = {}
    for name, d in data.items():
        common = {"name": name, "description": d["description"], "source": d["source"],
                  "assumed": tuple(d.get("assumed", ()))}  # fmt: skip
        if "input_quantiles" in d:
            qi, qo = tuple(d["input_quantiles"]), tuple(d["output_quantiles"])
            if len(qi) != 101 or len(qo) != 101 or list(qi) != sorted(qi) or list(qo) != sorted(qo):
                raise ConfigError(f"{_FILE}: mix {name} needs 101 ascending quantiles per length")
            out[name] = Mix(**common, input_quantiles=qi, output_quantiles=qo, spearman=float(d["spearman"]))
        else:
            out[name] = Mix(**common, input=_dist(d["input"], name), output=_dist(d["output"], name))
    return out


def get_mix(name: str) -> Mix:
    key = str(name).strip().lower()
    if key not in mixes():
        raise UnknownNameError("request mix", str(name), mixes())
    return mixes()[key]
