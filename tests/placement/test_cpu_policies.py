"""Placements where the host CPU computes what it holds (hetsim.placement.cpu_policies)."""

from __future__ import annotations

import pytest

from hetsim.errors import MappingError
from hetsim.hardware.loader import get_hardware
from hetsim.placement.policies import fill_policy_names, policy_names
from hetsim.sim.inference import Workload, analyze

BOX = "rtx-4090+xeon-6454s+dram:512GB"


def test_registered_and_not_among_autos_candidates() -> None:
    assert {"cpu-experts", "cpu-attention"} <= set(policy_names())
    assert not {"cpu-experts", "cpu-attention"} & set(fill_policy_names(for_auto=True))


def test_cpu_experts_keeps_expert_weights_on_the_host_and_computes_them_there() -> None:
    r = analyze("mixtral-8x7b", BOX, Workload(1, 512, 64), policy="cpu-experts")
    assert r.policy == "cpu-experts" and r.fits
    fc = [o for o in r.ops if o.sublayer == "fc" and o.phase == "decode" and o.weight_bytes > 0]
    assert fc and all(o.data == "host" and o.compute == "host" for o in fc)
    # decode of the host's experts is memory-bound on the CPU (the router, a sliver of weights,
    # waits on the hidden state crossing PCIe from the GPU: link-bound)
    experts = [o for o in fc if o.name.startswith("ffn")]
    assert experts and all(o.bound == "memory" and o.limit == "memory host" for o in experts)
    assert all(o.limit.startswith("link") for o in fc if o.name == "router")
    # no expert weight crosses PCIe, only activations: a fraction of what offload streams
    streamed = analyze("mixtral-8x7b", BOX, Workload(1, 512, 64), policy="offload")
    assert sum(x.bytes for x in r.links) < 0.1 * sum(x.bytes for x in streamed.links)


def test_cpu_experts_beats_streaming_the_experts_over_pcie() -> None:
    """KTransformers' point: computing the experts where they live beats streaming them to the
    GPU every token."""
    w = Workload(1, 512, 64)
    hybrid = analyze("mixtral-8x7b", BOX, w, policy="cpu-experts")
    streamed = analyze("mixtral-8x7b", BOX, w, policy="offload")
    assert hybrid.tpot_s < streamed.tpot_s


def test_cpu_attention_puts_the_kv_cache_and_decode_attention_on_the_host() -> None:
    r = analyze("llama3-8b", BOX, Workload(8, 4096, 64), policy="cpu-attention")
    att = [o for o in r.ops if o.sublayer == "attention" and o.phase == "decode"]
    assert att and all(o.data == "host" and o.compute == "host" for o in att)


@pytest.mark.parametrize("policy", ["cpu-experts", "cpu-attention"])
def test_refused_without_a_host_cpu(policy: str) -> None:
    with pytest.raises(MappingError, match="no host CPU side"):
        analyze("mixtral-8x7b", get_hardware("h200"), Workload(1, 128, 8), policy=policy)
    # a device whose other side computes but is not a CPU (HBM-PIM) is no host box
    with pytest.raises(MappingError, match="no host CPU side"):
        analyze("llama3-8b", "hbm-pim", Workload(1, 128, 8), policy=policy)
