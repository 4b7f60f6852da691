"""What every reproduced study hands to the report: its published targets, the knobs it set
with their provenance, the assumptions it took from (or beyond) the paper, the hardware files
it ran, and its results as a JSON-ready mapping.

A :class:`Target` is one published headline number. It is met when hetsim's figure lies within
the tolerance of its basis: ±20% for a ratio between two simulated systems (both sides of the
paper's ratio come from a simulator, so only the models differ), ±30% for a ratio where a
real machine was measured (software efficiency enters). No target is fitted: a knob that was
chosen by looking at a target would make that target's check meaningless, so the report lists
every knob with where its value came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hetsim.errors import ConfigError

Basis = Literal["simulated", "measured"]
TOLERANCE: dict[str, float] = {"simulated": 0.20, "measured": 0.30}


def lookup(results: Mapping[str, Any], key: str) -> float:
    """The number at dotted path ``key`` of ``results`` (``"speedup.gpt2-xl"``)."""
    node: Any = results
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise ConfigError(f"result {key!r}: no {part!r} in the results")
        node = node[part]
    return float(node)


@dataclass(frozen=True, slots=True)
class Target:
    """A published headline: ``paper`` (its value), ``statement`` (as published, with where),
    ``key`` (where hetsim's figure sits in the results) and the tolerance ``basis``."""

    name: str
    paper: float
    statement: str
    key: str
    basis: Basis = "simulated"
    unit: str = "x"

    def __post_init__(self) -> None:
        if self.basis not in TOLERANCE:
            raise ConfigError(f"target {self.name!r}: basis must be 'simulated' or 'measured'")
        if not self.paper > 0:
            raise ConfigError(f"target {self.name!r}: the published value must be positive")

    @property
    def tolerance(self) -> float:
        return TOLERANCE[self.basis]

    @property
    def lo(self) -> float:
        return self.paper * (1 - self.tolerance)

    @property
    def hi(self) -> float:
        return self.paper * (1 + self.tolerance)

    def check(self, results: Mapping[str, Any]) -> tuple[float, bool]:
        v = lookup(results, self.key)
        return v, self.lo <= v <= self.hi


@dataclass(frozen=True, slots=True)
class Knob:
    """A value the reproduction needed: ``provenance`` says where it came from (``paper: ...``,
    ``datasheet: ...``, ``derived: ...``, ``assumed: ...`` with why)."""

    name: str
    value: str
    provenance: str


@dataclass(frozen=True, slots=True)
class Figure:
    """A plot the report draws: series of (x, y) per label; ``paper`` series are drawn dashed."""

    name: str  # file stem
    title: str
    xlabel: str
    ylabel: str
    series: Mapping[str, tuple[Sequence[Any], Sequence[float]]]
    kind: Literal["line", "bar"] = "line"
    logy: bool = False
    paper: Mapping[str, tuple[Sequence[Any], Sequence[float]]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished reproduction: everything report.md and results.json are derived from."""

    study: str
    title: str
    citation: str
    results: dict[str, Any]
    targets: tuple[Target, ...]
    knobs: tuple[Knob, ...]
    assumptions: tuple[str, ...]
    hardware: tuple[Path | str, ...] = ()
    misses: Mapping[str, str] = field(default_factory=dict)  # target -> computed cause
    sections: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (heading, markdown lines)
    figures: tuple[Figure, ...] = ()

    def evaluated(self) -> list[dict[str, Any]]:
        """One row per target: the published value, hetsim's, the band, the verdict and, for
        a miss, its cause."""
        rows = []
        for t in self.targets:
            v, ok = t.check(self.results)
            rows.append(
                {
                    "target": t.name,
                    "paper": t.paper,
                    "statement": t.statement,
                    "value": v,
                    "lo": t.lo,
                    "hi": t.hi,
                    "basis": t.basis,
                    "met": ok,
                    "cause": "" if ok else self.misses.get(t.name, "not analysed"),
                }
            )
        return rows

    def json(self) -> dict[str, Any]:
        """results.json: the results, the evaluated targets and the knobs."""
        return {
            **self.results,
            "study": self.study,
            "citation": self.citation,
            "targets": self.evaluated(),
            "knobs": {k.name: {"value": k.value, "provenance": k.provenance} for k in self.knobs},
            "assumptions": list(self.assumptions),
        }


def ratio_text(x: float) -> str:
    return f"{x:.3g}×"
