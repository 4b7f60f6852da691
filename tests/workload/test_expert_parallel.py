"""Expert parallelism and DP attention: the footprint per device follows (experts / EP, KV per
DP rank), the all-to-all is priced by topology and never free, the busiest shard sets the
MoE layer's time, the physics bounds hold, and layouts that do not apply are refused."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hetsim.cost.collectives import Fabric, all_to_all
from hetsim.errors import ConfigError
from hetsim.hardware.loader import get_hardware
from hetsim.sim.inference import Workload, analyze, sweep
from hetsim.workload.dtypes import Precision
from hetsim.workload.expert_parallel import ExpertParallel, routed_params_per_layer
from hetsim.workload.footprint import Parallel, footprint
from hetsim.workload.graph import build_ops
from hetsim.workload.registry import get_model

FP8 = Precision.of("fp8")
BF16 = Precision.of("bf16")
DATA = Path(__file__).parents[2] / "data" / "measurements" / "published" / "deepep_readme.csv"


def test_experts_per_device_follow_ep_and_the_rest_is_whole_under_dp_attention() -> None:
    m = get_model("deepseek-v3")
    routed = routed_params_per_layer(m) * m.n_layers
    assert routed == pytest.approx(58 * 256 * 3 * 7168 * 2048)  # 58 MoE layers of 256 experts
    whole = footprint(m, FP8, 1, 1024, Parallel())["weights"]
    dp8 = footprint(m, FP8, 1, 1024, Parallel(experts=ExpertParallel(8, True)))["weights"]
    # FP8 weights: one byte a routed parameter; EP8 holds an eighth of them, the rest whole
    assert whole - dp8 == pytest.approx(routed * 7 / 8, rel=1e-3)
    tp8 = footprint(m, FP8, 1, 1024, Parallel(tp=8))["weights"]
    ep8 = footprint(m, FP8, 1, 1024, Parallel(tp=8, experts=ExpertParallel(8)))["weights"]
    assert ep8 == pytest.approx(tp8, rel=1e-3)  # the same bytes, dealt by expert instead of column


def test_kv_is_per_dp_rank_and_throughput_counts_every_rank() -> None:
    w = Workload(4, 512, 64)
    one = analyze("deepseek-v3", "h200", w, FP8, tp=8)
    dp = analyze("deepseek-v3", "h200", w, FP8, experts=ExpertParallel(8, True))
    # MLA's latent is not split by TP: a TP8 device holds the whole cache of its 4 sequences, a
    # DP rank the same bytes for its own 4 (DP attention serves 8x the sequences in the same KV)
    assert dp.footprint_breakdown["kv_cache"] == pytest.approx(one.footprint_breakdown["kv_cache"], rel=1e-9)
    gqa_tp = analyze("qwen3-235b-a22b", "h200", w, FP8, tp=4)
    gqa_dp = analyze("qwen3-235b-a22b", "h200", w, FP8, experts=ExpertParallel(4, True))
    assert gqa_dp.footprint_breakdown["kv_cache"] == pytest.approx(4 * gqa_tp.footprint_breakdown["kv_cache"])
    assert dp.output_throughput_tok_per_s == pytest.approx(8 * 4 * 64 / dp.e2e_latency_s)


def test_all_to_all_only_under_dp_attention_and_over_the_ep_group() -> None:
    m = get_model("deepseek-v3")

    def ops(tp: int, ex: ExpertParallel) -> list[Any]:
        out = build_ops(m, FP8, phase="decode", batch=8.0, q_len=1.0, context=1024.0, tp=tp, experts=ex)
        return [o for o in out if o.collective == "all_to_all"]

    assert not ops(8, ExpertParallel(8))
    a2a = ops(1, ExpertParallel(8, True))
    assert [o.name for o in a2a] == ["moe.moe_dispatch", "moe.moe_combine_a2a"]
    assert all(
        o.group == 8 and o.count == 58 and o.act_read_bytes == 8 * 8 * 7168 * FP8.activation.bytes_per_element
        for o in a2a
    )


@settings(max_examples=25, deadline=None)
@given(
    ep=st.sampled_from([2, 4, 8, 16, 32]),
    tokens=st.integers(1, 4096),
    hw=st.sampled_from(["h200", "h100-sxm", "mi300x"]),
)
def test_ep_never_makes_the_all_to_all_free(ep: int, tokens: int, hw: str) -> None:  # fmt: skip
    dev = get_hardware(hw)
    fab = Fabric.of(dev)
    if ep > (dev.node_devices or ep) and dev.scale_out is None:
        return
    n = tokens * 8 * 7168 * 2.0
    c = all_to_all(n, ep, fab, dev.kernels)
    assert dev.interconnect is not None
    links = dev.interconnect.bandwidth_bytes_per_s + (
        dev.scale_out.bandwidth_bytes_per_s if dev.scale_out else 0
    )
    # what leaves a device, (ep - 1) / ep of its bytes, crosses its links at their peak at best
    assert math.isfinite(float(c.time_s)) and float(c.time_s) >= n * (ep - 1) / ep / links > 0


def test_all_to_all_across_nodes_is_slower_than_inside_one() -> None:
    dev = get_hardware("h100-sxm")
    fab = Fabric.of(dev)
    n = 128 * 8 * 7168 * 2.0
    assert float(all_to_all(n, 16, fab).time_s) > float(all_to_all(n, 8, fab).time_s)


def test_all_to_all_against_deepep_low_latency_rows() -> None:
    """DeepEP's low-latency dispatch (FP8) and combine (BF16) of 128 tokens, DeepSeek-V3 shape,
    EP 16-256 on H800 + CX7 (deepep_readme.csv; EP 8 is left out: DeepEP's low-latency kernels
    send over RDMA even inside a node, the model over NVLink). Not fitted: the NIC's datasheet
    bandwidth and latency. The model is 17-34% low on every row (mean 23%) (it leaves out the kernels'
    own work: packing, FP8 casts, the receive-side scatter); recorded as a bound."""
    dev = get_hardware("h800")
    fab = Fabric.of(dev)
    ratios = []
    for r in csv.DictReader(DATA.open()):
        ep = int(r["n_devices"])
        if not r["metric"].startswith("alltoall_latency") or ep <= 8:
            continue
        tokens = int(r["batch_or_concurrency"].split("=")[1])
        nbytes = tokens * 8 * 7168 * (1.0 if r["metric"].endswith("dispatch") else 2.0)
        ratios.append(float(all_to_all(nbytes, ep, fab, dev.kernels).time_s) / (float(r["value"]) * 1e-6))
    assert len(ratios) == 10
    assert 0.65 < min(ratios) and max(ratios) < 0.85
    assert float(np.mean(np.abs(np.array(ratios) - 1))) == pytest.approx(0.23, abs=0.03)


def test_busiest_shard_and_skew_set_the_moe_time() -> None:
    m = get_model("deepseek-v3")
    ep = ExpertParallel(8, True)
    for t in (1.0, 8.0, 256.0):
        mean = t * 8 * 8 / 8
        assert ep.busiest_pairs(m, t) >= mean
        assert ep.busiest_pairs(m, t) <= t * 8 * 8  # at most every pair of the group on one device
    w = Workload(16, 512, 32)
    base = analyze("deepseek-v3", "h200", w, FP8, experts=ep)
    skewed = analyze("deepseek-v3", "h200", w, FP8, experts=ExpertParallel(8, True, 1.5))
    assert skewed.tpot_s > base.tpot_s


@settings(max_examples=12, deadline=None)
@given(
    batch=st.integers(1, 64),
    ep=st.sampled_from([2, 4, 8]),
    name=st.sampled_from(["deepseek-v3", "qwen3-235b-a22b", "gpt-oss-120b"]),
)
def test_ep_bounds_and_batch_monotone(batch: int, ep: int, name: str) -> None:  # fmt: skip
    ex = ExpertParallel(ep, True)
    r = sweep(name, "h200", np.array([batch, batch + 1]), 256, 32, FP8, experts=ex)
    assert np.all(r.mfu <= 1.0) and np.all(r.mbu <= 1.0)
    assert r.tpot_s[1] >= r.tpot_s[0] * (1 - 1e-9)  # a larger batch is never faster
    one = analyze(name, "h200", Workload(batch, 256, 32), FP8, experts=ex)
    assert one.tpot_s == pytest.approx(float(r.tpot_s[0]), rel=1e-12)


@pytest.mark.parametrize(
    ("model", "tp", "ex", "hw", "needle"),
    [
        ("llama3-8b", 2, ExpertParallel(2), "h100-sxm", "is dense"),
        ("deepseek-v3", 1, ExpertParallel(7, True), "h200", "does not divide the 256"),
        ("deepseek-v3", 4, ExpertParallel(8), "h200", "give --tp 8"),
        ("deepseek-v3", 8, ExpertParallel(8, True), "h200", "leave 2 or more ranks"),
        ("qwen3-30b-a3b", 1, ExpertParallel(2, True), "apple-m4-max", "no interconnect"),
    ],
)  # fmt: skip
def test_layouts_that_do_not_apply_are_refused(
    model: str, tp: int, ex: ExpertParallel, hw: str, needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle):
        analyze(model, hw, Workload(1, 128, 8), BF16, tp=tp, experts=ex)


def test_cli_refuses_in_one_line_with_exit_2_and_accepts_deepseek_ep16(run_cli: Any) -> None:
    bad = run_cli("analyze", "-m", "llama3-8b", "-H", "h100-sxm", "--ep", "2", "--tp", "2")
    assert bad.code == 2 and "is dense" in bad.err and "Traceback" not in bad.err
    assert len(bad.err.strip().splitlines()) == 1
    ok = run_cli("analyze", "-m", "deepseek-v3", "-H", "h100-sxm", "--ep", "16", "--dp-attention",
                 "--weight-dtype", "fp8", "-b", "4", "--json")  # fmt: skip
    assert ok.code == 0, ok.err
    assert "EP16" in ok.out
