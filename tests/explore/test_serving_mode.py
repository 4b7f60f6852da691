"""Serving-mode points: each row is one serving simulation; its metrics match a direct run."""

from __future__ import annotations

import pytest

from hetsim.errors import ConfigError
from hetsim.explore.evaluate import Evaluator
from hetsim.explore.spec import parse_spec
from hetsim.serving.api import simulate_serving
from hetsim.serving.requests import make_requests

SPEC = {"mode": "serving",
        "axes": {"model": "llama2-7b", "hardware": ["l40s", "h100-sxm"], "rate": [2, 16], "requests": 40,
                 "input_len": 512, "output_len": 64, "slo": "ttft=0.5,tpot=0.05"}}  # fmt: skip


def test_rows_equal_direct_serving_runs_and_cost_follows_rate() -> None:
    spec = parse_spec(SPEC)
    cols, _ = Evaluator(spec).run(0, spec.n_points)
    assert cols["index"].tolist() == [0, 1, 2, 3]
    reqs = make_requests(40, rate_per_s=16, input_len=512, output_len=64)
    r = simulate_serving("llama2-7b", "h100-sxm", reqs, engine="vllm", slo="ttft=0.5,tpot=0.05")
    i = next(k for k in range(4) if cols["hardware"][k] == "h100-sxm" and cols["rate"][k] == 16)
    assert cols["output_throughput_tok_per_s"][i] == pytest.approx(r.output_throughput_tok_per_s)
    assert cols["tpot_p99_s"][i] == pytest.approx(r.tpot_s.p99)
    for hw in ("l40s", "h100-sxm"):  # more served tokens on the same hardware: cheaper tokens
        sel = cols["hardware"] == hw
        lo, hi = (cols["rate"][sel] == 2), (cols["rate"][sel] == 16)
        assert cols["usd_per_mtoken"][sel][hi][0] < cols["usd_per_mtoken"][sel][lo][0]


def test_axes_belong_to_their_mode() -> None:
    with pytest.raises(ConfigError, match="'rate' needs mode: serving"):
        parse_spec({"axes": {"model": "llama2-7b", "hardware": "h100-sxm", "batch": 1, "input_len": 8,
                             "output_len": 8, "rate": 2}})  # fmt: skip
    with pytest.raises(ConfigError, match="'batch' has no meaning in serving mode"):
        parse_spec({**SPEC, "axes": {**SPEC["axes"], "batch": 8}})
    with pytest.raises(ConfigError, match="did you mean serving"):
        parse_spec({**SPEC, "mode": "servng"})
