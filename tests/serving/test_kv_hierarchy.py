"""KV beyond the GPU and disaggregated pools: tiers from the hardware description, eviction and
reload priced, prefix reuse across requests, and prefill/decode pools of different hardware."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from hetsim.errors import ConfigError
from hetsim.hardware.loader import get_hardware
from hetsim.serving import get_engine, make_requests, simulate_serving
from hetsim.serving.kvcache import BlockPool
from hetsim.serving.kvtiers import parse_tiers, tiers_from_device
from hetsim.serving.prefix import KVTier, PrefixCache
from hetsim.serving.sessions import make_sessions

MODEL, HW = "llama3-8b", "h100-sxm"


def test_tiers_come_from_the_hardware_description() -> None:
    t = tiers_from_device(get_hardware("flexgen-t4"))
    assert [x.name for x in t] == ["host", "ssd"]
    assert t[0].capacity_bytes == 208e9 and t[1].capacity_bytes == 1.5e12
    # host over PCIe3 x16 at its calibrated 0.6 efficiency; the drive through the host, PCIe3 x4
    assert t[0].bandwidth_bytes_per_s == pytest.approx(15.75e9 * 0.6)
    assert t[1].bandwidth_bytes_per_s == pytest.approx(3.94e9 * 0.6)
    assert tiers_from_device(get_hardware(HW)) == ()
    u = parse_tiers("dram:512GB:50GB/s,nvme:4TB:6GB/s:100us,remote:100TB:12.5GB/s:1ms")
    assert [x.name for x in u] == ["dram", "nvme", "remote"] and u[1].latency_s == pytest.approx(1e-4)


def test_eviction_goes_down_the_hierarchy_and_a_hit_below_the_gpu_is_copied_back() -> None:
    pool = BlockPool(10, 16)
    tiers = (KVTier("dram", 2 * 32 * 1000.0, 1e9, 1e-5), KVTier("nvme", 1e9, 1e8))
    c = PrefixCache(pool, 1000.0, tiers)  # 1 kB per token
    assert c.register(1, 64, hold=False) == 0.0 and pool.used == 4
    c.register(2, 64, hold=False)
    assert pool.used == 8
    assert c.reclaim(6) == 0.0  # LRU: prefix 1 goes to DRAM in the background
    store = 64e3 / 1e9 + 1e-5  # 64 kB at 1 GB/s + 10 us on the link
    assert c.entries[1].tier == 1 and pool.used == 4 and c.backlog_s == pytest.approx(store)
    c.drain(store / 2)  # half of it overlapped with GPU work
    c.reclaim(10)  # prefix 2 to DRAM too; DRAM (64 kB) is full, so prefix 1 moves on to NVMe
    assert c.entries[2].tier == 1 and c.entries[1].tier == 2 and pool.used == 0
    hit, secs = c.lookup(1, 64)  # from NVMe, behind the stores still queued on the link
    assert hit == 64 and secs == pytest.approx(store / 2 + store + 64e3 / 1e8) and c.backlog_s == 0
    assert c.entries[1].tier == 0 and pool.used == 4
    assert c.reloaded_bytes == 64e3 and c.dropped_bytes == 0
    assert c.reclaim(10) == 0.0 and pool.used == 4  # held by a request: never evicted
    c.release(1)
    c.reclaim(10)
    assert pool.used == 0


def test_offload_tiers_keep_sessions_fast_when_the_gpu_cache_is_small() -> None:
    reqs = make_sessions(120, rate_per_s=0.3, turns=6, first_input=1500, turn_input=300, output_len=300,
                         think_s=5, seed=3)  # fmt: skip
    eng = get_engine("vllm").with_(memory_utilization=0.3)
    none = simulate_serving(MODEL, HW, reqs, engine=eng)
    tiers = simulate_serving(MODEL, HW, reqs, engine=eng, kv_tiers="dram:512GB:50GB/s,nvme:4TB:6GB/s:100us")
    assert none.completed == tiers.completed == len(reqs)
    assert tiers.prefix_cache["reloaded_bytes"] > 0 and tiers.prefix_cache["evicted_bytes"] > 0
    assert none.prefix_cache["dropped_bytes"] > 0 and tiers.prefix_cache["dropped_bytes"] == 0
    assert tiers.prefix_cache["hits"] > none.prefix_cache["hits"]
    assert tiers.ttft_s.mean < none.ttft_s.mean
    # the copies are priced: a slower link costs time
    slow = simulate_serving(MODEL, HW, reqs, engine=eng, kv_tiers="dram:512GB:1GB/s")
    assert slow.ttft_s.mean > tiers.ttft_s.mean


def test_shared_system_prompt_is_computed_once() -> None:
    reqs = replace(make_requests(100, rate_per_s=5, input_len=2048, output_len=16), prefix_len=1536)
    r = simulate_serving(MODEL, HW, reqs, engine="vllm")
    assert r.prefix_cache["hits"] == 99 and r.prefix_cache["hit_tokens"] == 99 * 1536


def test_disaggregated_pools_on_different_hardware() -> None:
    reqs = make_requests(200, rate_per_s=6, input_len=2000, output_len=200, seed=1)
    same = simulate_serving(MODEL, HW, reqs, engine="vllm", disaggregate=(1, 1))
    fast = simulate_serving(MODEL, HW, reqs, engine="vllm", disaggregate=(1, 1), decode_hardware="h200")
    slow = simulate_serving(
        MODEL, HW, reqs, engine="vllm", disaggregate=(1, 1), decode_hardware="a100-80gb-sxm"
    )
    assert same.completed == fast.completed == slow.completed == 200
    assert np.allclose(same.first_token_s, fast.first_token_s)  # prefill on the same H100 either way
    assert fast.itl_s.mean < same.itl_s.mean < slow.itl_s.mean  # decode follows the decode pool's memory
    assert "h200" in fast.notes[-1] and "slower of the two" in fast.notes[-1]
    # the KV transfer is priced on the link: a slow link delays decoding, not the first token
    from hetsim.hardware.spec import Link

    slow_link = simulate_serving(MODEL, HW, reqs, engine="vllm", disaggregate=(1, 1),
                                 kv_link=Link("rdma", 5e9, 20e-6))  # fmt: skip
    assert np.allclose(slow_link.first_token_s, same.first_token_s)
    assert (
        np.all(slow_link.finish_s >= same.finish_s - 1e-9)
        and slow_link.e2e_latency_s.mean > same.e2e_latency_s.mean
    )
    # energy counts each pool on its own hardware
    assert fast.n_devices == 2 and fast.energy_j != same.energy_j


def test_disaggregation_refuses_what_it_cannot_serve() -> None:
    reqs = make_requests(10, rate_per_s=6, input_len=200, output_len=20)
    with pytest.raises(ConfigError, match="more instances than the 10 requests"):
        simulate_serving(MODEL, HW, reqs, disaggregate=(1, 11))
    with pytest.raises(ConfigError, match="closed loop"):
        simulate_serving(MODEL, HW, make_requests(10, arrival="closed", concurrency=2), disaggregate=(1, 1))
