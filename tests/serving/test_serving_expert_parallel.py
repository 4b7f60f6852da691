"""serve-sim with expert parallelism over the TP group: the experts reach the KV budget and the
iteration tables; what serve-sim does not model (DP attention) is refused in one line."""

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
