"""The limiting resource is named on multi-tier systems (issue 25): an op's ``limit`` (and, on a
device with several sides, its ``bound``) says which compute unit, memory side or link sets its
time; each phase says what sets its time, the host included; the roofline draws every tier's
and link's roof the run's ops touch."""

from __future__ import annotations

from pathlib import Path

import hetsim
from hetsim.placement.limits import bound_of
from hetsim.report.roofline import _touched, plot_roofline
from hetsim.sim.frameworks import get_profile
from hetsim.workload.dtypes import Precision

W = hetsim.Workload(8, 2048, 512)


def _decode(r: hetsim.AnalysisResult) -> dict[str, hetsim.OpResult]:
    return {o.name: o for o in r.ops if o.phase == "decode"}


def test_gh200_decode_gemms_name_the_streamed_tier_not_the_hbm() -> None:
    """llama2-70b fp16 B=8 on gh200 under offload: 35% of every weight group streams from
    the LPDDR5X over NVLink-C2C; the decode GEMMs were 'memory' (read: HBM) while the stream
    set their time."""
    r = hetsim.analyze("llama2-70b", "gh200", W, policy="offload")
    ops = _decode(r)
    for name in ("qkv_proj", "out_proj", "ffn_up", "ffn_down"):
        assert ops[name].limit in ("memory lpddr", "link NVLink-C2C"), ops[name].limit
        assert ops[name].bound == bound_of(ops[name].limit)
    assert ops["attn_norm"].limit == "memory hbm"  # norms read the residual stream on the HBM
    assert r.decode.limit in ("memory lpddr", "link NVLink-C2C")
    assert r.prefill.limit.startswith("compute hbm")


def test_a_pcie_offload_box_is_link_bound_and_cpu_attention_is_named() -> None:
    r = hetsim.analyze("opt-30b", "flexgen-t4", hetsim.Workload(8, 512, 32), policy="pim-attention")
    ops = _decode(r)
    assert ops["ffn_up"].limit == "link PCIe3-x16" and ops["ffn_up"].bound == "link"
    assert ops["attention"].limit.startswith(("compute host", "memory host"))
    assert r.decode.limit == "link PCIe3-x16"


def test_one_side_keeps_its_bound_and_a_dispatch_bound_pass_names_the_host() -> None:
    r = hetsim.analyze(
        "llama2-7b", "h100-sxm", hetsim.Workload(1, 128, 64), serving=get_profile("vllm").serving
    )
    assert r.prefill.limit == "host (kernel dispatch)"  # 128 tokens: issuing the kernels is slower
    assert r.decode.limit == "memory hbm"  # the decode replays a CUDA graph
    for o in r.ops:
        assert o.bound in ("compute", "memory", "link")
        if o.kind != "collective":
            assert bound_of(o.limit) in ("compute", "memory")


def test_roofline_draws_every_touched_tier_and_link(tmp_path: Path) -> None:
    dev = hetsim.get_hardware("gh200")
    r = hetsim.analyze("llama2-70b", dev, W, policy="offload")
    held, computing, links = _touched(r, dev)
    assert held == [0, 1] and computing == [0] and links == ["NVLink-C2C"]
    assert plot_roofline(r, dev, Precision(), tmp_path / "roof.png").stat().st_size > 10_000
