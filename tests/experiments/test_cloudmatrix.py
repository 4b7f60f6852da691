"""The CloudMatrix384 study (`hetsim reproduce cloudmatrix`): its figures pinned within 2%, its
verdicts as they stand (a fix shows up as a test to update), and the physics of its decode
curve: TPOT never falls as the batch grows, an SLO's pick meets it, a slower fabric is never
faster, per NPU is two dies. The decode pool's all-to-alls run as the paper's operators do (a
cost per destination rank and per pair, solved at EP8 and EP256), prefill on the link, the HBM at
the MLA operator's measured efficiency (the study's docstring)."""

from __future__ import annotations

import math

import pytest

from hetsim.experiments import cloudmatrix
from hetsim.experiments.study import Outcome

# hetsim's figures when this study was written (tokens/s per NPU)
PINNED = {
    "prefill throughput per NPU": 8375.0,
    "decode throughput per NPU, TPOT < 50 ms": 2488.0,
    "decode throughput per NPU, TPOT < 15 ms": 411.0,
}
PINNED_TPOT_MS = {"96": 41.41, "24": 19.68, "8": 15.14}  # at the paper's batches per NPU
# all three met; the 15 ms pick sits on a cliff: TPOT at batch 8 per NPU is 15.1 ms (paper 14.9), so
# the SLO admits batch 6 (411 tokens/s, -24%); without the per-rank dispatch floor it was 818 (+52%)
MET = {
    "prefill throughput per NPU": True,
    "decode throughput per NPU, TPOT < 50 ms": True,
    "decode throughput per NPU, TPOT < 15 ms": True,
}


@pytest.fixture(scope="module")
def outcome() -> Outcome:
    return cloudmatrix.run()


def test_figures_pinned_within_two_percent(outcome: Outcome) -> None:
    rows = {r["target"]: r for r in outcome.evaluated()}
    assert set(rows) == set(PINNED)
    for name, value in PINNED.items():
        assert rows[name]["value"] == pytest.approx(value, rel=0.02), name
        assert rows[name]["met"] == MET[name], name
        assert rows[name]["met"] or rows[name]["cause"] not in ("", "not analysed")
    at = outcome.results["decode"]["at_paper_batch"]
    for b, tpot in PINNED_TPOT_MS.items():
        assert at[b]["tpot_ms"] == pytest.approx(tpot, rel=0.02), b


def test_the_decode_curve_is_physical(outcome: Outcome) -> None:
    dec = outcome.results["decode"]
    pts = sorted(dec["curve"].values(), key=lambda p: p["batch_per_npu"])
    tpots = [p["tpot_ms"] for p in pts]
    assert tpots == sorted(tpots)  # a bigger batch never makes a token sooner
    for p in pts:
        assert p["batch_per_npu"] % cloudmatrix.DIES_PER_NPU == 0  # two dies a package
        assert p["tok_per_s_per_npu"] == pytest.approx(p["batch_per_npu"] / p["tpot_ms"] * 1e3)
    for slo in cloudmatrix.SLOS_MS:
        pick = dec[f"slo_{slo:g}ms"]
        assert pick["tpot_ms"] < slo and pick["fits"]
        # the next batch on the curve breaks the SLO (or does not fit): the pick is the largest
        bigger = [p for p in pts if p["batch_per_npu"] > pick["batch_per_npu"]]
        assert not bigger or bigger[0]["tpot_ms"] >= slo or not bigger[0]["fits"]


def test_the_measured_fabric_is_never_faster(outcome: Outcome) -> None:
    r = outcome.results
    i8 = r["int8_activations"]  # half the activation bytes: never slower
    assert i8["prefill_tok_per_s_per_npu"] >= r["prefill_tok_per_s_per_npu"]
    for b in PINNED_TPOT_MS:
        assert i8["at_paper_batch"][b]["tpot_ms"] <= r["decode"]["at_paper_batch"][b]["tpot_ms"]
    link = r["link_fabric"]  # the bare link is faster than the measured operators
    assert link["measured_gb_per_s"] < link["ub_gb_per_s"] == pytest.approx(196)
    assert link["prefill_measured_tok_per_s_per_npu"] < r["prefill_tok_per_s_per_npu"]
    for s in cloudmatrix.SLOS_MS:
        k = f"slo_{s:g}ms"
        assert link[k]["tok_per_s_per_npu"] >= r["decode"][k]["tok_per_s_per_npu"]
    for b in PINNED_TPOT_MS:
        assert link["at_paper_batch"][b]["tpot_ms"] <= r["decode"]["at_paper_batch"][b]["tpot_ms"]
    assert all(math.isfinite(v) for v in (r["prefill"]["pass_s"], r["prefill"]["mfu"]))
    # the link alone moves the paper's EP256 dispatch faster than its measured operator
    d = r["operators_us"]["link_dispatch_ep256"]
    assert 7.3e6 / 196e9 * 1e6 < d["hetsim"] < d["paper"]
    assert 0 < r["prefill"]["mfu"] <= 1


def test_the_hardware_file_counts_a_die_and_one_ub_domain() -> None:
    from hetsim.hardware.loader import get_hardware

    dev = get_hardware(cloudmatrix.HW)
    assert dev.node_devices == 768  # 384 NPUs of two dies, one UB domain
    assert dev.interconnect is not None and dev.interconnect.bandwidth_bytes_per_s == pytest.approx(196e9)
    assert dev.capacity_bytes == pytest.approx(64e9)
    assert dev.primary.memory.bandwidth_bytes_per_s == pytest.approx(1.6e12)


def test_the_operator_fabric_reproduces_both_measured_points_and_has_a_floor(outcome: Outcome) -> None:
    from hetsim.experiments.cloudmatrix.fabric import measured_fabric
    from hetsim.hardware.loader import get_hardware

    for ep in ("ep8", "ep256"):
        row = outcome.results["operators_us"][ep]
        assert row["hetsim"] == pytest.approx(row["paper"], rel=1e-9), ep
    dev = get_hardware(cloudmatrix.HW)
    lat = [measured_fabric(dev, ep).interconnect.latency_s for ep in (8, 32, 256, cloudmatrix.DECODE_EP)]
    assert dev.interconnect is not None
    assert lat == sorted(lat) and lat[0] > dev.interconnect.latency_s  # more ranks, a higher floor
    w = outcome.results["link_fabric"]
    assert w["measured_latency_us"] == pytest.approx(lat[-1] * 1e6)
    # the floor is what moves the small-batch step: without it (the bare link) batch 8 is faster
    fo, dec = outcome.results["fabric_only"], outcome.results["decode"]
    assert w["at_paper_batch"]["8"]["tpot_ms"] < fo["at_paper_batch"]["8"]["tpot_ms"]
    # the measured HBM efficiency (84.1%) is below the transferred one: every step is slower with it
    for b in PINNED_TPOT_MS:
        assert fo["at_paper_batch"][b]["tpot_ms"] < dec["at_paper_batch"][b]["tpot_ms"]
