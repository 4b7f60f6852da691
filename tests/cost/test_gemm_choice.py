"""The calibrated GEMM choice weighs every candidate tile at once: it must pick what the best
single-tile kernel would (the autotuner's view), whatever the shapes' array dimensions."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hetsim.cost.kernels import blend, gemm_times
from hetsim.hardware.loader import get_hardware

H100 = get_hardware("h100-sxm")
UNIT = H100.primary.unit_for("matrix")
KP = H100.kernels
assert KP is not None


def overlapped(t: object, extra: object, ob: np.ndarray, mpb: float) -> np.ndarray:
    return np.asarray(blend(t, (ob + extra) * mpb, KP.overlap_p), dtype=float)  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(1, 30000), min_size=1, max_size=6),
    st.sampled_from([256, 1024, 4096, 14336]),
    st.sampled_from([128, 4096, 11008]),
    st.sampled_from([1.0, 8.0]),
    st.sampled_from([1 / 3e12, 1 / 1e12]),
)
def test_choice_is_the_best_single_tile_kernel(ms: list[int], n: int, k: int, g: float, mpb: float) -> None:
    m = np.array(ms, dtype=float)[:, None] * np.ones((1, 2))  # (M rows, 2): a 2-D shape
    ob = 2.0 * g * (m * k + k * n)
    peak = UNIT.peak("fp8")
    t, extra = gemm_times(UNIT, peak, KP, m, n, k, g, mpb, ob)
    assert np.shape(t) == m.shape and np.all(np.asarray(t) > 0) and np.all(np.asarray(extra) >= 0)
    best = overlapped(t, extra, ob, mpb)
    singles = []
    for tile in KP.tiles:
        one = dataclasses.replace(KP, tiles=(tile,))
        ts, es = gemm_times(UNIT, peak, one, m, n, k, g, mpb, ob)
        singles.append(overlapped(ts, es, ob, mpb))
    # never worse than any single-tile kernel, and as good as the best of them
    np.testing.assert_allclose(best, np.min(singles, axis=0), rtol=1e-12)
    # a scalar shape gives the same choice as its row in an array
    t0, e0 = gemm_times(UNIT, peak, KP, float(ms[0]), n, k, g, mpb, float(ob[0, 0]))
    assert float(t0) == float(np.asarray(t)[0, 0]) and float(e0) == float(np.asarray(extra)[0, 0])


def test_operand_bytes_may_carry_more_axes_than_the_shape() -> None:
    # the placed path prices one GEMM shape against several operand splits at once
    m, n, k = np.array([[64.0]]), 4096.0, 4096.0
    ob = np.array([1e6, 3e7, 9e7]).reshape(3, 1, 1)
    t, extra = gemm_times(UNIT, UNIT.peak("fp16"), KP, m, n, k, 1.0, 1 / 3e12, ob)
    assert np.shape(t) == (3, 1, 1) and np.shape(extra) == (3, 1, 1)
    for i in range(3):
        ti, ei = gemm_times(UNIT, UNIT.peak("fp16"), KP, m, n, k, 1.0, 1 / 3e12, ob[i])
        assert float(np.asarray(t)[i, 0, 0]) == float(np.asarray(ti).ravel()[0])
        assert float(np.asarray(extra)[i, 0, 0]) == float(np.asarray(ei).ravel()[0])
