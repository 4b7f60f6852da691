"""The H2M2 study's policies as placement policies over the op graph (ported from the
retired three-sublayer mapper): capacity, the exhaustive oracle as a bound on every
head-aware one and against brute force, and the greedy's order as S grows."""

from __future__ import annotations

import numpy as np
import pytest

from hetsim.cost.knobs import PricingKnobs
from hetsim.errors import CapacityError, UnknownNameError
from hetsim.hardware.loader import get_hardware
from hetsim.placement.policies import fits, get_policy, policy_names
from hetsim.placement.search import _placement
from hetsim.sim.iteration import DecodeStep, decode_step, iteration
from hetsim.workload.dtypes import Precision
from hetsim.workload.registry import get_model

PREC = Precision.of("int8", "int8", "int8")
KNOBS = PricingKnobs(gemm_overlap=True)  # the h2m2 preset synchronises per group (its execution block)
HEAD_AWARE = ("static-lp", "naive-sublayer", "qkv-first", "fc-first", "attention-first", "h2m2")


def step(model: str = "llama2-70b", batch: int = 128, seq: int = 2048) -> DecodeStep:
    return decode_step(get_model(model), PREC, get_hardware("h2m2"), batch, batch * seq, knobs=KNOBS,
                       oracle_candidates=())  # fmt: skip


def test_every_h2m2_policy_is_a_placement_policy() -> None:
    want = {"primary", "hierarchical", "static-lp", "naive-sublayer", "qkv-first", "fc-first",
            "attention-first", "h2m2", "oracle"}  # fmt: skip
    assert want <= set(policy_names())


def test_unknown_policy_suggests() -> None:
    with pytest.raises(UnknownNameError, match="did you mean"):
        get_policy("static-pl")


@pytest.mark.parametrize("seq", [256, 4096])
def test_head_aware_policies_fit_and_the_oracle_is_fastest(seq: int) -> None:
    st = step(seq=seq)
    p = st.problem
    assert p.evaluate is not None
    best = get_policy("oracle")(p).placement
    assert bool(fits(p, best))
    t_best = float(p.evaluate(best))
    for name in HEAD_AWARE:
        pl = get_policy(name)(p).placement
        assert bool(fits(p, pl)), name
        assert t_best <= float(p.evaluate(pl)) * (1 + 1e-9), name
    # the priced iteration is the evaluated phase time (one pricing path)
    assert iteration(st, best, knobs=KNOBS).time_s == pytest.approx(t_best, rel=1e-12)


def test_oracle_matches_brute_force_over_the_whole_phase() -> None:
    """The oracle adds per-group tables; brute force prices every one of the 9 x 9 x 65
    candidates as a whole phase, in one broadcast."""
    st = step("llama2-70b", 128, 4096)
    p = st.problem
    assert p.evaluate is not None
    axes = [np.arange(p.parts[g] + 1) / p.parts[g] for g in ("attention", "qkv", "fc")]
    grid = np.meshgrid(*axes, indexing="ij")
    share0 = dict(zip(("attention", "qkv", "fc"), grid, strict=True))
    cand = _placement(p, "brute", 1, share0)
    t = np.where(np.asarray(fits(p, cand)), p.evaluate(cand), np.inf)
    oracle = get_policy("oracle")(p).placement
    assert float(p.evaluate(oracle)) == pytest.approx(float(np.min(t)), rel=1e-9)


def test_greedy_raises_when_nothing_fits() -> None:
    with pytest.raises(CapacityError):
        get_policy("h2m2")(step("gpt3-175b", 32, 16384).problem)


def test_greedy_keeps_attention_on_hbm_first() -> None:
    """As S grows, data leave HBM in the order fc, qkv, attention (h2m2.md §4)."""
    prev = None
    for seq in (256, 512, 1024, 2048, 4096):
        pl = get_policy("h2m2")(step("gpt3-175b", 32, seq).problem).placement
        now = {g: float(pl.groups[g].shares[0]) for g in ("attention", "qkv", "fc")}
        if prev is not None:
            assert now["fc"] <= prev["fc"] + 1e-12
        prev = now
    assert prev is not None and prev["fc"] == 0 and prev["attention"] > 0
