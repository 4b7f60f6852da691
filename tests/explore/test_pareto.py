"""Pareto fronts against a brute-force definition (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from hetsim.explore.pareto import pareto_mask


def _brute(x: np.ndarray) -> np.ndarray:  # all minimised
    n = len(x)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        for j in range(n):
            if j != i and np.all(x[j] <= x[i]) and (np.any(x[j] < x[i]) or j < i):
                keep[i] = False  # dominated, or a later duplicate
                break
    return keep


@given(st.integers(2, 3), st.lists(st.integers(0, 6), min_size=1, max_size=60))
def test_front_matches_the_definition(m: int, flat: list[int]) -> None:
    n = len(flat) // m
    if n == 0:
        return
    x = np.asarray(flat[: n * m], dtype=float).reshape(n, m)
    cols = {f"c{k}": x[:, k] for k in range(m)}
    got = pareto_mask(cols, [(f"c{k}", "min") for k in range(m)])
    want = _brute(x)
    # equal sets of distinct points on the front (which duplicate is kept may differ)
    assert {tuple(r) for r in x[got]} == {tuple(r) for r in x[want]}
    assert got.sum() == want.sum()


def test_max_sense_and_nan() -> None:
    cols = {"a": np.array([1.0, 2.0, 3.0, np.nan]), "b": np.array([3.0, 2.0, 1.0, 9.0])}
    assert pareto_mask(cols, [("a", "max"), ("b", "max")]).tolist() == [True, True, True, False]
    assert pareto_mask(cols, [("a", "max"), ("b", "min")]).tolist() == [False, False, True, False]
