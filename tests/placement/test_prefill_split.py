"""Each phase splits the weights its own way (``Pricer.plan``): the prefill's split is planned on
its own kernels, the decode's on the decode's, and where they differ the decode's start is a
step-0 re-map whose bytes move by the one migration formula; the part of the move the prefill's
idle memory time cannot hide is charged to the end-to-end time, never to TTFT."""

from __future__ import annotations

import pytest

import hetsim
from hetsim.analysis.result import RemapResult
from hetsim.workload.dtypes import Precision


def _resplit(r: hetsim.AnalysisResult) -> list[RemapResult]:
    return [m for m in r.remaps if m.step == 0 and m.change.startswith("weights re-split for the decode")]


def test_the_decode_start_moves_the_weights_and_charges_what_the_prefill_cannot_hide() -> None:
    """gh200, Mixtral-8x7B B=1 P=16 G=2 (the pinned TTFT case): the prefill reads every expert
    once, the decode two of them, so the two phases want different splits. The move runs partly
    under the memory-bound prefill's idle time; the rest is in the end-to-end time."""
    r = hetsim.analyze("mixtral-8x7b", "gh200", hetsim.Workload(1, 16, 2), policy="offload")
    (m,) = _resplit(r)
    assert m.migrated_bytes > 1e9 and m.migration_s > 0
    assert "under the prefill" in m.change  # part of it hidden, and the record says how much
    steps = r.output_len - 1
    assert r.e2e_latency_s == pytest.approx(r.ttft_s + steps * r.tpot_s + m.migration_s, rel=1e-12)
    # the move crosses NVLink-C2C (450 GB/s): what is charged is no faster than that, less the hidden part
    took = float(m.change.split("the move takes ")[1].split(" ms")[0]) * 1e-3
    assert took == pytest.approx(m.migrated_bytes / 450e9, rel=0.05) and m.migration_s < took


def test_a_compute_bound_prefill_hides_the_whole_move() -> None:
    """h2m2, Chinchilla-70B int8 B=50 P=1303: the prefill (67 s, compute-bound) leaves its
    weights on LPDDR for the KV cache's room; the 57 GB re-split takes 0.1 s and runs while the
    prefill computes, so nothing is charged."""
    prec = Precision.of("int8", "int8", "int8")
    r = hetsim.analyze("chinchilla-70b", "h2m2", hetsim.Workload(50, 1303, 64), prec, policy="offload")
    (m,) = _resplit(r)
    assert m.migrated_bytes > 50e9 and m.migration_s == 0.0
    assert r.e2e_latency_s == pytest.approx(r.ttft_s + 63 * r.tpot_s, rel=1e-12)
