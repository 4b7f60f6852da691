"""Mélange's offline profiling through hetsim's serving simulator: the workload's request sizes
cut into the released profiler's buckets, and per (GPU type, bucket) the released profiler's
figure, the largest request throughput of its 10-request runs at 1-32 req/s whose requests all
meet the TPOT SLO (``hetsim.serving.simulate_serving`` with vLLM's engine). The datasets' length
distributions are stated here with their sources."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

MODEL = "llama2-7b"
ENGINE = "vllm"
ATTAINMENT = 0.995  # the paper's SLO: met for at least 99.5% of requests
MIX_CHECK_REQUESTS = 240  # Poisson requests per re-simulation of a chosen mix's GPU (seeded)
# Bucket edges as the released profiler's (melange-release melange/profiling/benchmark-launcher.sh
# profiles input and output lengths of 25, 100, 250, 500, 1000 and 2000 tokens; its README's
# buckets are "1-25, 25-100, 100-250, ..."), with the inputs past 2,000 in one more bucket up to
# Llama-2's context. A bucket is profiled at its upper edge, as the launcher profiles "1-25" at 25.
INPUT_EDGES = (0, 25, 100, 250, 500, 1000, 2000, 4096)
OUTPUT_EDGES = (0, 25, 100, 250, 500, 1000, 2000)
CONTEXT = 4096  # Llama-2's context: a bucket's profiled request is cut to fit it
SAMPLES = 20_000  # requests drawn per dataset to weigh the buckets


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    input_len: str  # hetsim.serving.LengthDist text
    output_len: str
    source: str


ARENA = Dataset(
    "arena",
    "lognormal:69.5:104:1:3800",
    "lognormal:214.5:214.5:1:2000",
    "LMSYS-Chat-1M (Zheng et al. 2023, Table 1): 69.5 tokens per prompt and 214.5 per "
    "response on average; lognormal shapes with coefficients of variation 1.5 and 1.0 assumed",
)
PUBMED = Dataset(
    "pubmed",
    "normal:4011:1500:500:3584",
    "normal:270:100:32:512",
    "PubMed summarisation (Cohan et al. 2018, Table 1): 3,016-word articles, 203-word "
    "abstracts, x 1.33 tokens per word; prompts cut to 3,584 tokens to fit Llama-2's 4,096 "
    "context; normal shapes assumed",
)
MIXED = "mixed"  # 80% Arena + 20% PubMed (the released plots' 'Mixed_80_20')
MIXED_SHARE = (0.8, 0.2)


def _sample(ds: Dataset, n: int, seed: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    from hetsim.serving import LengthDist

    rng = np.random.default_rng(seed)
    return LengthDist.parse(ds.input_len).sample(rng, n), LengthDist.parse(ds.output_len).sample(rng, n)


def samples() -> dict[str, tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]]:
    """(input, output) lengths per dataset (seeded)."""
    a = _sample(ARENA, SAMPLES, 1)
    p = _sample(PUBMED, SAMPLES, 2)
    k = int(SAMPLES * MIXED_SHARE[0])
    mixed = (np.concatenate([a[0][:k], p[0][: SAMPLES - k]]), np.concatenate([a[1][:k], p[1][: SAMPLES - k]]))
    return {"arena": a, "pubmed": p, MIXED: mixed}


def bucket_of(inp: Any, out: Any) -> np.ndarray[Any, Any]:
    """Bucket index of each request (input-major); a bucket holds (lower edge, upper edge]."""
    i = np.clip(np.searchsorted(INPUT_EDGES, inp, side="left") - 1, 0, len(INPUT_EDGES) - 2)
    o = np.clip(np.searchsorted(OUTPUT_EDGES, out, side="left") - 1, 0, len(OUTPUT_EDGES) - 2)
    return np.asarray(i * (len(OUTPUT_EDGES) - 1) + o)


def buckets(
    data: dict[str, tuple[Any, Any]],
) -> tuple[dict[str, np.ndarray[Any, Any]], dict[int, tuple[int, int]]]:
    """Per dataset the share of requests in each bucket, and each populated bucket's profiled
    (input, output) length: its upper edges, as the released profiler's (the last input bucket at
    the longest prompt drawn), the output cut so the request fits the context."""
    nb = (len(INPUT_EDGES) - 1) * (len(OUTPUT_EDGES) - 1)
    shares = {name: np.bincount(bucket_of(*d), minlength=nb) / len(d[0]) for name, d in data.items()}
    pooled_in = np.concatenate([d[0] for d in data.values()])
    pooled_out = np.concatenate([d[1] for d in data.values()])
    b = bucket_of(pooled_in, pooled_out)
    no = len(OUTPUT_EDGES) - 1
    reps = {}
    for k in np.unique(b):
        top = k // no == len(INPUT_EDGES) - 2
        inp = int(pooled_in[b == k].max()) if top else INPUT_EDGES[k // no + 1]
        out = min(OUTPUT_EDGES[k % no + 1], CONTEXT - inp)
        reps[int(k)] = (inp, out)
    return shares, reps


# The released profiler (melange-release melange/profiling/benchmark-launcher.sh and
# gpu-benchmark.py): per bucket, runs of TOTAL = 10 requests at Poisson rates 1-32 req/s, each
# reporting "Request Throughput" = requests / (first send to last completion).
RELEASED_RATES = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
RELEASED_REQUESTS = 10
DRAWS = (7, 8, 9, 10, 11)  # arrival seeds: the figure is the mean over these draws of a profiling run


def released_rate(hw: str, inp: int, out: int, slo_s: float, seeds: tuple[int, ...] = DRAWS) -> float:
    """The released profiler's figure for one bucket: the largest request throughput of its
    10-request runs whose requests all meet the TPOT SLO (0 when none does), averaged over the
    arrival draws ``seeds``: ten Poisson arrivals make one run's figure swing by tens of percent.
    A 10-request run ends with its last requests' decode, so this is what the profiled GPU
    completes of a short burst, below the rate it could sustain."""
    from hetsim.serving import make_requests, simulate_serving

    total = 0.0
    for seed in seeds:
        best = 0.0
        for rate in RELEASED_RATES:
            reqs = make_requests(RELEASED_REQUESTS, rate_per_s=rate, input_len=inp, output_len=out, seed=seed)
            r = simulate_serving(MODEL, hw, reqs, engine=ENGINE, slo={"tpot": slo_s})
            if r.slo_attainment >= ATTAINMENT:
                best = max(best, float(r.request_throughput_per_s))
        total += best
    return total / len(seeds)


def profile(
    presets: dict[str, str], reps: dict[int, tuple[int, int]], slo_s: float
) -> dict[str, dict[int, float]]:
    """{gpu: {bucket: the released profiler's req/s}} for every populated bucket."""
    return {gpu: {k: released_rate(hw, *reps[k], slo_s) for k in reps} for gpu, hw in presets.items()}


def mix_attainment(hw: str, reps: dict[int, tuple[int, int]], rates: dict[int, float], slo_s: float) -> float:
    """SLO attainment of one GPU serving its share of a fleet's mix: Poisson arrivals at the sum
    of ``rates`` (bucket -> req/s for this one GPU), each request a bucket drawn by rate."""
    from hetsim.serving import RequestSet, simulate_serving

    keys = [k for k, r in rates.items() if r > 0]
    total = sum(rates[k] for k in keys)
    rng = np.random.default_rng(11)
    n = MIX_CHECK_REQUESTS
    pick = rng.choice(len(keys), size=n, p=[rates[k] / total for k in keys])
    arrival = np.cumsum(rng.exponential(1 / total, size=n))
    inp = np.array([reps[keys[i]][0] for i in pick])
    out = np.array([reps[keys[i]][1] for i in pick])
    reqs = RequestSet(arrival, inp, out, "poisson", total)
    return float(simulate_serving(MODEL, hw, reqs, engine=ENGINE, slo={"tpot": slo_s}).slo_attainment)


# A published vLLM throughput of one A10G to check the profiles' GPU against (held out: nothing is
# fitted on it): neuralmagic/nm-vllm's benchmark CI (github-action-benchmark comments on its commits,
# e.g. c13b5c2 and 2054c1a, April-May 2024, nm-vllm 0.2.0 = vLLM 0.4-era, torch 2.2-2.3):
# benchmark_throughput, NousResearch/Llama-2-7b-chat-hf (fp16), max_model_len 4096, 1,000 prompts of
# 256 input + 128 output tokens on "NVIDIA A10G x 1": 3.80 prompts/s (1,460 tokens/s).
A10G_PRESET = "a10g"
A10G_CHECK = (1000, 256, 128, 3.80)  # prompts, input tokens, output tokens, published req/s
A10G_NOMINAL_BYTES = 24 * 2**30  # the nominal 24 GiB the preset had before its driver-reported 23,028 MiB


def a10g_check() -> dict[str, float]:
    """hetsim's offline vLLM throughput for the published A10G benchmark on the preset; then the
    same with the preset's earlier figures, one at a time: the tensor cores at the A10's full
    per-SM rate (twice the preset's) and the nominal 24 GiB of memory."""
    from dataclasses import replace

    from hetsim.hardware.loader import get_hardware
    from hetsim.serving import make_requests, simulate_serving

    prompts, inp, out, published = A10G_CHECK
    reqs = make_requests(prompts, arrival="offline", input_len=inp, output_len=out, seed=7)
    dev = get_hardware(A10G_PRESET)
    side = dev.sides[0]
    doubled = [replace(u, peak_flop_per_s={k: v * 2 for k, v in u.peak_flop_per_s.items()})
               if u.kind == "matrix" else u for u in side.units]  # fmt: skip
    nominal = replace(side.memory, capacity_bytes=A10G_NOMINAL_BYTES)
    variants = {
        "hetsim": dev,
        "full_rate_tensor": replace(dev, sides=(replace(side, units=tuple(doubled)), *dev.sides[1:])),
        "nominal_memory": replace(dev, sides=(replace(side, memory=nominal), *dev.sides[1:])),
    }
    runs = {k: simulate_serving(MODEL, d, reqs, engine=ENGINE) for k, d in variants.items()}
    return {
        "published_req_per_s": published,
        "kv_blocks": float(runs["hetsim"].kv_blocks_total),
        **{f"{k}_req_per_s": float(r.request_throughput_per_s) for k, r in runs.items()},
    }
