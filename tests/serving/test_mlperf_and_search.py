"""MLPerf scenarios (the rules' limits, the metric, which constraints hold, what is missing) and
the steady-state rate search (never above capacity, stable in the number of requests)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from hetsim.errors import ConfigError
from hetsim.serving import make_requests, simulate_serving
from hetsim.serving.mlperf import BENCHMARKS, benchmark_for, report
from hetsim.serving.search import capacity, max_rate_meeting_slo, relaxation_s
from tests.conftest import CliResult

MODEL, HW = "llama3-8b", "h100-sxm"


def test_limits_are_the_loadgen_values() -> None:
    """loadgen/mlperf.conf (mlcommons/inference b66003e): ms in the file, seconds here."""
    assert (BENCHMARKS["llama2-70b"].ttft_s, BENCHMARKS["llama2-70b"].tpot_s) == (2.0, 0.2)
    assert (BENCHMARKS["llama2-70b-interactive"].ttft_s, BENCHMARKS["llama2-70b-interactive"].tpot_s) == (
        0.45,
        0.04,
    )
    assert (BENCHMARKS["llama3_1-405b"].ttft_s, BENCHMARKS["llama3_1-405b"].tpot_s) == (6.0, 0.175)
    assert (BENCHMARKS["llama3_1-8b"].ttft_s, BENCHMARKS["llama3_1-8b"].tpot_s) == (2.0, 0.1)
    assert BENCHMARKS["gptj"].latency_s == 20.0 and BENCHMARKS["gptj"].metric == "samples/s"
    assert BENCHMARKS["llama2-70b"].min_queries == 24576 and BENCHMARKS["mixtral-8x7b"].min_queries == 15000


def test_server_report_says_whether_the_constraints_hold() -> None:
    bench = benchmark_for(MODEL)
    easy = simulate_serving(MODEL, HW, make_requests(300, rate_per_s=2, input_len=512, output_len=128),
                            slo=bench.constraints)  # fmt: skip
    rep = report(easy, "server", bench)
    assert rep.holds and rep.metric == "tokens/s" and rep.value == easy.output_throughput_tok_per_s
    assert set(rep.observed) == {"ttft", "tpot"} and not rep.valid_length  # 300 samples, far from 600 s
    hard = report(easy, "server", benchmark_for(MODEL, interactive=True))
    assert hard.constraints["tpot"] == 0.03 and hard.holds == (hard.observed["tpot"] <= 0.03)


def test_a_model_without_a_benchmark_says_what_is_missing() -> None:
    with pytest.raises(ConfigError, match="no Server benchmark for llama2-13b: its TTFT and TPOT"):
        benchmark_for("llama2-13b")
    with pytest.raises(ConfigError, match="no interactive Server benchmark for gpt-j-6b"):
        benchmark_for("gpt-j-6b", interactive=True)


def test_cli_scenarios(run_cli: Callable[..., CliResult]) -> None:
    r = run_cli("serve-sim", "-m", MODEL, "-n", "200", "--scenario", "offline", "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["mlperf"]["scenario"] == "offline" and d["mlperf"]["constraints_hold"] is None
    assert d["arrival"] == "offline" and d["mlperf"]["benchmark"] == "llama3_1-8b"
    r = run_cli("serve-sim", "-m", MODEL, "-n", "200", "--scenario", "server", "--rate", "4", "--json")
    d = json.loads(r.out)
    assert r.code == 0 and d["mlperf"]["constraints_hold"] is True and d["slo"] == {"ttft": 2.0, "tpot": 0.1}
    r = run_cli("serve-sim", "-m", MODEL, "-n", "100", "--scenario", "server", "--rate", "4")
    assert r.code == 0 and "MLPerf server (llama3_1-8b)" in r.out and "p99 TTFT" in r.out


def test_max_rate_is_steady_below_capacity_and_stable_in_the_run_length() -> None:
    slo = {"ttft": 0.5, "tpot": 0.05}
    kw = {"slo": slo, "input_len": 512, "output_len": 128, "engine": "vllm"}
    short = max_rate_meeting_slo(MODEL, HW, n_requests=2000, **kw)  # type: ignore[arg-type]
    long = max_rate_meeting_slo(MODEL, HW, n_requests=6000, **kw)  # type: ignore[arg-type]
    for s in (short, long):
        assert 0 < s.max_rate_per_s <= s.offline_throughput_per_s
        assert s.attainment >= 0.9 and s.goodput_req_per_s == pytest.approx(s.max_rate_per_s * s.attainment)
    assert abs(short.max_rate_per_s / long.max_rate_per_s - 1) < 0.05
    assert relaxation_s(0.99 * 50, 50) > 100 * relaxation_s(
        0.5 * 50, 50
    )  # near capacity a queue settles slowly


def test_an_impossible_slo_says_so() -> None:
    s = max_rate_meeting_slo(MODEL, HW, slo={"ttft": 1e-4}, n_requests=200, input_len=512, output_len=64)
    assert s.max_rate_per_s == 0 and "ttft <= 0.1 ms is impossible" in s.note


def _capacity(n: int) -> tuple[float, bool]:
    return capacity(
        simulate_serving(MODEL, HW, make_requests(n, arrival="offline", input_len=512, output_len=128))
    )


def test_capacity_is_the_steady_completion_rate() -> None:
    off = simulate_serving(MODEL, HW, make_requests(2000, arrival="offline", input_len=512, output_len=128))
    cap, steady = capacity(off)
    assert steady and 0.95 * off.request_throughput_per_s < cap < 1.3 * off.request_throughput_per_s


def test_a_short_offline_run_is_not_called_steady() -> None:
    """At 500 requests the 256-sequence engine never turns over after its first wave: the old
    10%-90% completion rate read 79.2 req/s there against 49.5 at 2,000 (the first wave's staggered
    finishes and the drain's burst). Each figure is within 5% of the long run's, or flagged."""
    ref, ref_steady = _capacity(2000)
    assert ref_steady and _capacity(20000)[0] == pytest.approx(ref, rel=0.01)
    for n in (300, 500, 1000):
        cap, steady = _capacity(n)
        assert abs(cap / ref - 1) < 0.05 or not steady
        assert cap <= 1.01 * ref  # never the inflated transient, flagged or not
    assert not _capacity(500)[1] and _capacity(1000)[1]
    s = max_rate_meeting_slo(MODEL, HW, slo={"ttft": 0.5, "tpot": 0.05}, n_requests=500, input_len=512,
                             output_len=128, engine="vllm")  # fmt: skip
    assert 0 < s.max_rate_per_s <= s.offline_throughput_per_s <= ref and not s.capacity_steady
    assert not s.steady_state and "too short for a steady state" in s.note


def test_a_run_names_an_slo_no_request_can_meet() -> None:
    r = simulate_serving(
        MODEL, HW, make_requests(20, rate_per_s=2, input_len=256, output_len=16), slo="ttft=1e-4"
    )
    assert r.slo_attainment == 0 and any("no request met it, the fastest took" in n for n in r.notes)
