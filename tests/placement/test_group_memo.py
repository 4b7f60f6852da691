"""The per-step memo of priced groups (placement/group_memo.py) returns what pricing afresh
returns: after a search has priced its group tables, every policy's iteration (read from
table rows or kept scalar prices) equals the same iteration priced on a step with an empty
memo, field by field; a translation model or resident bytes the memo has not seen still
change the result (stalls are never kept), and so does a share off the tables' grid."""

from __future__ import annotations

from dataclasses import fields, replace

from hypothesis import given, settings
from hypothesis import strategies as st

from hetsim.experiments.h2m2 import options, systems
from hetsim.experiments.h2m2_knobs import CALIBRATED
from hetsim.memory.tlb import TlbModel
from hetsim.placement.group_memo import GroupMemo
from hetsim.placement.policies import get_policy
from hetsim.placement.search import _placement
from hetsim.sim.iteration import DecodeStep, IterationCost, decode_step, iteration
from hetsim.workload.dtypes import Precision
from hetsim.workload.registry import get_model

PREC = Precision.of("int8", "int8", "int8")
KNOBS = options(CALIBRATED)
DEV = systems(CALIBRATED).h2m2
TLB = TlbModel()


def _fresh(step: DecodeStep) -> DecodeStep:
    return replace(step, memo=GroupMemo())


def _same(a: IterationCost, b: IterationCost) -> None:
    for f in fields(IterationCost):
        assert getattr(a, f.name) == getattr(b, f.name), f.name


def _warm(model: str, batch: int, seq: int) -> DecodeStep:
    step = decode_step(get_model(model), PREC, DEV, batch, batch * seq, knobs=KNOBS)
    get_policy("oracle")(step.problem)  # prices the group tables and every policy's candidate
    return step


def test_every_policy_reads_what_fresh_pricing_gives() -> None:
    step = _warm("llama2-70b", 32, 2048)
    for name in ("h2m2", "attention-first", "qkv-first", "fc-first", "naive-sublayer", "oracle"):
        pl = get_policy(name)(step.problem).placement
        for tlb in (None, TLB):
            fresh = iteration(_fresh(step), pl, knobs=KNOBS, tlb=tlb)
            _same(iteration(step, pl, knobs=KNOBS, tlb=tlb), fresh)


@settings(max_examples=15, deadline=None)
@given(st.sampled_from(("llama2-70b", "gpt3-175b")), st.integers(4, 32), st.integers(256, 2048),
       st.lists(st.integers(0, 96), min_size=3, max_size=3), st.booleans())  # fmt: skip
def test_any_split_read_equals_fresh(model: str, batch: int, seq: int, k: list[int], with_tlb: bool) -> None:
    step = _warm(model, batch, seq)
    p = step.problem
    share = {g: min(n, p.parts[g]) / p.parts[g] for g, n in zip(("attention", "qkv", "fc"), k, strict=True)}
    pl = _placement(p, "probe", 1, share)
    tlb = TLB if with_tlb else None
    _same(iteration(step, pl, knobs=KNOBS, tlb=tlb), iteration(_fresh(step), pl, knobs=KNOBS, tlb=tlb))
    # a share off the tables' grid is priced, not read from a neighbouring row
    off = _placement(p, "probe", 1, {**share, "fc": 0.5 / p.parts["fc"]})
    _same(iteration(step, off, knobs=KNOBS), iteration(_fresh(step), off, knobs=KNOBS))


def test_translation_is_never_kept() -> None:
    step = _warm("gpt3-175b", 32, 2048)
    pl = get_policy("h2m2")(step.problem).placement
    plain = iteration(step, pl, knobs=KNOBS)
    paged = iteration(step, pl, knobs=KNOBS, tlb=TlbModel(entries=16))
    assert plain.abstraction_s == 0.0
    assert paged.abstraction_s > 0.0 and paged.time_s > plain.time_s
    # a slower page walk stalls longer on the same memo
    worse = iteration(step, pl, knobs=KNOBS, tlb=TlbModel(entries=16, miss_s=600e-9))
    assert worse.abstraction_s > paged.abstraction_s
    assert iteration(step, pl, knobs=KNOBS) == plain
