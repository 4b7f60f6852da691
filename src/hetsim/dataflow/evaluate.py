"""Propagate samples through a :class:`~hetsim.dataflow.spec.Pipeline`.

Per stage, in dependency order: the message size is the sum of its inputs' messages plus what
it adds; its inputs carry fragments of the same samples, so it receives the mean of their
(irrelevant, relevant) rates; it keeps 1 / reduction_ratio of them, chosen by its classifier
(threshold solved for that pass fraction); it spends J/op x ops(message) per input sample, and
each incoming link J/bit x message bits per sample that crosses it. The pipeline's precision,
recall and F1 count the relevant samples stored against all relevant samples produced; its
productivity is SystemFlow's metric, F1 x samples stored per second / power (relevant samples
per joule).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.stats import norm

from hetsim.dataflow.spec import Classifier, Pipeline, Stage
from hetsim.errors import ConfigError


@dataclass(frozen=True, slots=True)
class StageResult:
    name: str
    input_rate_hz: float
    output_rate_hz: float
    message_bytes: float
    ops_per_sample: float
    true_positive_rate: float
    false_positive_rate: float
    op_power_w: float  # before the technology scale
    link_power_w: float  # its incoming links, before the technology scale


@dataclass(frozen=True, slots=True)
class PipelineResult:
    name: str
    stages: tuple[StageResult, ...]
    power_w: float  # every stage and link, divided by the technology scale
    stored_rate_hz: float
    relevant_rate_hz: float  # relevant samples produced by the sources
    precision: float
    recall: float
    f1: float
    cost_usd: float

    @property
    def productivity_per_kj(self) -> float:
        """SystemFlow's productivity, F1 x stored samples per second / power, per kJ."""
        return self.f1 * self.stored_rate_hz / self.power_w * 1e3

    def stage(self, name: str) -> StageResult:
        return next(s for s in self.stages if s.name == name)


def rates(clf: Classifier | None, neg: float, pos: float, keep: float) -> tuple[float, float]:
    """(true-positive rate, false-positive rate) of a stage passing ``keep`` of ``neg`` irrelevant
    and ``pos`` relevant samples: its classifier's threshold passes exactly that fraction."""
    if keep >= 1.0:
        return 1.0, 1.0
    if clf is None or neg + pos <= 0:
        return keep, keep
    n = neg + pos

    def excess(x: float) -> float:
        return float((neg * norm.sf(x) + pos * norm.sf((x - clf.skill) / clf.varscale)) / n - keep)

    lo, hi = -40.0, 40.0 + abs(clf.skill) * (1 + clf.varscale)
    x = brentq(excess, lo, hi, xtol=1e-12)
    return float(norm.sf((x - clf.skill) / clf.varscale)), float(norm.sf(x))


def _order(p: Pipeline) -> list[Stage]:
    feeds: dict[str, list[str]] = {s.name: [] for s in p.stages}
    for s in p.stages:
        if s.to:
            feeds[s.to].append(s.name)
    done: list[Stage] = []
    seen: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise ConfigError(f"pipeline {p.name!r}: stages form a cycle through {name!r}")
        if name in seen:
            return
        for up in feeds[name]:
            visit(up, (*path, name))
        seen.add(name)
        done.append(p.stage(name))

    for s in p.stages:
        visit(s.name, ())
    return done


def _global_ratio(p: Pipeline, start: str) -> float:
    """Product of the reduction ratios from stage ``start`` to the end."""
    ratio, name = 1.0, start
    while name:
        st = p.stage(name)
        ratio *= st.reduction_ratio
        name = st.to
    return ratio


def evaluate(p: Pipeline) -> PipelineResult:
    """Rates, classification counts, power and the pipeline's metrics."""
    order = _order(p)  # refuses a cycle before anything walks the stages
    msg: dict[str, float] = {}
    out: dict[str, tuple[float, float]] = {}  # element -> (irrelevant, relevant) per second
    link: dict[str, float] = {}  # element -> J/bit of its outgoing link
    produced = []
    for src in p.sources:
        frac = p.relevant_fraction if p.relevant_fraction is not None else 1 / _global_ratio(p, src.to)
        msg[src.name] = src.bytes_per_sample
        out[src.name] = (src.rate_hz * (1 - frac), src.rate_hz * frac)
        link[src.name] = src.link_j_per_bit
        produced.append(src.rate_hz * frac)
    results = []
    for st in order:
        ups = [s.name for s in p.sources if s.to == st.name] + [s.name for s in p.stages if s.to == st.name]
        if not ups:
            raise ConfigError(f"pipeline {p.name!r}: stage {st.name!r} has no input")
        neg = float(np.mean([out[u][0] for u in ups]))
        pos = float(np.mean([out[u][1] for u in ups]))
        msg[st.name] = sum(msg[u] for u in ups) + st.added_bytes
        tpr, fpr = rates(st.classifier, neg, pos, 1 / st.reduction_ratio)
        out[st.name] = (neg * fpr, pos * tpr)
        link[st.name] = st.link_j_per_bit
        ops = st.ops(msg[st.name])
        link_w = sum(link[u] * 8 * msg[u] * sum(out[u]) for u in ups)
        results.append(
            StageResult(
                st.name,
                neg + pos,
                sum(out[st.name]),
                msg[st.name],
                ops,
                tpr,
                fpr,
                st.j_per_op * ops * (neg + pos),
                link_w,
            )
        )
    sink = next(s for s in p.stages if not s.to)
    fp, tp = out[sink.name]
    relevant = float(np.mean(produced))
    precision = tp / (tp + fp) if tp + fp > 0 else 0.0
    recall = tp / relevant if relevant > 0 else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    power = sum(r.op_power_w + r.link_power_w for r in results) / p.technology_scale
    return PipelineResult(
        p.name,
        tuple(results),
        power,
        tp + fp,
        relevant,
        precision,
        recall,
        f1,
        sum(s.cost_usd for s in p.stages),
    )
