"""Mapping policies: registry, capacity, and the oracle as a bound on every partitioned one."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hetsim.cost.partition import PartitionOptions, decode_work, split_tables
from hetsim.errors import CapacityError, MappingError, UnknownNameError
from hetsim.hardware.loader import get_hardware
from hetsim.mapping import get_policy, policy_names
from hetsim.mapping.oracle import search_space
from hetsim.mapping.registry import fits, total_time_s
from hetsim.workload.dtypes import Precision
from hetsim.workload.registry import get_model

PREC = Precision.of("int8", "int8", "int8")
PARTITIONED = ("static-lp", "naive-sublayer", "qkv-first", "fc-first", "attention-first", "h2m2")


def tables(model: str = "llama2-70b", batch: int = 128, seq: int = 2048):  # type: ignore[no-untyped-def]
    w = decode_work(get_model(model), PREC, batch, batch * seq)
    return split_tables(w, get_hardware("h2m2"), PREC, PartitionOptions(gemm_overlap=True))


def test_every_issue_policy_is_registered() -> None:
    want = {"lpddr-only", "hbm-only", "hierarchical", "static-lp", "naive-sublayer", "qkv-first",
            "fc-first", "attention-first", "h2m2", "oracle"}  # fmt: skip
    assert want <= set(policy_names())


def test_unknown_policy_suggests() -> None:
    with pytest.raises(UnknownNameError, match="did you mean h2m2"):
        get_policy("h2m3")


@pytest.mark.parametrize("seq", [256, 1024, 4096])
def test_partitioned_policies_fit_and_oracle_is_fastest(seq: int) -> None:
    t = tables(seq=seq)
    best = get_policy("oracle")(t)
    assert fits(t, best.splits)
    for p in PARTITIONED:
        m = get_policy(p)(t)
        assert fits(t, m.splits), p
        assert total_time_s(t, best.splits) <= total_time_s(t, m.splits) + 1e-12, p


def test_oracle_matches_brute_force() -> None:
    t = tables("llama2-70b", 128, 4096)  # 9 x 9 x 65 candidates
    best = min(
        (s for s in itertools.product(*(range(n + 1) for n in t.n_parts)) if fits(t, s)),
        key=lambda s: total_time_s(t, s),
    )
    assert np.isclose(total_time_s(t, get_policy("oracle")(t).splits), total_time_s(t, best))


def test_gpt3_search_space() -> None:
    assert search_space(tables("gpt3-175b", 32, 1024)) == 97**3


def test_hbm_only_raises_when_it_does_not_fit() -> None:
    with pytest.raises(MappingError, match="hbm-only"):
        get_policy("hbm-only")(tables("gpt3-175b", 32, 1024))


def test_greedy_raises_when_nothing_fits() -> None:
    with pytest.raises(CapacityError):
        get_policy("h2m2")(tables("gpt3-175b", 32, 16384))


def test_greedy_keeps_attention_on_hbm_first() -> None:
    """As S grows, data leaves HBM in the order fc, qkv, attention (h2m2.md §4)."""
    prev = None
    for seq in (256, 512, 1024, 2048, 4096):
        m = get_policy("h2m2")(tables("gpt3-175b", 32, seq)).as_dict()
        if prev is not None:
            assert m["fc"] <= prev["fc"]
        prev = m
    assert prev is not None and prev["fc"] == 0 and prev["attention"] > 0
