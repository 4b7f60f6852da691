"""Length pairs that are means: when a serving source's lengths vary, and by how much.

A table that gives one input/output length pair per row may state fixed lengths or the means
of a dataset; sources seldom say which. The rows themselves tell: in a run where every request
is sent at t = 0 (``QPS=INF``), fixed lengths make the requests finish together, so nearly all
of them are in flight for the whole run; varied output lengths make the short ones finish
early. By Little's law the share in flight is

    mean end-to-end latency / duration = (TTFT + (G - 1) ITL) x request throughput / n

(the mean ITL of the benchmark clients is token-weighted, so (G - 1) ITL is the mean decode
time). On trtllm_serving.csv it is 0.97-1.00 for the 467-token pairs on both GPUs and models
and 0.48-0.50 for the 202/214 pair: those are means. A pair whose fit-hardware share is
below :data:`FIXED_SHARE` gets output lengths drawn from a lognormal of the stated mean; its
coefficient of variation is one knob per length pair, chosen from :data:`CV_GRID` on the fit
hardware's rows (:func:`hetsim.serving.validate.fit_length_spread`), never per GPU or model.
Input lengths stay fixed (they change only the prefill packing).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import numpy as np

from hetsim.serving.requests import RequestSet
from hetsim.serving.rows import ServingRow

FIXED_SHARE = 0.75  # a QPS=INF run of fixed lengths keeps about all requests in flight (0.97+ here)
CV_GRID = (0.35, 0.7, 1.0)  # lognormal coefficient of variation of the output length
Pair = tuple[str, int, int]  # (source_id, input_len, output_len)


def pair_of(r: ServingRow) -> Pair:
    return (r.source, r.input_len, r.output_len)


def in_flight_share(rows: list[ServingRow]) -> dict[tuple[Pair, str, str, int], float]:
    """Share of the requests in flight over a QPS=INF run (Little's law), per (length pair,
    hardware, model, tp), from its measured mean TTFT, mean ITL and request throughput."""
    got: dict[tuple[Pair, str, str, int], dict[str, float]] = defaultdict(dict)
    for r in rows:
        if r.arrival == "offline" and r.field in ("ttft_mean", "itl_mean", "request_throughput"):
            got[(pair_of(r), r.hardware, r.model, r.tp)][r.field] = r.value
            got[(pair_of(r), r.hardware, r.model, r.tp)]["n"] = r.n_requests
    out = {}
    for key, v in got.items():
        if {"ttft_mean", "itl_mean", "request_throughput"} <= v.keys():
            e2e = v["ttft_mean"] + (key[0][2] - 1) * v["itl_mean"]
            out[key] = e2e * v["request_throughput"] / v["n"]
    return out


def varied_pairs(rows: list[ServingRow]) -> set[Pair]:
    """Length pairs whose QPS=INF rows show varied lengths (every such row below FIXED_SHARE)."""
    shares: dict[Pair, list[float]] = defaultdict(list)
    for key, share in in_flight_share(rows).items():
        shares[key[0]].append(share)
    return {p for p, s in shares.items() if max(s) < FIXED_SHARE}


def lognormal_lengths(n: int, mean: float, cv: float, seed: int, hi: int) -> np.ndarray:
    """(n,) integer lengths of a lognormal with this mean and coefficient of variation: its
    quantiles at (i + 1/2) / n (so the sample has the distribution's shape, not a draw's
    noise), clipped to [1, hi], rescaled to the stated mean and shuffled with ``seed``."""
    from statistics import NormalDist

    s2 = float(np.log1p(cv * cv))
    z = np.array([NormalDist().inv_cdf((i + 0.5) / n) for i in range(n)])
    x = np.clip(np.exp(np.log(mean) - s2 / 2 + np.sqrt(s2) * z), 1.0, hi)
    x *= mean / float(np.mean(x))
    out: np.ndarray = np.clip(np.rint(x), 1, hi).astype(np.int64)
    np.random.default_rng(seed).shuffle(out)
    return out


def with_output_spread(reqs: RequestSet, cv: float, seed: int, hi: int) -> RequestSet:
    """The requests with lognormal output lengths of the same mean (``cv`` = 0: unchanged)."""
    if cv <= 0:
        return reqs
    g = lognormal_lengths(len(reqs), float(np.mean(reqs.output_len)), cv, seed, hi)
    return replace(reqs, output_len=g)
