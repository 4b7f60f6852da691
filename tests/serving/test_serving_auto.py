"""``serve-sim --policy auto`` is the one ``auto`` of every command (placement/choose.py): each
candidate serves the requests, a candidate whose engine cannot hold them does not fit, and
the lowest mean request latency wins (it was "primary, else offload")."""

from __future__ import annotations

import pytest

from hetsim.errors import CapacityError
from hetsim.hardware.loader import get_hardware
from hetsim.placement.choose import auto_candidates
from hetsim.serving.api import simulate_serving
from hetsim.serving.requests import make_requests

REQS = make_requests(60, arrival="poisson", rate_per_s=4, input_len=512, output_len=64, seed=3)


@pytest.mark.parametrize("model", ["llama2-7b", "llama3-70b"])
def test_auto_serves_as_its_fastest_candidate_that_fits(model: str) -> None:
    auto = simulate_serving(model, "gh200", REQS, policy="auto")
    runs = {}
    for name in auto_candidates(get_hardware("gh200")):
        try:
            runs[name] = simulate_serving(model, "gh200", REQS, policy=name)
        except CapacityError:  # llama3-70b fp16: 141 GB of weights do not fit the 96 GB HBM alone
            continue
    assert auto.policy in runs
    assert auto.e2e_latency_s.mean == runs[auto.policy].e2e_latency_s.mean
    assert auto.e2e_latency_s.mean == min(r.e2e_latency_s.mean for r in runs.values())
    assert any(n.startswith("placement auto: ") for n in auto.notes)
    if model == "llama3-70b":
        assert "primary" not in runs


def test_auto_on_one_side_is_primary() -> None:
    r = simulate_serving("llama2-7b", "h100-sxm", REQS, policy="auto")
    assert r.policy == "primary"
