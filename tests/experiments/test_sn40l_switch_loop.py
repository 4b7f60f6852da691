"""SN40L's model-switching figure through the serving loop: the study prices a switch in closed
form (one expert's bytes over its copy rate, times the least-recently-used miss rate of the
router's choices); serving the same choices, one prompt at a time, through the loop's
SwitchingScheduler must cost the same copies, read off the requests' TTFTs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from hetsim.experiments import sn40l
from hetsim.hardware.loader import get_hardware
from hetsim.serving import get_engine
from hetsim.serving.budget import get_pricer
from hetsim.serving.loop import LoopLog, run_engine
from hetsim.serving.model_switch import SwitchingScheduler, replay
from hetsim.serving.requests import RequestSet
from hetsim.serving.schedulers import get_scheduler
from hetsim.workload.dtypes import Precision
from hetsim.workload.registry import get_model

ENG = get_engine("vllm").with_(prefix_caching=False)
CHOICES = sn40l._choices(sn40l.EXPERTS)  # the study's router choices at its headline 150 experts
N = len(CHOICES)
# one prompt at a time (the study's "each (prompt, expert) pair runs on its own"), far apart
REQS = RequestSet(10.0 * np.arange(N, dtype=float), np.full(N, sn40l.PROMPT), np.full(N, 20), "poisson")


@pytest.fixture(scope="module")
def study() -> dict[str, Any]:
    return sn40l.run().results


def _loop(sched: SwitchingScheduler | None) -> LoopLog:
    pricer = get_pricer(
        get_model(sn40l.EXPERT), get_hardware("h100-sxm"), Precision(), ENG, 1, sn40l.PROMPT + 20
    )
    return run_engine(REQS, ENG, pricer, total_blocks=4000, kv_bytes_per_token=1.0, scheduler=sched)


def test_the_loop_switches_as_the_closed_form_prices(study: dict[str, Any]) -> None:
    plain = _loop(None).first_token_s - REQS.arrival_s
    per_switch = {}
    for name, s in study["systems"].items():
        size, bw = s["switch_copy"]
        sched = SwitchingScheduler(get_scheduler("fcfs"), CHOICES, dict.fromkeys(set(CHOICES), size), bw,
                                   slots=s["slots"])  # fmt: skip
        extra = _loop(sched).first_token_s - REQS.arrival_s - plain
        missed = ~np.array(replay(CHOICES, s["slots"]))
        # a prompt waits one copy exactly when the closed form's replay misses, and only then
        assert extra[missed] == pytest.approx(np.full(missed.sum(), s["switch_s"]), rel=1e-9)
        assert np.abs(extra[~missed]).max() < 1e-9
        # the copy term of the closed form, per prompt: miss rate x switch time
        per_prompt = extra.sum() / N
        assert per_prompt == pytest.approx(s["miss_rate"][str(sn40l.EXPERTS)] * s["switch_s"], rel=1e-9)
        assert sched.switch_s == pytest.approx(extra.sum(), rel=1e-9)
        per_switch[name] = extra[missed].mean()
    # the headline figures (Table V: 15x, 31x), read off the loop's TTFTs
    assert per_switch["dgx-h100"] / per_switch["sn40l"] == pytest.approx(study["switch_h100"], rel=1e-9)
    assert per_switch["dgx-a100"] / per_switch["sn40l"] == pytest.approx(study["switch_a100"], rel=1e-9)
