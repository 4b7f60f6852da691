"""Collectives by topology (hetsim.cost.collectives): ring and NVLS inside a scale-up domain,
hierarchical across nodes at the NIC's rate, all-to-all for expert parallelism."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hetsim.cost.collectives import Fabric, all_gather, all_reduce, all_to_all
from hetsim.cost.roofline import collective_cost
from hetsim.errors import ConfigError
from hetsim.hardware.loader import get_hardware
from hetsim.sim.inference import Workload, analyze
from hetsim.workload.ops import Op

SIZES = np.array([4096.0, 2.0e6, 1.34e8])


def _op(n: float) -> Op:
    return Op("allreduce", "comm", "collective", "vector", 1, flop=n / 2, act_read_bytes=n)


@pytest.mark.parametrize("hw", ["a100-80gb-sxm", "h100-sxm", "b200", "mi300x"])
@pytest.mark.parametrize("calibrated", [True, False])
def test_one_domain_is_the_ring_or_nvls_formula(hw: str, calibrated: bool) -> None:
    """Inside one node the price is the alpha-beta ring (2(p-1) steps, 2(p-1)/p of the bytes)
    or NVLS (2 steps, the bytes once), with the fitted alpha, hop and link efficiency."""
    dev = get_hardware(hw, calibrated=calibrated)
    link, kp, p = dev.interconnect, dev.kernels, 8
    assert link is not None
    inr = link.in_network_reduction
    wire = SIZES * (1.0 if inr else 2 * (p - 1) / p)
    if kp is not None:
        steps = 2 if inr else 2 * (p - 1)
        eff = kp.link_efficiency
        if inr:  # the NVLS knob of the switch's NVLink generation (calibration/knobs.py)
            eff = (kp.nvls5_link_efficiency if "5" in link.name else 0.0) or kp.nvls_link_efficiency or eff
        want = (
            kp.allreduce_latency_s
            + steps * kp.allreduce_hop_latency_s
            + wire / (link.bandwidth_bytes_per_s * eff)
        )
    else:
        want = link.latency_s + wire / link.bandwidth_bytes_per_s
    got = all_reduce(SIZES, p, Fabric.of(dev), kp)
    assert got.algorithm == ("nvls" if inr else "ring")
    assert np.allclose(got.time_s, want, rtol=1e-12)
    assert np.allclose(collective_cost(_op(1.34e8), link, p, kp).time_s, want[-1], rtol=1e-12)


def test_crossing_nodes_runs_at_the_nic_rate() -> None:
    h100 = get_hardware("h100-sxm")
    fab = Fabric.of(h100)
    one = all_reduce(1.34e8, 8, fab, h100.kernels)
    two = all_reduce(1.34e8, 16, fab, h100.kernels)
    assert "hierarchical" in two.algorithm and "ring across 2" in two.algorithm
    # the same 16 devices in one 16-wide NVLink domain would be faster than over InfiniBand
    wide = all_reduce(1.34e8, 16, dataclasses.replace(fab, domain=16), h100.kernels)
    assert float(wide.time_s) < float(two.time_s)
    assert float(one.time_s) < float(two.time_s)
    # the bytes that leave the node cross one 50 GB/s NIC per GPU: at least nbytes/8 x 2(m-1)/m of it
    assert float(two.time_s) >= (1.34e8 / 8) / 50e9
    # an NVL72 rack keeps 64 GPUs inside its NVLink domain
    assert all_reduce(1.34e8, 64, Fabric.of(get_hardware("gb200"))).algorithm == "nvls"


def test_small_messages_across_many_nodes_take_the_tree() -> None:
    fab = Fabric.of(get_hardware("h100-sxm"))
    assert "tree across 8" in all_reduce(4096.0, 64, fab).algorithm
    assert "ring across 8" in all_reduce(1.0e9, 64, fab).algorithm


def test_beyond_the_domain_without_a_network_is_refused() -> None:
    dev = dataclasses.replace(get_hardware("h100-sxm"), scale_out=None)
    with pytest.raises(ConfigError, match="no scale_out network"):
        all_reduce(1e6, 16, Fabric.of(dev))
    with pytest.raises(ConfigError, match="whole 8-device domains"):
        all_reduce(1e6, 12, Fabric.of(get_hardware("h100-sxm")))


def test_all_to_all_and_all_gather() -> None:
    fab = Fabric.of(get_hardware("h100-sxm"))
    inside = all_to_all(1e8, 8, fab)
    across = all_to_all(1e8, 16, fab)
    assert inside.algorithm == "direct" and float(across.time_s) > float(inside.time_s)
    # each device sends (p-1)/p of its bytes
    assert float(inside.wire_bytes) == pytest.approx(1e8 * 7 / 8)
    assert float(across.wire_bytes) == pytest.approx(1e8 * 15 / 16)
    ag, ar = all_gather(1e8, 8, fab), all_reduce(1e8, 8, fab)
    assert 0 < float(ag.time_s) <= float(ar.time_s)


@settings(max_examples=25, deadline=None)
@given(
    hw=st.sampled_from(["a100-80gb-sxm", "h100-sxm", "b200", "h200"]),
    nodes=st.sampled_from([2, 4, 8]),
    nbytes=st.floats(1e3, 1e10),
    k=st.floats(1.0, 8.0),
)
def test_more_network_bandwidth_is_never_slower(hw: str, nodes: int, nbytes: float, k: float) -> None:
    dev = get_hardware(hw)
    fab = Fabric.of(dev)
    assert fab.scale_out is not None
    faster = dataclasses.replace(
        fab,
        scale_out=dataclasses.replace(
            fab.scale_out, bandwidth_bytes_per_s=fab.scale_out.bandwidth_bytes_per_s * k
        ),
    )
    p = 8 * nodes
    for f in (all_reduce, all_to_all, all_gather):
        a, b = f(nbytes, p, fab, dev.kernels), f(nbytes, p, faster, dev.kernels)
        assert float(b.time_s) <= float(a.time_s) * (1 + 1e-12)
        assert float(a.time_s) > 0
    # more bytes never take less time
    assert float(all_reduce(nbytes * 2, p, fab, dev.kernels).time_s) >= float(
        all_reduce(nbytes, p, fab, dev.kernels).time_s
    )


def test_tensor_parallel_over_two_nodes_prices_the_network() -> None:
    """TP 16 on 8-GPU H100 nodes: the all-reduces cross InfiniBand, so each costs more than at TP 8."""
    w = Workload(8, 512, 32)
    r8 = analyze("llama3-70b", "h100-sxm", w, tp=8)
    r16 = analyze("llama3-70b", "h100-sxm", w, tp=16)
    comm = {
        tp: sum(o.time_s for o in r.ops if o.kind == "collective" and o.phase == "decode")
        for tp, r in ((8, r8), (16, r16))
    }
    assert comm[16] > comm[8] > 0


@pytest.mark.parametrize("hw", ["a100-80gb-sxm", "h100-sxm", "rtx-4090"])
def test_a_captured_all_reduce_pays_nccls_device_latency(hw: str) -> None:
    """Inside a CUDA graph an all-reduce pays NCCL's ring / LL latency (3.6 us + 0.47 us per
    step over NVLink, 1.0 us over PCIe; tuning.cc), not the host-timed fitted alpha; the
    bandwidth term is the same, and the captured one is never slower."""
    from hetsim.cost.collectives import GRAPH_BASE_LATENCY_S, GRAPH_STEP_LATENCY_S

    dev = get_hardware(hw)
    link, kp, p = dev.interconnect, dev.kernels, 2 if hw == "rtx-4090" else 8
    assert link is not None and kp is not None
    eager = all_reduce(SIZES, p, Fabric.of(dev), kp)
    graph = all_reduce(SIZES, p, Fabric.of(dev), kp, captured=True)
    steps = 2 if link.in_network_reduction else 2 * (p - 1)
    hop = GRAPH_STEP_LATENCY_S["pcie" if hw == "rtx-4090" else "nvlink"]
    alpha = np.asarray(graph.time_s) - np.asarray(graph.wire_s)
    assert np.allclose(alpha, GRAPH_BASE_LATENCY_S + steps * hop)
    assert np.allclose(graph.wire_s, eager.wire_s)
    assert np.all(np.asarray(graph.time_s) <= np.asarray(eager.time_s))
    op = dataclasses.replace(_op(4096.0), captured=True)
    assert float(collective_cost(op, link, p, kp).time_s) == pytest.approx(float(np.asarray(graph.time_s)[0]))


def test_graph_replayed_decode_prices_captured_all_reduces() -> None:
    """gpt-fast replays a CUDA graph per decode step, so its TP-8 decode all-reduces pay the
    device-side latency; the same run with the graph off pays the eager, host-timed alpha."""
    from hetsim.engines import get

    srv = get("gpt-fast").serving
    assert srv.decode_graph
    w = Workload(batch=1, input_len=16, output_len=64)
    graph = analyze("llama2-7b", "a100-80gb-sxm", w, tp=8, serving=srv)
    no_graph = dataclasses.replace(srv, decode_graph=False)
    eager = analyze("llama2-7b", "a100-80gb-sxm", w, tp=8, serving=no_graph)
    assert graph.tpot_s < eager.tpot_s
    one = analyze("llama2-7b", "a100-80gb-sxm", w, tp=1, serving=srv)
    assert one.tpot_s > graph.tpot_s  # the captured all-reduces never cost more than TP saves here


def test_graph_capture_is_decided_per_configuration() -> None:
    """A sweep whose batches straddle the largest captured graph prices each configuration as
    it would alone: the captured batch keeps its device-side all-reduces, the eager one pays
    the host-timed alpha."""
    from hetsim.engines import get
    from hetsim.sim.inference import sweep

    srv = get("vllm").serving
    big = srv.graph_batch_sizes[-1] * 2
    both = sweep("llama2-7b", "a100-80gb-sxm", [8, big], 128, 32, tp=2, serving=srv)
    for i, b in enumerate((8, big)):
        alone = sweep("llama2-7b", "a100-80gb-sxm", [b], 128, 32, tp=2, serving=srv)
        assert float(both.tpot_s[i]) == float(alone.tpot_s[0])
    assert list(srv.replays_graph(np.array([8, big]))) == [True, False]


def test_the_nvlink5_nvls_knob_prices_only_fifth_generation_switches() -> None:
    """``nvls5_link_efficiency`` (fitted on nccl-tests bus bandwidth of 8 B200 and 4 GB200) slows
    a large all-reduce on NVLink 5 in proportion and leaves NVLink 4 (H100) and rings alone."""
    for hw, moves in (("b200", True), ("gb200", True), ("h100-sxm", False), ("a100-80gb-sxm", False)):
        dev = get_hardware(hw)
        kp = dev.kernels or get_hardware("h200").kernels
        assert kp is not None
        fab = Fabric.of(dev)
        half = dataclasses.replace(kp, nvls5_link_efficiency=0.5)
        full = dataclasses.replace(kp, nvls5_link_efficiency=1.0)
        t_half = float(all_reduce(8.6e9, 4, fab, half).wire_s)
        t_full = float(all_reduce(8.6e9, 4, fab, full).wire_s)
        assert (t_half == pytest.approx(2 * t_full)) if moves else (t_half == t_full), hw
