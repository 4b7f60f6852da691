"""Mélange's offline profiling through hetsim's serving simulator: the workload's request sizes
cut into buckets, and per (GPU type, bucket) the largest Poisson request rate one GPU serves
with at least ``ATTAINMENT`` of its requests within the TPOT SLO (``hetsim.serving.simulate_serving``
with vLLM's engine). The datasets' length distributions are stated here with their sources."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

MODEL = "llama2-7b"
ENGINE = "vllm"
ATTAINMENT = 0.995  # the paper's SLO: met for at least 99.5% of requests
PROFILE_REQUESTS = 120  # requests per profiling run (Poisson, seeded)
BISECTIONS = 6
INPUT_EDGES = (1, 100, 250, 500, 1000, 2000, 4097)
OUTPUT_EDGES = (1, 100, 250, 500, 2001)
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
    """Bucket index of each request (input-major)."""
    i = np.clip(np.searchsorted(INPUT_EDGES, inp, side="right") - 1, 0, len(INPUT_EDGES) - 2)
    o = np.clip(np.searchsorted(OUTPUT_EDGES, out, side="right") - 1, 0, len(OUTPUT_EDGES) - 2)
    return np.asarray(i * (len(OUTPUT_EDGES) - 1) + o)


def buckets(
    data: dict[str, tuple[Any, Any]],
) -> tuple[dict[str, np.ndarray[Any, Any]], dict[int, tuple[int, int]]]:
    """Per dataset the share of requests in each bucket, and each populated bucket's
    representative (input, output) length: the median of every dataset's requests in it."""
    nb = (len(INPUT_EDGES) - 1) * (len(OUTPUT_EDGES) - 1)
    shares = {name: np.bincount(bucket_of(*d), minlength=nb) / len(d[0]) for name, d in data.items()}
    pooled_in = np.concatenate([d[0] for d in data.values()])
    pooled_out = np.concatenate([d[1] for d in data.values()])
    b = bucket_of(pooled_in, pooled_out)
    reps = {
        int(k): (int(np.median(pooled_in[b == k])), int(np.median(pooled_out[b == k]))) for k in np.unique(b)
    }
    return shares, reps


def attainment(hw: str, inp: int, out: int, rate: float, slo_s: float, seed: int = 7) -> float:
    from hetsim.serving import make_requests, simulate_serving

    reqs = make_requests(PROFILE_REQUESTS, rate_per_s=rate, input_len=inp, output_len=out, seed=seed)
    return float(simulate_serving(MODEL, hw, reqs, engine=ENGINE, slo={"tpot": slo_s}).slo_attainment)


def max_rate(hw: str, inp: int, out: int, slo_s: float) -> float:
    """The largest request rate (req/s) one ``hw`` GPU serves at ``ATTAINMENT`` within the TPOT
    SLO: bracketed from the offline (all-at-once) throughput, then bisected; 0 when even a
    trickle misses it."""
    from hetsim.serving import make_requests, simulate_serving

    offline = make_requests(PROFILE_REQUESTS, arrival="offline", input_len=inp, output_len=out, seed=7)
    hi = 1.2 * simulate_serving(MODEL, hw, offline, engine=ENGINE).request_throughput_per_s
    lo = hi / 256
    if attainment(hw, inp, out, lo, slo_s) < ATTAINMENT:
        return 0.0
    if attainment(hw, inp, out, hi, slo_s) >= ATTAINMENT:
        return hi
    for _ in range(BISECTIONS):
        mid = float(np.sqrt(lo * hi))
        lo, hi = (mid, hi) if attainment(hw, inp, out, mid, slo_s) >= ATTAINMENT else (lo, mid)
    return lo


def profile(
    presets: dict[str, str], reps: dict[int, tuple[int, int]], slo_s: float
) -> dict[str, dict[int, float]]:
    """{gpu: {bucket: max rate}} for every populated bucket."""
    return {gpu: {k: max_rate(hw, *reps[k], slo_s) for k in reps} for gpu, hw in presets.items()}


def mix_attainment(hw: str, reps: dict[int, tuple[int, int]], rates: dict[int, float], slo_s: float) -> float:
    """SLO attainment of one GPU serving its share of a fleet's mix: Poisson arrivals at the sum
    of ``rates`` (bucket -> req/s for this one GPU), each request a bucket drawn by rate."""
    from hetsim.serving import RequestSet, simulate_serving

    keys = [k for k, r in rates.items() if r > 0]
    total = sum(rates[k] for k in keys)
    rng = np.random.default_rng(11)
    n = PROFILE_REQUESTS * 2
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


A10G_USABLE_BYTES = 22731 * 2**20  # the a10g preset's own note: nvidia-smi lists 22,731 MiB usable


def a10g_check() -> dict[str, float]:
    """hetsim's offline vLLM throughput for the published A10G benchmark; then the same with the
    memory the driver leaves usable (the preset's 24 GiB is nominal), with the tensor cores at half
    the preset's derived peak (third-party spec tables list the A10G near 70 TFLOPS FP16 where the
    preset derives 140 from the A10's per-SM rate), and with both."""
    from dataclasses import replace

    from hetsim.hardware.loader import get_hardware
    from hetsim.serving import make_requests, simulate_serving

    prompts, inp, out, published = A10G_CHECK
    reqs = make_requests(prompts, arrival="offline", input_len=inp, output_len=out, seed=7)
    dev = get_hardware(A10G_PRESET)
    side = dev.sides[0]
    halved = [replace(u, peak_flop_per_s={k: v / 2 for k, v in u.peak_flop_per_s.items()})
              if u.kind == "matrix" else u for u in side.units]  # fmt: skip
    usable = replace(side.memory, capacity_bytes=A10G_USABLE_BYTES)
    variants = {
        "hetsim": dev,
        "usable_memory": replace(dev, sides=(replace(side, memory=usable), *dev.sides[1:])),
        "half_tensor": replace(dev, sides=(replace(side, units=tuple(halved)), *dev.sides[1:])),
        "both": replace(dev, sides=(replace(side, units=tuple(halved), memory=usable), *dev.sides[1:])),
    }
    runs = {k: simulate_serving(MODEL, d, reqs, engine=ENGINE) for k, d in variants.items()}
    return {
        "published_req_per_s": published,
        "kv_blocks": float(runs["hetsim"].kv_blocks_total),
        **{f"{k}_req_per_s": float(r.request_throughput_per_s) for k, r in runs.items()},
    }
