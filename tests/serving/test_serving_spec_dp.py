"""Speculative decoding and DP-attention ranks inside serve-sim: conservation (every request
finishes, tokens out = tokens asked), determinism by seed, the physics of acceptance (more never
lowers throughput), and the options' one-line errors."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hetsim.errors import ConfigError
from hetsim.serving import make_requests, simulate_serving
from hetsim.serving.metrics import ServingResult
from hetsim.workload.dtypes import Precision
from hetsim.workload.expert_parallel import ExpertParallel
from hetsim.workload.speculation import Speculation
from tests.conftest import CliResult

Run = Callable[..., CliResult]

MODEL, HW = "llama3-8b", "h100-sxm"


def _spec_run(spec: str | None, seed: int = 1, arrival: str = "poisson", n: int = 120) -> ServingResult:
    reqs = make_requests(n, arrival=arrival, rate_per_s=8.0 if arrival == "poisson" else None,  # type: ignore[arg-type]
                         input_len="uniform:64:900", output_len="uniform:2:300", seed=seed)  # fmt: skip
    return simulate_serving(
        MODEL, HW, reqs, engine="vllm", speculation=Speculation.parse(spec) if spec else None
    )


def _conserved(r: ServingResult) -> None:
    assert r.completed == r.n_requests and not r.truncated
    ok = np.isfinite(r.finish_s)
    assert np.all(r.first_token_s[ok] >= r.arrival_s[ok]) and np.all(r.finish_s[ok] >= r.first_token_s[ok])
    # tokens out = tokens asked: the throughput over the run is every request's output length
    assert r.output_throughput_tok_per_s * r.duration_s == pytest.approx(
        float(np.sum(r.output_len)), rel=1e-9
    )
    used = np.array([row[1] for row in r.timeline])
    assert used.max() <= r.kv_blocks_total and used[-1] == 0


@pytest.mark.parametrize("spec", ["eagle,k=3,accept=0.8", "draft,k=4,draft=llama3.2-1b"])
def test_speculation_conserves_tokens_and_is_deterministic(spec: str) -> None:
    a, b = _spec_run(spec), _spec_run(spec)
    _conserved(a)
    assert np.array_equal(a.finish_s, b.finish_s) and np.array_equal(a.first_token_s, b.first_token_s)
    assert not np.array_equal(a.finish_s, _spec_run(spec, seed=2).finish_s)
    assert a.tokens_per_step == pytest.approx(Speculation.parse(spec).tokens_per_step)  # type: ignore[union-attr]
    assert any("tokens per step" in n for n in a.notes)


def test_speculation_at_zero_acceptance_costs_more_than_none_and_full_acceptance_less() -> None:
    """At acceptance 0 a step emits one token for a verify of k + 1 positions and k draft passes:
    slower per token than plain decoding; at acceptance 1 it emits k + 1 for that price."""
    plain = _spec_run(None, arrival="offline")
    worst, best = (
        _spec_run("eagle,k=3,accept=0", arrival="offline"),
        _spec_run("eagle,k=3,accept=1", arrival="offline"),
    )
    assert worst.itl_s.mean > plain.itl_s.mean > best.itl_s.mean
    assert (
        worst.output_throughput_tok_per_s
        < plain.output_throughput_tok_per_s
        < best.output_throughput_tok_per_s
    )


@settings(max_examples=5, deadline=None)
@given(a=st.floats(0.0, 1.0), b=st.floats(0.0, 1.0), k=st.integers(1, 5))
def test_more_acceptance_never_lowers_throughput(a: float, b: float, k: int) -> None:
    lo, hi = sorted((a, b))
    slow = _spec_run(f"eagle,k={k},accept={lo}", arrival="offline", n=60)
    fast = _spec_run(f"eagle,k={k},accept={hi}", arrival="offline", n=60)
    assert fast.output_throughput_tok_per_s >= slow.output_throughput_tok_per_s * (1 - 1e-9)
    assert fast.itl_s.mean <= slow.itl_s.mean * (1 + 1e-9)


def _dp_run(ep: int, seed: int = 1) -> ServingResult:
    reqs = make_requests(
        200, rate_per_s=16, input_len="uniform:64:900", output_len="uniform:2:300", seed=seed
    )
    return simulate_serving("gpt-oss-120b", HW, reqs, engine="vllm", tp=1, experts=ExpertParallel(ep, True))


def test_dp_attention_ranks_conserve_and_are_deterministic() -> None:
    a, b = _dp_run(4), _dp_run(4)
    _conserved(a)
    assert a.n_devices == 4 and any("DP attention: 4 ranks" in n for n in a.notes)
    assert np.array_equal(a.finish_s, b.finish_s)
    assert not np.array_equal(a.finish_s, _dp_run(4, seed=2).finish_s)


def test_dp_attention_with_speculation_conserves() -> None:
    reqs = make_requests(80, rate_per_s=8, input_len=512, output_len="uniform:2:200", seed=3)
    r = simulate_serving("deepseek-v3", "h200", reqs, engine="vllm", experts=ExpertParallel(8, True),
                         precision=Precision.of("fp8"), speculation=Speculation.parse("mtp"))  # fmt: skip
    _conserved(r)
    assert r.n_devices == 8 and r.tokens_per_step == pytest.approx(1.85)


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"tp": 4, "experts": ExpertParallel(4, True)}, "--dp-attention in serve-sim runs attention whole"),
        ({"experts": ExpertParallel(4, True), "disaggregate": (1, 1)}, "--ep with --disaggregate"),
        ({"speculation": Speculation.parse("mtp")}, "multi-token-prediction"),
        ({"speculation": Speculation.parse("eagle"), "disaggregate": (1, 1)}, "--spec with --disaggregate"),
    ],
)
def test_bad_combinations_say_what_is_wrong(kw: dict[str, object], needle: str) -> None:
    reqs = make_requests(20, rate_per_s=4, input_len=128, output_len=32, seed=0)
    model = "gpt-oss-120b" if "experts" in kw else MODEL
    with pytest.raises(ConfigError, match=needle):
        simulate_serving(model, HW, reqs, engine="vllm", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--spec", "medusa"), "--spec must be one of"),
        (("--spec", "eagle,k=0"), "k must be a whole number"),
        (("--spec", "eagle,accept=2"), "accept must be a rate"),
        (("--spec", "mtp"), "multi-token-prediction"),
        (("--dp-attention",), "--dp-attention needs --ep 2"),
        (("--ep", "4", "--dp-attention", "--tp", "4"), "--dp-attention in serve-sim runs attention whole"),
    ],
)
def test_serve_sim_refuses_bad_options_in_one_line(run_cli: Run, args: tuple[str, ...], message: str) -> None:
    r = run_cli("serve-sim", "-m", "gpt-oss-120b", "--hardware", HW, "--requests", "20", "--rate", "4", *args)
    assert r.code == 2 and message in r.err and len(r.err.strip().splitlines()) == 1, r.err


def test_serve_sim_runs_spec_and_dp_attention_from_the_command_line(run_cli: Run) -> None:
    r = run_cli("serve-sim", "-m", "gpt-oss-120b", "--hardware", HW, "--requests", "40", "--rate", "4",
                "--ep", "4", "--dp-attention", "--spec", "eagle,k=2,accept=0.7", "--json")  # fmt: skip
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["tokens_per_step"] == pytest.approx(2.19) and out["n_devices"] == 4 and out["completed"] == 40
