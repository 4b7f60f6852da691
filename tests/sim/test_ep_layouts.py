"""Expert parallelism beside the other parallelisms, end to end: tensor parallelism inside a
data-parallel-attention rank (``--ep N --dp-attention --tp t``: N / t ranks of t devices),
EP with pipeline stages across nodes (DeepSeek-V3 on two 8x H100 nodes), and the layouts
that do not apply refused in one line with exit code 2."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hetsim
from hetsim.errors import ConfigError
from hetsim.sim.inference import Workload, analyze, sweep
from hetsim.workload.expert_parallel import ExpertParallel
from hetsim.workload.quantization import resolve_precision

FP8 = resolve_precision("deepseek-v3", "fp8", None, None, None)
BATCHES = np.array([1, 2, 4, 8, 16, 32, 64, 128], dtype=float)


def _ops(r: hetsim.AnalysisResult, phase: str) -> dict[str, Any]:
    return {o.name: o for o in r.ops if o.phase == phase}


def test_tp_inside_a_dp_rank_pays_its_all_reduces_and_slices_the_dispatch() -> None:
    """EP16 as 2 DP ranks of TP8 (SGLang --tp 16 --dp 2 --enable-dp-attention): attention and
    the FFN's all-reduce span the rank's 8 devices and cost time; each device dispatches an
    eighth of its rank's tokens; throughput counts the 2 ranks' sequences."""
    w = Workload(8, 1024, 64)
    ranks = analyze("deepseek-v3", "h100-sxm", w, FP8, tp=8, experts=ExpertParallel(16, True))
    alone = analyze("deepseek-v3", "h100-sxm", w, FP8, tp=1, experts=ExpertParallel(16, True))
    dec = _ops(ranks, "decode")
    for name in ("attn_allreduce", "ffn_allreduce"):
        assert dec[name].time_s > 0 and dec[name].act_bytes > 0, name
    assert "attn_allreduce" not in _ops(alone, "decode")
    # the dispatch carries the rank's tokens / tp rows per device (act bytes: rows x d x 2 B)
    one = _ops(alone, "decode")["moe.moe_dispatch"].act_bytes
    assert dec["moe.moe_dispatch"].act_bytes == pytest.approx(one / 8, rel=1e-12)
    # 2 ranks x 8 sequences against 16 ranks x 8: the same per-rank batch, 8x fewer sequences
    assert ranks.output_throughput_tok_per_s * ranks.e2e_latency_s == pytest.approx(2 * 8 * 64)
    assert alone.output_throughput_tok_per_s * alone.e2e_latency_s == pytest.approx(16 * 8 * 64)
    assert any("2 ranks of TP8" in n for n in ranks.notes)


@settings(max_examples=12, deadline=None)
@given(
    layout=st.sampled_from([(16, 8, 1), (16, 4, 1), (16, 2, 1), (8, 4, 2), (8, 2, 2), (8, 1, 2), (16, 1, 2)]),
    p=st.integers(16, 4096),
    g=st.integers(2, 512),
    skew=st.sampled_from((1.0, 1.5)),
)
def test_dp_rank_layouts_obey_physics(layout: tuple[int, int, int], p: int, g: int, skew: float) -> None:
    """Over TP-inside-rank and PP layouts of DeepSeek-V3 on H100 nodes: MFU and MBU in
    (0, 1], a larger batch never makes a decode step or the prefill faster, and the
    all-to-alls (and the rank's all-reduces where tp > 1) are never free."""
    ep, tp, pp = layout
    ex = ExpertParallel(ep, True, skew)
    r = sweep("deepseek-v3", "h100-sxm", BATCHES, p, g, FP8, tp=tp, pp=pp, experts=ex, policy="primary")
    where = f"EP{ep} TP{tp} PP{pp} P={p} G={g} skew={skew}"
    assert np.all((r.mfu > 0) & (r.mfu <= 1)) and np.all((r.mbu > 0) & (r.mbu <= 1)), where
    for t in (r.tpot_s, r.ttft_s):
        assert np.all(np.diff(t) >= -1e-12 * t[1:]), f"{where}: {t}"
    one = analyze("deepseek-v3", "h100-sxm", Workload(4, p, g), FP8, tp=tp, pp=pp, experts=ex,
                  policy="primary")  # fmt: skip
    comm = [o for o in one.ops if o.kind == "collective" and o.phase == "decode"]
    names = {o.name for o in comm}
    assert {"moe.moe_dispatch", "moe.moe_combine_a2a"} <= names, where
    if tp > 1:
        assert {"attn_allreduce", "ffn_allreduce"} <= names, where
    assert all(o.time_s > 0 for o in comm), where


def test_deepseek_v3_ep_with_pipeline_stages_on_two_h100_nodes() -> None:
    """EP8 with DP attention in each of 2 pipeline stages, a stage per 8x H100 node: it fits
    (half the layers a stage), and the stage hand-off crosses the nodes' NICs: a copy whose
    NICs were as fast as NVLink hands over faster, EP16 x PP1 on the same 16 GPUs has no
    hand-off at all."""
    dev = hetsim.get_hardware("h100-sxm")
    assert dev.node_devices == 8 and dev.scale_out is not None and dev.interconnect is not None
    w = Workload(16, 2048, 128)
    staged = analyze("deepseek-v3", dev, w, FP8, pp=2, experts=ExpertParallel(8, True), check_fit=True)
    assert staged.fits and 0 < staged.mfu <= 1 and 0 < staged.mbu <= 1
    nvlink_nics = dataclasses.replace(dev, scale_out=dataclasses.replace(dev.interconnect, efficiency=1.0))
    fast = analyze("deepseek-v3", nvlink_nics, w, FP8, pp=2, experts=ExpertParallel(8, True))
    assert fast.ttft_s < staged.ttft_s and fast.tpot_s < staged.tpot_s
    # the prefill's hand-off: 16 x 2048 tokens of 7168 bf16 elements over one 400 Gb/s NIC
    nic = dev.scale_out
    handoff = nic.latency_s + 16 * 2048 * 7168 * 2 / (nic.bandwidth_bytes_per_s * nic.efficiency)
    single = analyze("deepseek-v3", dev, w, FP8, pp=1, experts=ExpertParallel(8, True))
    assert staged.ttft_s - single.ttft_s == pytest.approx(handoff, rel=0.02)
    # EP16 across the two nodes, each stage's all-to-all over the NICs, also runs
    wide = analyze("deepseek-v3", dev, w, FP8, pp=2, experts=ExpertParallel(16, True), check_fit=True)
    assert wide.fits and wide.output_throughput_tok_per_s > staged.output_throughput_tok_per_s


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--ep", "16", "--dp-attention", "--tp", "3"), "--tp must divide --ep"),
        (("--ep", "8", "--dp-attention", "--tp", "8"), "leave 2 or more ranks"),
        (("--ep", "12", "--dp-attention"), "does not divide the 256"),
        (("--ep", "8", "--tp", "4"), "give --tp 8"),
        (("--ep", "8", "--dp-attention", "--pp", "2", "-H", "mi325x"), "no scale_out network"),
        (("--ep", "8", "--dp-attention", "--pp", "62"), "pp must be between 1 and the 61 layers"),
    ],
)
def test_bad_layouts_refused_in_one_line_with_exit_2(
    run_cli: Any, args: tuple[str, ...], needle: str
) -> None:
    hw = () if "-H" in args else ("-H", "h100-sxm")
    r = run_cli("analyze", "-m", "deepseek-v3", *hw, "--weight-dtype", "fp8", *args)
    assert r.code == 2, r.out
    assert needle in r.err and "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 1


def test_dp_rank_width_is_checked_in_the_api() -> None:
    with pytest.raises(ConfigError, match="--tp must divide --ep"):
        analyze("deepseek-v3", "h100-sxm", Workload(1, 128, 8), FP8, tp=3, experts=ExpertParallel(16, True))
