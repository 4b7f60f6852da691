"""Offload engines as they run: every layer's weights off the GPU (ZeRO-Inference, Accelerate),
the page cache or not for disk-backed weights, and transfers with or without prefetch."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hetsim
from hetsim.calibration.e2e import policy_for
from hetsim.errors import MappingError
from hetsim.hardware.spec import Device
from hetsim.placement.balance import balance
from hetsim.placement.policies import Problem, get_policy, offload_sides, usage_bytes
from hetsim.placement.price import price_op
from hetsim.sim.config import Serving
from hetsim.sim.frameworks import profile_for
from hetsim.workload.dtypes import Precision
from hetsim.workload.graph import build_ops

GB = 1e9
VARIANTS = (
    "layer-offload",
    "layer-offload-cpu-attention",
    "layer-offload-nvme",
    "layer-offload-nvme-cpu-attention",
)


def _problem(dev: Device, kv: float = 2 * GB, phase: str = "decode") -> Problem:
    return Problem(dev, {"qkv": 20 * GB, "fc": 40 * GB, "head": 1 * GB, "attention": kv}, 0.5 * GB, phase)


@pytest.mark.parametrize("name", VARIANTS)
def test_every_layer_weight_leaves_the_primary(name: str) -> None:
    dev = hetsim.get_hardware("flexgen-t4")  # gpu, host (CPU), ssd (no compute)
    p = _problem(dev)
    pl = get_policy(name)(p).placement
    for g in ("qkv", "fc"):
        assert float(pl.groups[g].shares[0]) == 0.0  # although 14 GB of the GPU are free
    assert float(pl.groups["head"].shares[0]) == 1.0
    kv = pl.groups["attention"]
    if name.endswith("cpu-attention"):
        assert float(kv.shares[1]) == 1.0 and kv.compute[1] == 1  # attention beside the KV on the host
    else:  # offload's balanced share on the GPU, the rest read from the next side meanwhile
        b = balance(dev, offload_sides(dev))
        assert b < 1.0 and float(kv.shares[0]) == pytest.approx(b, rel=1e-12)
    if "nvme" in name:  # O_DIRECT reads: the weights live on the drive, not in host DRAM
        assert all(float(pl.groups[g].shares[2]) == 1.0 for g in ("qkv", "fc"))
    else:  # page cache / host DRAM first: 60 GB fit in the 208 GB host
        assert all(float(pl.groups[g].shares[1]) == 1.0 for g in ("qkv", "fc"))
    used = usage_bytes(p, pl)
    assert sum(float(u) for u in used) / GB == pytest.approx(63.5, rel=1e-12)


def test_an_engine_without_prefetch_keeps_its_kv_whole_on_the_primary() -> None:
    """Reading a spilled part after the local one, it gains nothing from a split while the KV
    cache fits; the prefetching fill (above) keeps offload's balanced share instead."""
    dev = hetsim.get_hardware("flexgen-t4")
    p = dataclasses.replace(_problem(dev), overlap_transfers=False)
    kv = get_policy("layer-offload")(p).placement.groups["attention"]
    assert float(kv.shares[0]) == 1.0
    big = dataclasses.replace(p, resident={**p.resident, "attention": 40 * GB})  # more than the GPU holds
    kv = get_policy("layer-offload")(big).placement.groups["attention"]
    assert 0.0 < float(kv.shares[0]) < 1.0 and float(kv.shares[1]) > 0.0


def test_page_cache_spill_goes_to_the_drive_only_past_host_dram() -> None:
    dev = hetsim.get_hardware("flexgen-t4")
    p = Problem(dev, {"qkv": 100 * GB, "fc": 250 * GB, "head": 1 * GB, "attention": 2 * GB}, 0.5 * GB)
    pl = get_policy("layer-offload")(p).placement
    host = sum(float(pl.groups[g].shares[1]) * p.resident[g] for g in ("qkv", "fc", "attention"))  # type: ignore[operator]
    assert host == pytest.approx(dev.sides[1].memory.capacity_bytes, rel=1e-9)  # DRAM full, rest on NVMe
    assert float(pl.groups["fc"].shares[2]) > 0


def test_variants_that_cannot_apply_say_why() -> None:
    gh200 = hetsim.get_hardware("gh200")  # no storage side
    with pytest.raises(MappingError, match="no storage side without compute"):
        get_policy("layer-offload-nvme")(_problem(gh200))
    a100 = hetsim.get_hardware("a100-80gb-sxm")  # one side
    with pytest.raises(MappingError, match="second memory side"):
        get_policy("layer-offload")(_problem(a100))


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(("flexgen-t4", "a6000-offload", "gh200")),
       st.sampled_from(("offload", "pim-attention", "layer-offload", "layer-offload-cpu-attention")),
       st.integers(1, 256), st.integers(64, 4096))  # fmt: skip
def test_serial_transfers_are_never_faster_and_change_only_streams(dev_name: str, policy: str, batch: int,
                                                                   ctx: int) -> None:  # fmt: skip
    """An engine without prefetch pays stream + compute per layer: never less than the
    overlapped max, never more than their sum plus nothing; ops with no streamed data price
    the same either way."""
    dev = hetsim.get_hardware(dev_name)
    prec = Precision()
    ops = build_ops(hetsim.get_model("llama2-13b"), prec, phase="decode", batch=float(batch), q_len=1.0,
                    context=float(ctx))  # fmt: skip
    kv = batch * ctx * 0.82e6
    p = Problem(dev, {"qkv": 6 * GB, "fc": 19 * GB, "head": 0.5 * GB, "attention": kv}, 0.2 * GB)
    try:
        pl = get_policy(policy)(p).placement
    except MappingError:
        return
    for op in ops:
        fast = price_op(op, dev, prec, pl).cost
        slow = price_op(op, dev, prec, pl, overlap_transfers=False).cost
        assert np.isfinite(slow.time_s) and slow.time_s >= fast.time_s * (1 - 1e-12)
        assert slow.time_s <= fast.time_s + fast.memory_s + 1e-12  # the stream is added once at most
        assert slow.bytes == pytest.approx(fast.bytes) and slow.energy_j == pytest.approx(fast.energy_j)
    primary = get_policy("primary")(p).placement
    for op in ops:  # nothing streams: identical
        assert (
            price_op(op, dev, prec, primary, overlap_transfers=False).cost.time_s
            == price_op(op, dev, prec, primary).cost.time_s
        )


def test_engine_profiles_and_the_placement_a_row_states() -> None:
    assert profile_for("DeepSpeed ZeRO-Inference (offload: cpu)").name == "deepspeed-zero-inference"
    assert profile_for("Hugging Face Accelerate (offload: disk)").name == "accelerate"
    assert profile_for("FlexGen (--percent 10 90 0 100 0 100 --cpu: cpu attention)").name == "flexgen"
    assert profile_for("DeepSpeed-FastGen").name == "default"  # not the offload engine
    assert not profile_for("Hugging Face Accelerate").serving.overlap_transfers
    assert profile_for("FlexGen").serving.overlap_transfers and Serving().overlap_transfers
    for name in ("flexgen", "accelerate", "deepspeed-zero-inference"):
        prov = hetsim.sim.frameworks.get_profile(name).provenance
        assert prov["overlap_transfers"].startswith(("paper:", "documented:"))
    assert policy_for("DeepSpeed ZeRO-Inference (offload: cpu)") == "layer-offload"
    assert policy_for("DeepSpeed ZeRO-Inference (offload: disk)") == "layer-offload-nvme"  # O_DIRECT
    assert policy_for("Hugging Face Accelerate (offload: disk)") == "layer-offload"  # np.memmap: page cache
    assert policy_for("Hugging Face Accelerate (offload: gpu)") == "auto"
    assert (
        policy_for("DeepSpeed ZeRO-Inference >= 0.10.2 (KV cache offload: yes; weights: disk_offload)")
        == "layer-offload-nvme-cpu-attention"
    )
    assert policy_for("FlexGen (offload: cpu)") == "auto"  # FlexGen keeps what fits on the GPU
    assert policy_for("FlexGen (KV cache offload: yes; weights: cpu_offload)") == "pim-attention"


def test_zero_inference_row_streams_every_layer_and_is_slower_than_flexgen_placement() -> None:
    """OPT-6.7B (13.4 GB) at batch 16 fits the T4 under offload; ZeRO-Inference streams every
    layer over PCIe each step, so its decode is several times slower (measured 9.28 tok/s
    against FlexGen's 25.26 tok/s at batch 2)."""
    dev = hetsim.get_hardware("flexgen-t4")
    m = hetsim.get_model("opt-6.7b")
    ds = profile_for("DeepSpeed ZeRO-Inference").serving
    a = hetsim.sweep(m, dev, [16], [512], [32], policy="layer-offload", serving=ds)
    b = hetsim.sweep(m, dev, [16], [512], [32], policy="offload")
    assert float(a.tpot_s[0]) > 3 * float(b.tpot_s[0])


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(("flexgen-t4", "a6000-offload")), st.sampled_from(VARIANTS), st.integers(1, 128),
       st.floats(1.05, 4.0))  # fmt: skip
def test_a_wider_link_is_never_slower_without_prefetch(
    dev_name: str, policy: str, batch: int, k: float
) -> None:
    import dataclasses

    from hetsim.hardware.spec import SideLink

    dev = hetsim.get_hardware(dev_name)
    links = tuple(
        SideLink(
            sl.a, sl.b, dataclasses.replace(sl.link, bandwidth_bytes_per_s=sl.link.bandwidth_bytes_per_s * k)
        )
        for sl in dev.links
    )
    wide = dataclasses.replace(dev, links=links)
    m = hetsim.get_model("opt-30b")
    ds = profile_for("DeepSpeed ZeRO-Inference").serving
    a = hetsim.sweep(m, dev, [batch], [512], [32], policy=policy, serving=ds)
    b = hetsim.sweep(m, wide, [batch], [512], [32], policy=policy, serving=ds)
    assert float(b.tpot_s[0]) <= float(a.tpot_s[0]) * (1 + 1e-9)
    assert float(b.ttft_s[0]) <= float(a.ttft_s[0]) * (1 + 1e-9)


def test_validate_lists_every_offload_point(run_cli: Callable[..., Any]) -> None:
    from hetsim.experiments.offload_fit import FILES

    r = run_cli("validate", "--measurements", *map(str, FILES), "--json", "--worst", "100")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["rows_scored"] == len(out["worst"]) == 36
    assert all(w["measured"] > 0 and w["predicted"] > 0 for w in out["worst"])
    assert sum(w["ape"] <= 0.25 for w in out["worst"]) >= 14


@pytest.mark.parametrize("name", VARIANTS)
def test_weights_stay_put_while_the_kv_cache_grows(name: str) -> None:
    """The weights are planned on the KV cache at the full length: the same shares at every
    context, and the whole run fits (the KV spills past the GPU here)."""
    dev = hetsim.get_hardware("flexgen-t4")
    res = {"qkv": 40 * GB, "fc": 120 * GB, "head": 1 * GB}
    final = 60 * GB
    plans = []
    for kv in (1 * GB, 20 * GB, final):
        p = Problem(dev, {**res, "attention": kv}, 0.5 * GB, final_kv_bytes=final)
        pl = get_policy(name)(p).placement
        plans.append([float(x) for g in ("qkv", "fc") for x in pl.groups[g].shares])
        used = usage_bytes(p, pl)
        assert all(float(u) <= dev.sides[s].memory.capacity_bytes * (1 + 1e-12) for s, u in enumerate(used))
    assert plans[0] == plans[1] == plans[2]


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(("flexgen-t4", "a6000-offload", "gh200", "sn40l")), st.sampled_from(VARIANTS),
       *(st.floats(0.01 * GB, 400 * GB) for _ in range(4)),
       st.sampled_from(("prefill", "decode")))  # fmt: skip
def test_every_part_placed_once_and_bytes_conserved(dev_name: str, name: str, q: float, f: float, h: float,
                                                    kv: float, phase: str) -> None:  # fmt: skip
    dev = hetsim.get_hardware(dev_name)
    p = Problem(dev, {"qkv": q, "fc": f, "head": h, "attention": kv}, 0.1 * GB, phase)
    try:
        pl = get_policy(name)(p).placement
    except MappingError:
        return  # no storage side (gh200) or no host compute: said in one line
    for gp in pl.groups.values():
        shares = [float(x) for x in gp.shares]
        assert min(shares) >= 0 and sum(shares) == pytest.approx(1.0, abs=1e-12)
        for s in gp.held_sides():
            assert dev.sides[gp.compute[s]].has_compute
    assert float(pl.groups["qkv"].shares[0]) == float(pl.groups["fc"].shares[0]) == 0.0
    used = usage_bytes(p, pl)
    assert sum(float(u) for u in used) == pytest.approx(q + f + h + kv + 0.1 * GB, rel=1e-12)
