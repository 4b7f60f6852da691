"""A point's result never depends on the points evaluated with it (issue 19): evaluated alone,
in any batch of other points, in any order, through ``sweep`` or ``analyze``, a configuration
gets bit-identical figures and the same chosen policy. (Explore's process pool and Ray:
tests/explore/test_independence.py.)"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hetsim
from hetsim.errors import HetsimError
from hetsim.workload.dtypes import Precision

METRICS = ("ttft_s", "tpot_s", "e2e_latency_s", "output_throughput_tok_per_s", "mbu", "mfu",
           "energy_j_per_token", "avg_power_w")  # fmt: skip
# one-side GPUs (calibrated kernel model, TP), two sides with and without memory-side compute,
# three sides (FlexGen's box), PIM; models dense, GQA, MoE
SYSTEMS = (("h100-sxm", 2), ("gh200", 1), ("h2m2", 1), ("hbm-pim", 1), ("flexgen-t4", 1),
           ("a100-80gb-sxm", 1))  # fmt: skip
MODELS = ("llama2-7b", "llama3-70b", "mixtral-8x7b", "llama2-13b")
POLICIES = ("auto", "auto", "primary", "offload", "pim-attention")
# 16-bit, weight-only int4 (dequantising GEMMs), FP8 GEMMs (refused where no FP8 units)
PRECISIONS = (None, Precision.of("int4"), Precision.of("fp8"), Precision.of("int8", "int8", "int8"))

# batches past the GPU's core count (132 SMs on h100) take the kernel model's other branches
point = st.tuples(st.integers(1, 400), st.integers(1, 9000), st.integers(1, 2500))


def _sweep(model: str, hw: str, tp: int, pts: list[tuple[int, int, int]], **kw: Any) -> Any:
    b, p, g = (np.array([x[i] for x in pts]) for i in range(3))
    prec = kw.pop("precision", None)
    return hetsim.sweep(model, hw, b, p, g, prec, tp=tp, **kw)


def _row(r: Any, i: int) -> tuple[Any, ...]:
    return (*(float(getattr(r, k)[i]) for k in METRICS), str(r.policy[i]), bool(r.fits[i]))


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(SYSTEMS), st.sampled_from(MODELS), st.sampled_from(POLICIES), st.booleans(),
       st.sampled_from(PRECISIONS), st.lists(point, min_size=2, max_size=6),
       st.randoms(use_true_random=False))  # fmt: skip
def test_a_point_is_the_same_alone_in_any_company_and_order(
    system: tuple[str, int], model: str, policy: str, dynamic: bool, prec: Precision | None,
    pts: list[tuple[int, int, int]], rnd: Any,
) -> None:  # fmt: skip
    hw, tp = system
    kw = {"policy": policy, "dynamic": dynamic, "precision": prec}
    try:
        together = _sweep(model, hw, tp, pts, **kw)
    except HetsimError:  # a policy that cannot apply (pim-attention without memory-side compute)
        return
    order = list(range(len(pts)))
    rnd.shuffle(order)
    shuffled = _sweep(model, hw, tp, [pts[i] for i in order], **kw)
    for j, i in enumerate(order):
        assert _row(shuffled, j) == _row(together, i)
    for i, pt in enumerate(pts):
        alone = _sweep(model, hw, tp, [pt], **kw)
        assert _row(alone, 0) == _row(together, i), (pt, pts)


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(SYSTEMS), st.sampled_from(MODELS), st.sampled_from(("auto", "primary", "offload")),
       st.lists(point, min_size=1, max_size=4))  # fmt: skip
def test_sweep_and_analyze_agree_to_the_bit(
    system: tuple[str, int], model: str, policy: str, pts: list[tuple[int, int, int]]
) -> None:
    hw, tp = system
    r = _sweep(model, hw, tp, pts, policy=policy)
    for i, (b, p, g) in enumerate(pts):
        a = hetsim.analyze(model, hw, hetsim.Workload(b, p, g), tp=tp, policy=policy)
        assert (*(getattr(a, k) for k in METRICS), a.policy, a.fits) == _row(r, i), (b, p, g)


def test_the_issue_example() -> None:
    """The point of issue 19: alone it is offload, TTFT 1.7085 s; beside a batch-64 point it
    became pim-attention at 2.6146 s (the workspace side and offload's weight share were
    found once for the whole sweep)."""
    alone = hetsim.sweep("llama3-70b", "gh200", [1], [8192], [256])
    pair = hetsim.sweep("llama3-70b", "gh200", [1, 64], [8192, 8192], [256, 2048])
    assert _row(alone, 0) == _row(pair, 0)
    assert alone.ttft_s[0] == pytest.approx(1.7085, abs=1e-4) and alone.policy[0] == "offload"
    a = hetsim.analyze("llama3-70b", "gh200", hetsim.Workload(1, 8192, 256))
    assert a.ttft_s == alone.ttft_s[0] and a.policy == alone.policy[0]


def test_a_large_sweep_sums_as_a_small_one() -> None:
    """Many configurations take the row-by-row context sums, a few ``add.accumulate``: the
    same additions in the same order, so the same bits (placed_run.mean_ctx)."""
    rng = np.random.default_rng(7)
    pts = [(int(b), int(p), int(g)) for b, p, g in zip(rng.integers(1, 64, 90), rng.integers(1, 6000, 90),
                                                        rng.integers(2, 2000, 90), strict=True)]  # fmt: skip
    for hw, tp in (("h100-sxm", 2), ("gh200", 1)):
        many = _sweep("llama2-13b", hw, tp, pts)
        for i in (0, 17, 89):
            assert _row(_sweep("llama2-13b", hw, tp, [pts[i]]), 0) == _row(many, i)
