"""The serving API: ``simulate_serving(model, hardware, requests, engine=...) -> ServingResult``.

It sizes the paged KV cache from the device memory the engine may use, checks every request
can ever be served, builds (and caches) the iteration-cost tables of
:mod:`hetsim.serving.pricing`, runs the event loop of :mod:`hetsim.serving.loop` on one engine
instance, or on separate prefill and decode instances (disaggregation, with the KV cache
sent over the device interconnect), and derives the result record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from hetsim.cost.power import active_w
from hetsim.errors import CapacityError, ConfigError
from hetsim.hardware.loader import get_hardware
from hetsim.hardware.spec import Device
from hetsim.placement.policies import check_name, is_search
from hetsim.serving.engine import EngineConfig, get_engine
from hetsim.serving.h2m2 import ALIASES, search_policy
from hetsim.serving.loop import LoopLog, run_engine
from hetsim.serving.metrics import (
    ServingResult,
    Stats,
    itl_samples,
    mean_in_system,
    parse_slo,
    per_request_metrics,
)
from hetsim.serving.placed import Levelled, build_levelled, serve_auto
from hetsim.serving.pricing import IterationPricer, OpPricer, build_pricer
from hetsim.serving.requests import RequestSet
from hetsim.sim.inference import Options, footprint
from hetsim.sim.placed import split_weights
from hetsim.workload.dtypes import Precision
from hetsim.workload.model import ModelSpec
from hetsim.workload.registry import get_model

_PRICERS: dict[tuple[Any, ...], tuple[IterationPricer, ModelSpec, Device]] = {}


@dataclass(frozen=True, slots=True)
class KVBudget:
    """The paged KV cache of one engine instance (per device of its TP group)."""

    total_blocks: int
    block_tokens: int
    kv_bytes_per_token: float  # per device
    weight_bytes: float  # per device
    kv_capacity_bytes: float  # per device
    workspace_bytes: float = 0.0  # activation workspace of a full iteration, per device


def kv_budget(
    model: ModelSpec, dev: Device, prec: Precision, eng: EngineConfig, tp: int, all_sides: bool = False
) -> KVBudget:
    """Blocks the engine can allocate: its share of device memory (the primary side, or every
    side with ``all_sides``) less weights and the activation workspace of a full iteration."""
    opts = Options(tp=tp)
    fp = footprint(model, prec, 1, eng.max_num_batched_tokens, opts)
    per_token = float(footprint(model, prec, 1, 1, opts)["kv_cache"])
    sides = dev.sides if all_sides else (dev.primary,)
    cap = float(sum(side.memory.capacity_bytes for side in sides))
    fixed = float(fp["weights"] + fp["activations"])
    kv_mem = (
        eng.memory_utilization * (cap - fixed)
        if eng.utilization_of_free
        else eng.memory_utilization * cap - fixed
    )
    blocks = int(kv_mem // (per_token * eng.block_size)) if kv_mem > 0 else 0
    if blocks < 1:
        raise CapacityError(
            f"{model.name} at --tp {tp} needs {fixed / 1e9:.1f} GB per device for weights and workspace, "
            f"leaving no KV cache in {eng.memory_utilization:.0%} of {cap / 1e9:.1f} GB on {dev.name}; "
            "try a larger --tp or a smaller --weight-dtype"
        )
    return KVBudget(blocks, eng.block_size, per_token, float(fp["weights"]), kv_mem, float(fp["activations"]))


def _check_requests(reqs: RequestSet, model: ModelSpec, eng: EngineConfig, kv: KVBudget) -> None:
    need = reqs.input_len + reqs.output_len
    over = need - model.max_seq_len
    if np.any(over > 0):
        i = int(np.argmax(over))
        raise ConfigError(
            f"request {i} needs {int(need[i])} tokens, {int(over[i])} more than the "
            f"{model.max_seq_len}-token context of {model.name}; shorten its --input-len/--output-len"
        )
    cap_tokens = kv.total_blocks * kv.block_tokens
    over = need - cap_tokens
    if np.any(over > 0):
        i = int(np.argmax(over))
        raise CapacityError(
            f"request {i} needs {int(need[i])} tokens of KV cache, {int(over[i])} more than the "
            f"{cap_tokens} the engine can ever hold; try a larger --tp or a smaller --kv-dtype"
        )
    if not eng.chunked_prefill:
        over = reqs.input_len - eng.max_num_batched_tokens
        if np.any(over > 0):
            i = int(np.argmax(over))
            raise ConfigError(
                f"request {i} has a {int(reqs.input_len[i])}-token prompt, {int(over[i])} over the engine's "
                f"{eng.max_num_batched_tokens} batched tokens without chunked prefill; enable chunked prefill"
            )


def get_pricer(
    model: ModelSpec, dev: Device, prec: Precision, eng: EngineConfig, tp: int, max_context: int,
    op_pricer: OpPricer | None = None,
) -> IterationPricer:  # fmt: skip
    """Iteration-cost tables, cached per (model, device, precision, tp, engine limits)."""
    ctx = 1 << max(10, math.ceil(math.log2(max(max_context, 2))))  # round up: reuse across runs
    key = (id(model), id(dev), prec, tp, eng.max_num_batched_tokens, eng.max_num_seqs, ctx, id(op_pricer))
    hit = _PRICERS.get(key)
    if hit is not None and hit[1] is model and hit[2] is dev:
        return hit[0]
    pricer = build_pricer(
        model, dev, prec, tp=tp, max_tokens=eng.max_num_batched_tokens, max_seqs=eng.max_num_seqs,
        max_context=ctx, op_pricer=op_pricer,
    )  # fmt: skip
    if len(_PRICERS) > 32:
        _PRICERS.clear()
    _PRICERS[key] = (pricer, model, dev)
    return pricer


def simulate_serving(
    model: ModelSpec | str,
    hardware: Device | str,
    requests: RequestSet,
    *,
    engine: EngineConfig | str = "vllm",
    tp: int = 1,
    precision: Precision | None = None,
    slo: dict[str, float] | str | None = None,
    disaggregate: tuple[int, int] | None = None,
    max_queue: int | None = None,
    op_pricer: OpPricer | None = None,
    progress: object | None = None,
    policy: str = "primary",
    dynamic_placement: bool = True,
) -> ServingResult:
    """Serve ``requests`` and return latency, throughput, goodput and KV-cache records.
    ``disaggregate=(p, d)``: p prefill instances and d decode instances of ``tp`` devices each,
    requests spread round-robin, the KV cache of each prompt sent over the interconnect.
    ``policy``: a placement policy (``hetsim policies``) over the memory sides of a multi-tier
    system; with ``dynamic_placement`` the mapping follows the KV footprint (re-mapped, with
    migration charged), otherwise it is decided once for the largest footprint. ``auto`` is
    the one choice of every command (:mod:`hetsim.placement.choose`): each of its candidates
    serves the requests, and the fastest (lowest mean request latency) among those whose
    engine can hold every request is kept."""
    m, dev = get_model(model), get_hardware(hardware)  # type: ignore[arg-type]
    prec = precision or Precision()
    eng = get_engine(engine)
    slos = parse_slo(slo) if isinstance(slo, str) or slo is None else dict(slo)
    if isinstance(tp, bool) or tp < 1:
        raise ConfigError(f"--tp must be a positive integer, got {tp}")
    key = policy.strip().lower()
    key = check_name(ALIASES.get(key, key))
    run = (m, dev, prec, eng, tp, requests, slos, disaggregate, max_queue, op_pricer, progress,
           dynamic_placement)  # fmt: skip
    if key == "auto":  # the one choice of every command, each candidate served (serving/placed.py)
        return serve_auto(dev, lambda name: _serve(name, *run))
    return _serve(key, *run)


def _serve(
    key: str, m: ModelSpec, dev: Device, prec: Precision, eng: EngineConfig, tp: int, requests: RequestSet,
    slos: dict[str, float], disaggregate: tuple[int, int] | None, max_queue: int | None,
    op_pricer: OpPricer | None, progress: object | None, dynamic_placement: bool,
) -> ServingResult:  # fmt: skip
    """Serve ``requests`` under the placement policy ``key``."""
    kv = kv_budget(m, dev, prec, eng, tp, all_sides=key != "primary")
    _check_requests(requests, m, eng, kv)
    longest = int(np.max(requests.input_len + requests.output_len))
    pricer = get_pricer(m, dev, prec, eng, tp, longest, op_pricer)
    run_kw: dict[str, Any] = {"total_blocks": kv.total_blocks, "kv_bytes_per_token": kv.kv_bytes_per_token,
                              "power_w": (dev.static_power_w, active_w(dev), tp)}  # fmt: skip
    notes: list[str] = []
    if key != "primary":
        run_kw["levels"] = _levelled(m, dev, prec, eng, tp, longest, kv, key, dynamic_placement)
        notes.append(f"placement {key} ({'dynamic' if dynamic_placement else 'static'})")
    if disaggregate is None:
        log = run_engine(requests, eng, pricer, max_queue=max_queue, progress=progress, **run_kw)
    else:
        log = _disaggregated(requests, eng, pricer, dev, kv, disaggregate, max_queue, run_kw)
        notes.append(
            f"disaggregated: {disaggregate[0]} prefill + {disaggregate[1]} decode instances of tp {tp}"
        )
    instances = 1 if disaggregate is None else sum(disaggregate)
    r = _result(m, dev, eng, tp, requests, log, kv, slos, notes)
    r = with_energy(r, log, dev, tp, instances)
    return replace(
        r, policy=key, remaps=log.remaps, migrated_bytes=log.migrated_bytes, migration_s=log.migration_s
    )


_LEVELLED: dict[tuple[Any, ...], Levelled] = {}


def _levelled(
    m: ModelSpec, dev: Device, prec: Precision, eng: EngineConfig, tp: int, longest: int, kv: KVBudget,
    policy: str, dynamic: bool,
) -> Levelled:  # fmt: skip
    ctx = 1 << max(10, math.ceil(math.log2(max(longest, 2))))
    key = (id(m), id(dev), prec, tp, eng.max_num_batched_tokens, eng.max_num_seqs, ctx, policy, dynamic,
           kv.kv_capacity_bytes)  # fmt: skip
    hit = _LEVELLED.get(key)
    if hit is not None and hit.device is dev:
        return hit
    fp = footprint(m, prec, 1, eng.max_num_batched_tokens, Options(tp=tp))
    weights = split_weights(m, prec, fp, tp)

    def make(opp: OpPricer) -> IterationPricer:
        return build_pricer(
            m, dev, prec, tp=tp, max_tokens=eng.max_num_batched_tokens, max_seqs=eng.max_num_seqs,
            max_context=ctx, op_pricer=opp,
        )  # fmt: skip

    pol: Any = policy
    if is_search(policy):  # priced per candidate on the decode ops, as the tables price them
        pol = (policy, search_policy(policy, m, prec, kv.kv_bytes_per_token, tp))
    lv = build_levelled(
        pol,
        dev,
        prec,
        weights,
        kv.workspace_bytes,
        kv.kv_capacity_bytes,
        tp=tp,
        dynamic=dynamic,
        make=make,
    )
    if len(_LEVELLED) > 8:
        _LEVELLED.clear()
    _LEVELLED[key] = lv
    return lv


def _split(reqs: RequestSet, idx: np.ndarray, **changes: Any) -> RequestSet:
    return replace(
        reqs,
        arrival_s=changes.get("arrival_s", reqs.arrival_s[idx]),
        input_len=reqs.input_len[idx],
        output_len=changes.get("output_len", reqs.output_len[idx]),
        arrival=changes.get("arrival", reqs.arrival),
    )


def _disaggregated(
    reqs: RequestSet, eng: EngineConfig, pricer: IterationPricer, dev: Device, kv: KVBudget,
    n: tuple[int, int], max_queue: int | None, run_kw: dict[str, Any],
) -> LoopLog:  # fmt: skip
    p, d = n
    if p < 1 or d < 1:
        raise ConfigError(f"--disaggregate needs at least one prefill and one decode instance, got {p}:{d}")
    if reqs.arrival == "closed":
        raise ConfigError(
            "--disaggregate needs open arrivals (poisson, offline or a trace), not a closed loop"
        )
    link = dev.interconnect
    if link is None:
        raise ConfigError(f"{dev.name} has no interconnect to send the KV cache between instances")
    K = len(reqs)
    first = np.full(K, np.nan)
    finish = np.full(K, np.nan)
    npre = np.zeros(K, dtype=np.int64)
    out = LoopLog(first, finish, reqs.arrival_s.copy(), npre, total_blocks=kv.total_blocks)
    out.request_energy_j = [0.0] * K
    ready = np.full(K, np.nan)

    def merge(idx: np.ndarray, lg: LoopLog) -> None:
        out.iterations += lg.iterations
        out.truncated = out.truncated or lg.truncated
        out.dynamic_j += lg.dynamic_j
        out.busy_s += lg.busy_s
        out.peak_power_w = max(out.peak_power_w, lg.peak_power_w)
        for i, e in zip(idx.tolist(), lg.request_energy_j, strict=True):
            out.request_energy_j[i] += e

    for j in range(p):  # prefill side: every request generates its first token only
        idx = np.arange(j, K, p)
        sub = _split(reqs, idx, output_len=np.ones(len(idx), dtype=np.int64))
        lg = run_engine(sub, eng, pricer, max_queue=max_queue, **run_kw)
        first[idx] = lg.first_token_s
        npre[idx] += lg.preemptions
        send = reqs.input_len[idx] * kv.kv_bytes_per_token / link.bandwidth_bytes_per_s + link.latency_s
        ready[idx] = lg.first_token_s + send
        merge(idx, lg)
    for j in range(d):  # decode side: the KV cache arrives with the request
        idx = np.arange(j, K, d)
        sub = _split(reqs, idx, arrival_s=ready[idx], arrival="trace")
        lg = run_engine(sub, eng, pricer, prefilled=True, max_queue=max_queue, **run_kw)
        finish[idx] = lg.finish_s
        npre[idx] += lg.preemptions
        merge(idx, lg)
        out.timeline += lg.timeline
    out.timeline.sort()
    return out


def _result(
    m: ModelSpec, dev: Device, eng: EngineConfig, tp: int, reqs: RequestSet, log: LoopLog, kv: KVBudget,
    slos: dict[str, float], notes: list[str],
) -> ServingResult:  # fmt: skip
    arr, fin = log.arrival_s, log.finish_s
    ok = np.isfinite(fin)
    done = int(np.sum(ok))
    t0 = float(np.nanmin(arr)) if np.any(np.isfinite(arr)) else 0.0
    t1 = float(np.max(fin[ok])) if done else t0
    span = max(t1 - t0, 1e-30)
    g, x = reqs.output_len.astype(float), reqs.input_len.astype(float)
    step, w = itl_samples(log.iterations)
    tl = np.asarray(log.timeline, dtype=float).reshape(-1, 5)
    util = tl[:, 1] / max(log.total_blocks, 1) if len(tl) else np.zeros(1)
    dt = np.diff(np.concatenate([[t0], tl[:, 0]])) if len(tl) else np.zeros(1)
    dec_tokens = float(np.sum((fin - log.first_token_s)[ok & (g > 1)]))
    r = ServingResult(
        model=m.name,
        hardware=dev.name,
        engine=eng.name,
        tp=tp,
        arrival=reqs.arrival,
        rate_per_s=reqs.rate_per_s,
        n_requests=len(reqs),
        completed=done,
        duration_s=span,
        request_throughput_per_s=done / span,
        output_throughput_tok_per_s=float(np.sum(g[ok])) / span,
        total_throughput_tok_per_s=float(np.sum(g[ok] + x[ok])) / span,
        ttft_s=Stats.of((log.first_token_s - arr)[np.isfinite(log.first_token_s)]),
        tpot_s=Stats.of(((fin - log.first_token_s) / np.maximum(g - 1, 1))[ok & (g > 1)]),
        itl_s=replace(Stats.of(step, w), mean=dec_tokens / max(float(np.sum((g - 1)[ok & (g > 1)])), 1.0)),
        e2e_latency_s=Stats.of((fin - arr)[ok]),
        mean_in_system=mean_in_system(arr, fin, t0, t1),
        slo=slos,
        slo_attainment=float("nan"),
        goodput_req_per_s=float("nan"),
        kv_blocks_total=log.total_blocks,
        kv_block_tokens=kv.block_tokens,
        kv_peak_utilization=float(np.max(util)),
        kv_mean_utilization=float(np.sum(util * dt) / max(float(np.sum(dt)), 1e-30)),
        preemptions=int(np.sum(log.preemptions)),
        iterations_priced=len(log.iterations),
        steps=int(sum(it[2] for it in log.iterations)),
        truncated=log.truncated,
        arrival_s=arr,
        first_token_s=log.first_token_s,
        finish_s=fin,
        input_len=x,
        output_len=g,
        request_preemptions=log.preemptions.astype(float),
        iterations=log.iterations,
        timeline=log.timeline,
        notes=notes + ([log.truncated] if log.truncated else []),
    )
    meets = r.meets_slo() if slos else ok
    return replace(r, slo_attainment=float(np.mean(meets)), goodput_req_per_s=float(np.sum(meets)) / span)


def with_energy(r: ServingResult, log: LoopLog, dev: Device, tp: int, instances: int) -> ServingResult:
    """The run's energy from the board power model (:mod:`hetsim.cost.power`): every device
    idles from the first arrival to the last event (waiting for requests included), the
    devices of an instance draw the active floor while its kernels run, plus the dynamic
    energy of the ops (per device, times ``tp``)."""
    n_dev = tp * instances
    t0 = float(np.nanmin(r.arrival_s)) if np.any(np.isfinite(r.arrival_s)) else 0.0
    ends = [t0 + r.duration_s if r.completed else t0] + [a + d for a, d, *_ in log.iterations[-1:]]
    window = max(max(ends) - t0, 1e-30)
    idle = n_dev * dev.static_power_w * window
    energy = idle + tp * (active_w(dev) * log.busy_s + log.dynamic_j)
    ok = np.isfinite(r.finish_s)
    per_req = np.asarray(log.request_energy_j, dtype=float)
    g = r.output_len
    return replace(
        r,
        n_devices=n_dev,
        energy_j=energy,
        energy_j_per_token=energy / max(float(np.sum(g[ok])), 1.0),
        request_energy_j_per_token=Stats.of((per_req / np.maximum(g, 1.0))[ok]),
        idle_energy_share=idle / energy if energy > 0 else float("nan"),
        busy_fraction=log.busy_s / (instances * window),
        avg_power_w=energy / (n_dev * window),
        peak_power_w=log.peak_power_w if log.iterations else dev.static_power_w,
        request_energy_j=per_req,
    )


__all__ = ["KVBudget", "ServingResult", "kv_budget", "per_request_metrics", "simulate_serving"]
