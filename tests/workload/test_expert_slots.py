"""Expert slots in large-scale EP: redundant replicas of routed experts (EP beyond the number of
experts, one expert a device) and devices given over to the shared experts, as DeepSeek-V3's
and CloudMatrix384's EP320 decode deploy them. The default layout is unchanged, the slots set
each device's weights and load, the shared-expert devices get their own rows and a dispatch
destination, and layouts that do not apply are refused."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hetsim.errors import ConfigError
from hetsim.hardware.loader import get_hardware
from hetsim.sim.inference import Workload, analyze
from hetsim.workload.dtypes import Precision
from hetsim.workload.expert_parallel import ExpertParallel, routed_params_per_layer
from hetsim.workload.footprint import Parallel, footprint
from hetsim.workload.graph import build_ops
from hetsim.workload.registry import get_model

FP8 = Precision.of("fp8")
EP320 = ExpertParallel(320, True, redundant=32, shared_devices=32)


def test_without_slots_the_layout_is_the_plain_one() -> None:
    m = get_model("deepseek-v3")
    plain, slots = ExpertParallel(8, True), ExpertParallel(8, True, redundant=0, shared_devices=0)
    assert plain == slots
    assert plain.slots_per_device(m) == 32 and plain.routed_devices == 8
    assert plain.shared_rows(64) == 0.0


def test_ep320_holds_one_expert_a_device_and_the_shared_devices_take_their_share() -> None:
    m = get_model("deepseek-v3")
    EP320.check(m, 1)
    assert EP320.routed_devices == 288 and EP320.slots_per_device(m) == 1
    # 48 tokens on each of 320 ranks: 320 x 48 / 32 rows on a shared-expert device
    assert EP320.shared_rows(48) == pytest.approx(480)
    # a routed device: 8 of the 288 devices' pairs on average, above it with the spread
    busy = EP320.busiest_pairs(m, 48)
    assert 320 * 48 * 8 / 288 <= busy <= 320 * 48  # never more than every token once
    whole = footprint(m, FP8, 1, 1024, Parallel())["weights"]
    one = footprint(m, FP8, 1, 1024, Parallel(experts=EP320))["weights"]
    routed = routed_params_per_layer(m) * m.n_layers
    assert whole - one == pytest.approx(routed * 255 / 256, rel=1e-3)  # one of 256 experts left


def test_the_shared_expert_is_a_dispatch_destination_and_leaves_the_routed_devices() -> None:
    m = get_model("deepseek-v3")

    def ops(ex: ExpertParallel) -> list[Any]:
        return build_ops(m, FP8, phase="decode", batch=48, q_len=1.0, context=4096.0, tp=1, experts=ex)

    plain, slots = ops(ExpertParallel(32, True)), ops(EP320)
    disp = {o.name: o for o in slots if o.name.endswith("moe_dispatch")}
    disp0 = {o.name: o for o in plain if o.name.endswith("moe_dispatch")}
    (d1,), (d0,) = disp.values(), disp0.values()
    assert d1.act_read_bytes == pytest.approx(d0.act_read_bytes * 9 / 8)  # k + 1 rows a token
    assert d1.group == 320
    # a device runs one kind of expert FFN: the busier of a routed slot and a shared replica
    names = [o.name for o in slots]
    shared = any("shared" in n for n in names)
    routed = any(n.endswith("moe.ffn_up") for n in names)
    assert shared != routed
    assert routed == (EP320.busiest_pairs(m, 48) >= EP320.shared_rows(48))  # 496 pairs vs 480 rows
    assert any("shared" in o.name for o in plain)  # without shared devices every device runs it


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        (ExpertParallel(320, True), "does not divide"),
        (ExpertParallel(320, True, redundant=16), "do not divide"),
    ],
)
def test_layouts_that_do_not_divide_are_refused(layout: ExpertParallel, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        layout.check(get_model("deepseek-v3"), 1)


def test_redundant_replicas_let_ep_exceed_the_experts() -> None:
    m = get_model("deepseek-v3")
    ep = ExpertParallel(320, True, redundant=64)  # 256 + 64 slots over 320 devices: one each
    ep.check(m, 1)
    assert ep.slots_per_device(m) == 1 and ep.fits(m)


def test_shared_devices_need_dp_attention_fewer_than_ep_and_a_shared_expert() -> None:
    with pytest.raises(ConfigError, match="dp-attention"):
        ExpertParallel(8, False, shared_devices=1)
    with pytest.raises(ConfigError, match="fewer than"):
        ExpertParallel(8, True, shared_devices=8)
    with pytest.raises(ConfigError, match="whole number"):
        ExpertParallel(8, True, redundant=-1)
    with pytest.raises(ConfigError, match="no shared experts"):
        ExpertParallel(8, True, shared_devices=4).check(get_model("mixtral-8x7b"), 1)
    assert not ExpertParallel(8, True, shared_devices=4).fits(get_model("mixtral-8x7b"))


@settings(max_examples=8, deadline=None)
@given(b=st.integers(1, 96))
def test_a_bigger_decode_batch_is_never_faster_on_ep320(b: int) -> None:
    dev = get_hardware("h800")
    prec = Precision.of("fp8")

    def step(batch: int) -> float:
        r = analyze("deepseek-v3", dev, Workload(batch, 1024, 8), prec, experts=EP320, policy="primary")
        assert r.tpot_s > 0
        return r.tpot_s

    assert step(b) <= step(b + 1) * (1 + 1e-9)
