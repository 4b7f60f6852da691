"""serve-sim with expert parallelism over the TP group or DP-attention ranks, and its expert slots
(redundant replicas, devices for the shared experts): the experts reach the KV budget and the
iteration tables; what serve-sim does not model is refused in one line."""

from __future__ import annotations

from typing import Any

import pytest

from hetsim.errors import ConfigError
from hetsim.hardware.loader import get_hardware
from hetsim.serving import make_requests, simulate_serving
from hetsim.serving.budget import kv_budget
from hetsim.serving.engine import get_engine
from hetsim.workload.dtypes import Precision
from hetsim.workload.expert_parallel import ExpertParallel
from hetsim.workload.registry import get_model

BF16 = Precision.of("bf16")


def test_ep_over_the_tp_group_is_served_and_priced_apart() -> None:
    reqs = make_requests(40, rate_per_s=4, input_len=512, output_len=64, seed=3)
    tp = simulate_serving("qwen3-30b-a3b", "h100-sxm", reqs, tp=2, precision=BF16)
    ep = simulate_serving("qwen3-30b-a3b", "h100-sxm", reqs, tp=2, precision=BF16, experts=ExpertParallel(2))
    assert ep.completed == tp.completed == 40
    assert ep.tpot_s.mean != tp.tpot_s.mean  # whole experts, the busiest device's pairs: other tables
    m, dev, eng = get_model("qwen3-30b-a3b"), get_hardware("h100-sxm"), get_engine("vllm")
    a, b = kv_budget(m, dev, BF16, eng, 2), kv_budget(m, dev, BF16, eng, 2, experts=ExpertParallel(2))
    assert b.weight_bytes == pytest.approx(a.weight_bytes, rel=1e-3)  # the same bytes, dealt by expert


def test_what_serve_sim_does_not_model_is_refused(run_cli: Any) -> None:
    reqs = make_requests(4, rate_per_s=1, input_len=64, output_len=8)
    with pytest.raises(ConfigError, match="more ranks than the 4 requests"):  # DP attention is served now
        simulate_serving("qwen3-30b-a3b", "h100-sxm", reqs, experts=ExpertParallel(8, True))
    with pytest.raises(ConfigError, match="needs open arrivals"):
        closed = make_requests(4, arrival="closed", concurrency=2, input_len=64, output_len=8)
        simulate_serving("qwen3-30b-a3b", "h100-sxm", closed, experts=ExpertParallel(2, True))
    with pytest.raises(ConfigError, match="is dense"):
        simulate_serving("llama3-8b", "h100-sxm", reqs, tp=2, experts=ExpertParallel(2))
    args = ("-m", "qwen3-30b-a3b", "-H", "h100-sxm", "--ep", "4", "--tp", "2", "--rate", "1")
    r = run_cli("serve-sim", *args, "--requests", "4")
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1 and "--tp 4" in r.err


def test_expert_slots_reach_serve_sim_as_analyze_reads_them(run_cli: Any) -> None:
    """--ep-redundant and --ep-shared-devices (the expert slots of hetsim.options): the CLI runs the
    API's layout (the same TPOT to the last digit); a replica of every expert costs its device
    memory (weights up, KV down) and a device given to the shared experts leaves them off the
    routed ones."""
    import json

    m, dev, eng = get_model("deepseek-v2-lite"), get_hardware("h100-sxm"), get_engine("vllm")
    plain, slots = ExpertParallel(4, True), ExpertParallel(4, True, redundant=4)
    a, b = kv_budget(m, dev, BF16, eng, 1, experts=plain), kv_budget(m, dev, BF16, eng, 1, experts=slots)
    assert b.weight_bytes > a.weight_bytes and b.total_blocks < a.total_blocks
    reqs = make_requests(24, rate_per_s=8, input_len=256, output_len=32, seed=1)
    api = simulate_serving(m, dev, reqs, precision=BF16, experts=slots)
    args = ("-m", "deepseek-v2-lite", "-H", "h100-sxm", "--rate", "8", "--requests", "24", "--input-len",
            "256", "--output-len", "32", "--seed", "1", "--weight-dtype", "bf16", "--ep", "4",
            "--dp-attention")  # fmt: skip
    r = run_cli("serve-sim", *args, "--ep-redundant", "4", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["tpot_s"]["mean"] == api.tpot_s.mean and api.completed == 24
    shared = simulate_serving(m, dev, reqs, precision=BF16, experts=ExpertParallel(5, True, shared_devices=1))
    assert shared.completed == 24
    r = run_cli("serve-sim", *args[:-3], "--ep", "5", "--dp-attention", "--ep-shared-devices", "1", "--json")
    assert r.code == 0 and json.loads(r.out)["tpot_s"]["mean"] == shared.tpot_s.mean


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (("--ep", "4", "--dp-attention", "--ep-redundant", "3"), "do not divide"),
        (
            ("-m", "qwen3-30b-a3b", "--ep", "5", "--dp-attention", "--ep-shared-devices", "1"),
            "no shared experts",
        ),
        (("--ep", "4", "--ep-shared-devices", "1", "--tp", "4"), "needs --dp-attention"),
        (("--ep", "4", "--dp-attention", "--ep-redundant", "-1"), "--ep-redundant must be"),
    ],
)
def test_impossible_expert_slots_are_refused_in_one_line(
    run_cli: Any, extra: tuple[str, ...], says: str
) -> None:
    r = run_cli(
        "serve-sim", "-m", "deepseek-v2-lite", "-H", "h100-sxm", "--rate", "1", "--requests", "4", *extra
    )
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1 and says in r.err, r.err
