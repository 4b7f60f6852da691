"""Pipeline specs: sources (sensors emitting samples), stages (processors that classify and keep
a fraction of what reaches them, spending operations and energy), and the links between them.

A stage keeps one sample in ``reduction_ratio`` (1: it passes everything). Which ones it keeps
is decided by its classifier: a binormal (signal-detection) model in which irrelevant samples
score N(0, 1) and relevant ones N(skill, varscale); the threshold is the one that passes the
stage's fraction of its input, so its true- and false-positive rates follow from the mix it
receives. Operations per sample are a function of the message size (bytes) reaching the stage:
a polynomial through the origin, given by its coefficients or least-squares fitted to a
published table of (bytes, ops). Power = J/op x ops x input rate per stage, plus J/bit x bits
per second per link.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from hetsim.datafiles import check_keys, read_mapping
from hetsim.errors import ConfigError
from hetsim.units import parse_number


@dataclass(frozen=True, slots=True)
class Classifier:
    """Binormal classifier: irrelevant ~ N(0, 1), relevant ~ N(skill, varscale)."""

    skill: float
    varscale: float = 1.0

    def __post_init__(self) -> None:
        if not np.isfinite(self.skill) or not self.varscale > 0:
            raise ConfigError(f"classifier: skill must be finite and varscale positive, got {self}")


@dataclass(frozen=True, slots=True)
class OpsModel:
    """Operations per sample as sum_k coeffs[k] x bytes^(k+1) (a polynomial through the origin)."""

    coeffs: tuple[float, ...] = ()

    def __call__(self, nbytes: float) -> float:
        return float(sum(c * nbytes ** (k + 1) for k, c in enumerate(self.coeffs)))

    @classmethod
    def fit(cls, nbytes: Any, ops: Any, degree: int) -> OpsModel:
        """Least-squares polynomial of ``degree`` through the origin over a table."""
        x = np.asarray(nbytes, dtype=float)
        y = np.asarray(ops, dtype=float)
        if x.shape != y.shape or x.size < degree:
            raise ConfigError(f"ops table: give at least {degree} (bytes, ops) pairs of equal length")
        a = np.stack([x ** (k + 1) for k in range(degree)], axis=1)
        coeffs, *_ = np.linalg.lstsq(a, y, rcond=None)
        return cls(tuple(float(c) for c in coeffs))


@dataclass(frozen=True, slots=True)
class Source:
    """A sensor: ``bytes_per_sample`` at ``rate_hz`` into stage ``to`` over a link of
    ``link_j_per_bit``."""

    name: str
    to: str
    bytes_per_sample: float
    rate_hz: float
    link_j_per_bit: float = 0.0


@dataclass(frozen=True, slots=True)
class Stage:
    """A processing stage fed by every source and stage whose ``to`` names it. ``added_bytes``:
    data it appends to each message; ``classifier`` None passes what it keeps at random (a
    stage with ``reduction_ratio`` 1 passes everything)."""

    name: str
    to: str = ""  # "" for the last stage (storage)
    reduction_ratio: float = 1.0
    classifier: Classifier | None = None
    ops: OpsModel = OpsModel()
    j_per_op: float = 0.0
    added_bytes: float = 0.0
    link_j_per_bit: float = 0.0
    cost_usd: float = 0.0

    def __post_init__(self) -> None:
        if not self.reduction_ratio >= 1:
            raise ConfigError(f"stage {self.name!r}: reduction_ratio must be at least 1 (keep 1 in R)")


@dataclass(frozen=True, slots=True)
class Pipeline:
    """Sources and stages; ``technology_scale`` divides every power (a projection of the
    hardware's efficiency to the year the system runs); ``relevant_fraction`` of the samples
    are relevant (None: as many as the whole pipeline keeps, SystemFlow's assumption)."""

    name: str
    sources: tuple[Source, ...]
    stages: tuple[Stage, ...]
    technology_scale: float = 1.0
    relevant_fraction: float | None = None
    provenance: Mapping[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names) or not names:
            raise ConfigError(f"pipeline {self.name!r}: stage names must be unique and non-empty")
        for name, to in [(x.name, x.to) for x in self.sources] + [(x.name, x.to) for x in self.stages]:
            if to and to not in names:
                raise ConfigError(f"pipeline {self.name!r}: {name!r} feeds unknown stage {to!r}")
        sinks = [s.name for s in self.stages if not s.to]
        if len(sinks) != 1:
            raise ConfigError(f"pipeline {self.name!r}: exactly one stage must end it (no 'to'), got {sinks}")

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise ConfigError(f"pipeline {self.name!r}: no stage {name!r}")

    def with_stage(self, name: str, **changes: Any) -> Pipeline:
        """A copy with stage ``name`` changed (a design alternative)."""
        self.stage(name)
        stages = tuple(replace(s, **changes) if s.name == name else s for s in self.stages)
        return replace(self, stages=stages)

    def with_source_bytes(self, name: str, factor: float) -> Pipeline:
        """A copy where source ``name`` emits ``factor`` times its bytes (front-end reduction)."""
        if name not in {s.name for s in self.sources}:
            raise ConfigError(f"pipeline {self.name!r}: no source {name!r}")
        srcs = tuple(
            replace(s, bytes_per_sample=s.bytes_per_sample * factor) if s.name == name else s
            for s in self.sources
        )
        return replace(self, sources=srcs)


STAGE_KEYS = (
    "name",
    "to",
    "reduction_ratio",
    "classifier",
    "ops",
    "j_per_op",
    "added_bytes",
    "link_j_per_bit",
    "cost_usd",
    "provenance",
)


def _ops(raw: Any, where: str, base: Path) -> OpsModel:
    if raw is None:
        return OpsModel()
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"{where}: ops must be {{coeffs: [...]}} or {{table: FILE, degree: N, column: NAME}}"
        )
    check_keys(raw, ("coeffs", "table", "degree", "column", "scale"), where)
    if "coeffs" in raw:
        return OpsModel(tuple(parse_number(c, where=f"{where}.coeffs", minimum=None) for c in raw["coeffs"]))
    table = read_mapping(base / str(raw["table"]))
    col = str(raw.get("column", "ops"))
    if "bytes" not in table or col not in table:
        raise ConfigError(f"{where}: table {raw['table']} needs 'bytes' and {col!r} lists")
    scale = parse_number(raw.get("scale", 1.0), where=f"{where}.scale")
    ops = np.asarray(table[col], dtype=float) * scale
    return OpsModel.fit(table["bytes"], ops, int(raw.get("degree", 1)))


def _stage(raw: Mapping[str, Any], where: str, base: Path) -> Stage:
    check_keys(raw, STAGE_KEYS, where)
    clf = raw.get("classifier")
    classifier = None
    if clf is not None:
        check_keys(clf, ("skill", "varscale"), f"{where}.classifier")
        classifier = Classifier(
            parse_number(clf["skill"], where=f"{where}.classifier.skill", minimum=None),
            parse_number(clf.get("varscale", 1.0), where=f"{where}.classifier.varscale"),
        )

    def num(key: str, default: float = 0.0) -> float:
        return parse_number(raw.get(key, default), where=f"{where}.{key}")

    return Stage(
        str(raw["name"]),
        str(raw.get("to", "")),
        num("reduction_ratio", 1.0),
        classifier,
        _ops(raw.get("ops"), f"{where}.ops", base),
        num("j_per_op"),
        num("added_bytes"),
        num("link_j_per_bit"),
        num("cost_usd"),
    )


def load_pipeline(path: str | Path) -> Pipeline:
    """Read a pipeline YAML: ``name``, ``technology_scale``, ``relevant_fraction``, ``sources``
    (name, to, bytes_per_sample, rate_hz, link_j_per_bit) and ``stages``; every number's source
    goes in the ``provenance`` mapping beside it (kept for the report)."""
    p = Path(path)
    raw = read_mapping(p)
    where = str(p.name)
    check_keys(
        raw,
        ("name", "description", "technology_scale", "relevant_fraction", "sources", "stages", "provenance"),
        where,
    )
    prov: dict[str, str] = {str(k): str(v) for k, v in (raw.get("provenance") or {}).items()}
    sources = []
    for i, s in enumerate(raw.get("sources") or []):
        w = f"{where}.sources[{i}]"
        check_keys(s, ("name", "to", "bytes_per_sample", "rate_hz", "link_j_per_bit"), w)
        sources.append(
            Source(
                str(s["name"]),
                str(s["to"]),
                parse_number(s["bytes_per_sample"], where=w),
                parse_number(s["rate_hz"], where=w),
                parse_number(s.get("link_j_per_bit", 0.0), where=w),
            )
        )
    stages = []
    for i, s in enumerate(raw.get("stages") or []):
        stages.append(_stage(s, f"{where}.stages[{i}]", p.parent))
        prov.update({f"{s['name']}.{k}": str(v) for k, v in (s.get("provenance") or {}).items()})
    rf = raw.get("relevant_fraction")
    return Pipeline(
        str(raw.get("name", p.stem)),
        tuple(sources),
        tuple(stages),
        parse_number(raw.get("technology_scale", 1.0), where=f"{where}.technology_scale"),
        None if rf is None else parse_number(rf, where=f"{where}.relevant_fraction"),
        prov,
    )
