"""A defect found by ``test_more_bandwidth_never_slower`` while issue 8i ran the suite: on
``hbm-pim`` under ``pim-attention``, a 3x wider GPU-PIM bus made the decode step 5e-5
*slower*: the weights' share target (offload's balance alone) moved qkv off HBM, and the
PIM side, full of KV, pushed the FFN weights back (qkv 1.38 -> 1.00 ms but FFN 3.64 -> 4.00
ms per step). The run now prices the shares and keeps the fastest
(:func:`hetsim.sim.placed_plan.priced_target`); this is its regression test."""

from __future__ import annotations

import dataclasses

import hetsim
from hetsim.hardware.spec import SideLink
from hetsim.placement.policies import _REGISTRY, get_policy, register


def _wider_links(dev: hetsim.Device, k: float) -> hetsim.Device:
    def wider(sl: SideLink) -> SideLink:
        return dataclasses.replace(
            sl, link=dataclasses.replace(sl.link, bandwidth_bytes_per_s=k * sl.link.bandwidth_bytes_per_s)
        )

    return dataclasses.replace(dev, links=tuple(wider(sl) for sl in dev.links))


def test_wider_pim_link_is_never_slower() -> None:
    dev = hetsim.get_hardware("hbm-pim")
    w = hetsim.Workload(33, 2410, 64)
    fn = get_policy("pim-attention")
    register("test-frozen-8i", "test only", auto=False)(lambda p: fn(dataclasses.replace(p, device=dev)))
    try:
        base = hetsim.analyze("llama2-13b", dev, w, policy="test-frozen-8i")
        wider = hetsim.analyze("llama2-13b", _wider_links(dev, 3.0), w, policy="test-frozen-8i")
    finally:
        _REGISTRY.pop("test-frozen-8i", None)
    assert wider.tpot_s <= base.tpot_s * (1 + 1e-9)
