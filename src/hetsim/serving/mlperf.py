"""MLPerf Inference scenarios for LLMs: Offline (every sample at once, throughput only) and
Server (Poisson queries at a target rate, with latency constraints on the 99th percentile).

The constraints are the benchmark rules' own values, transcribed from MLCommons' LoadGen
configuration (``loadgen/mlperf.conf`` of github.com/mlcommons/inference, commit
b66003e10e2db4b8c36a448b0545ec90fcc6e9e9): for the token-latency benchmarks the 99th-percentile
TTFT and TPOT (``ttft_latency``, ``tpot_latency``, ms; ``target_latency_percentile = 99``), for
GPT-J the 99th-percentile query latency (``gptj.Server.target_latency = 20000``). A valid run
also lasts at least ``min_duration`` (600 s) and, in Offline, issues ``min_query_count``
samples; a simulated run shorter than that is reported as such. The metric is the one MLPerf
reports: tokens per second for the token-latency benchmarks, samples per second for GPT-J.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hetsim.errors import ConfigError
from hetsim.serving.metrics import ServingResult, per_request_metrics

SOURCE = (
    "mlcommons/inference loadgen/mlperf.conf at commit b66003e10e2db4b8c36a448b0545ec90fcc6e9e9 "
    "(Server ttft_latency / tpot_latency / target_latency, target_latency_percentile 99, "
    "min_duration 600000 ms, Offline min_query_count)"
)
SCENARIOS = ("offline", "server")
PERCENTILE = 99.0
MIN_DURATION_S = 600.0


@dataclass(frozen=True, slots=True)
class Benchmark:
    """One MLPerf Inference LLM benchmark: its Server constraints and run minimums."""

    name: str  # as mlperf.conf spells it
    ttft_s: float | None  # 99th-percentile TTFT limit (Server)
    tpot_s: float | None  # 99th-percentile TPOT limit (Server)
    latency_s: float | None  # 99th-percentile query latency limit (Server, GPT-J)
    min_queries: int  # Offline min_query_count (the dataset size)
    mix: str = ""  # the named request mix of its dataset ("" : none in hetsim)
    metric: str = "tokens/s"

    @property
    def constraints(self) -> dict[str, float]:
        return {k: v for k, v in (("ttft", self.ttft_s), ("tpot", self.tpot_s), ("e2e", self.latency_s))
                if v is not None}  # fmt: skip


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark("llama2-70b", 2.0, 0.2, None, 24576, "openorca-mlperf"),
        Benchmark("llama2-70b-interactive", 0.45, 0.04, None, 24576, "openorca-mlperf"),
        Benchmark("mixtral-8x7b", 2.0, 0.2, None, 15000),
        Benchmark("llama3_1-405b", 6.0, 0.175, None, 8313),
        Benchmark("llama3_1-405b-interactive", 4.5, 0.08, None, 8313),
        Benchmark("llama3_1-8b", 2.0, 0.1, None, 13368, "cnn-dailymail-mlperf"),
        Benchmark("llama3_1-8b-interactive", 0.5, 0.03, None, 13368, "cnn-dailymail-mlperf"),
        Benchmark("gptj", None, None, 20.0, 13368, "cnn-dailymail-mlperf", "samples/s"),
    )
}
# hetsim model preset -> the benchmarks that run it (the model itself, or one of the same
# architecture: llama3-8b is Llama-3-8B, whose layers Llama-3.1-8B keeps; only the context differs)
MODEL_BENCHMARKS: dict[str, tuple[str, ...]] = {
    "llama2-70b": ("llama2-70b", "llama2-70b-interactive"),
    "mixtral-8x7b": ("mixtral-8x7b",),
    "llama3.1-405b": ("llama3_1-405b", "llama3_1-405b-interactive"),
    "llama3-8b": ("llama3_1-8b", "llama3_1-8b-interactive"),
    "gpt-j-6b": ("gptj",),
}


def benchmark_for(model: str, interactive: bool = False) -> Benchmark:
    """The MLPerf benchmark of a model preset; a one-line error naming what is missing."""
    names = MODEL_BENCHMARKS.get(model, ())
    want = [n for n in names if n.endswith("-interactive") == interactive]
    if not want:
        kind = "interactive Server" if interactive else "Server"
        have = ", ".join(sorted(MODEL_BENCHMARKS))
        raise ConfigError(
            f"MLPerf Inference has no {kind} benchmark for {model}: its TTFT and TPOT (or latency) "
            f"limits and sample count are missing; models with them: {have}"
        )
    return BENCHMARKS[want[0]]


@dataclass(frozen=True, slots=True)
class MLPerfReport:
    scenario: str
    benchmark: str
    metric: str  # tokens/s or samples/s
    value: float
    constraints: dict[str, float]  # name -> limit (s), Server only
    observed: dict[str, float]  # name -> 99th percentile (s)
    holds: bool | None  # every constraint met (None: Offline, none apply)
    valid_length: bool  # the run is as long as the rules ask
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"scenario": self.scenario, "benchmark": self.benchmark, "metric": self.metric,
                "value": self.value, "constraints_s": self.constraints, "observed_p99_s": self.observed,
                "constraints_hold": self.holds, "valid_length": self.valid_length,
                "notes": list(self.notes), "source": SOURCE}  # fmt: skip


def report(r: ServingResult, scenario: str, bench: Benchmark) -> MLPerfReport:
    """MLPerf's metric for the run and whether the benchmark's constraints hold."""
    if scenario not in SCENARIOS:
        raise ConfigError(f"--scenario {scenario!r}: choose offline or server")
    value = r.request_throughput_per_s if bench.metric == "samples/s" else r.output_throughput_tok_per_s
    notes = []
    valid = r.duration_s >= MIN_DURATION_S and (scenario == "server" or r.completed >= bench.min_queries)
    if not valid:
        need = f"{bench.min_queries:,} samples and " if scenario == "offline" else ""
        notes.append(f"a valid MLPerf run needs {need}at least {MIN_DURATION_S:.0f} s; this run served "
                     f"{r.completed:,} samples in {r.duration_s:,.0f} s")  # fmt: skip
    if scenario == "offline":
        return MLPerfReport(scenario, bench.name, bench.metric, value, {}, {}, None, valid, tuple(notes))
    per = per_request_metrics(r)
    observed = {}
    for name in bench.constraints:
        x = per[name][np.isfinite(per[name])]
        observed[name] = float(np.percentile(x, PERCENTILE)) if x.size else float("nan")
    holds = r.completed == r.n_requests and all(observed[k] <= v for k, v in bench.constraints.items())
    return MLPerfReport(scenario, bench.name, bench.metric, value, bench.constraints, observed, holds, valid,
                        tuple(notes))  # fmt: skip
