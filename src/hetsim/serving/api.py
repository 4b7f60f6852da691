"""The serving API: ``simulate_serving(model, hardware, requests, engine=...) -> ServingResult``.

It sizes the paged KV cache from the device memory the engine may use, checks every request
can ever be served, builds (and caches) the iteration-cost tables of
:mod:`hetsim.serving.pricing`, runs the event loop of :mod:`hetsim.serving.loop` on one engine
instance, or on separate prefill and decode instances (disaggregation, with the KV cache
sent over the device interconnect), and derives the result record.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from hetsim.cost.power import active_w
from hetsim.errors import ConfigError, MappingError
from hetsim.hardware.loader import get_hardware
from hetsim.hardware.spec import Device, Link
from hetsim.placement.policies import check_name, is_search
from hetsim.serving.budget import KVBudget, check_requests, get_pricer, kv_budget, with_drafter
from hetsim.serving.disagg import Pool, run_disaggregated, transfer_link
from hetsim.serving.dp_ranks import run_dp_ranks
from hetsim.serving.engine import EngineConfig, get_engine
from hetsim.serving.h2m2 import ALIASES, search_policy
from hetsim.serving.kvtiers import resolve_tiers
from hetsim.serving.loop import run_engine
from hetsim.serving.metrics import ServingResult, parse_slo, per_request_metrics
from hetsim.serving.model_switch import ModelMix, per_model, switching, with_slots
from hetsim.serving.placed import Levelled, build_levelled, serve_auto
from hetsim.serving.prefix import KVTier
from hetsim.serving.pricing import IterationPricer, OpPricer, build_pricer
from hetsim.serving.requests import RequestSet
from hetsim.serving.result import build_result, with_energy
from hetsim.serving.schedulers import get_scheduler
from hetsim.workload.dtypes import Precision
from hetsim.workload.expert_parallel import NO_EP, ExpertParallel
from hetsim.workload.footprint import (
    Parallel,
    footprint,
    split_weights,
)
from hetsim.workload.model import ModelSpec
from hetsim.workload.registry import get_model
from hetsim.workload.speculation import Speculation


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
    progress: Callable[[int], object] | None = None,
    policy: str = "primary",
    dynamic_placement: bool = True,
    scheduler: str | None = None,
    kv_tiers: tuple[KVTier, ...] | str | None = None,
    decode_hardware: Device | str | None = None,
    decode_tp: int | None = None,
    kv_link: Link | None = None,
    experts: ExpertParallel = NO_EP,
    speculation: Speculation | None = None,
    models: ModelMix | str | None = None,
) -> ServingResult:
    """Serve ``requests`` and return latency, throughput, goodput and KV-cache records.
    ``disaggregate=(p, d)``: p prefill instances of ``tp`` devices and d decode instances of
    ``decode_tp`` devices of ``decode_hardware`` (default: the same), requests spread
    round-robin, the KV cache of each prompt sent over ``kv_link`` (default: the device
    interconnect). ``policy``: a placement policy (``hetsim policies``) over the memory sides of
    a multi-tier system; with ``dynamic_placement`` the mapping follows the KV footprint
    (re-mapped, with migration charged), otherwise it is decided once for the largest
    footprint. ``scheduler``: replaces the engine's (``hetsim.serving.schedulers``).
    ``kv_tiers``: KV storage below the GPU for evicted prefixes and swapped sequences (a
    tuple, a ``--kv-offload`` text, or ``auto``: the device's own host and drive sides). ``auto``
    is the one choice of every command (:mod:`hetsim.placement.choose`): each of its candidates
    serves the requests, and the fastest (lowest mean request latency) among those whose engine
    can hold every request is kept. ``experts``: expert parallelism over the ``tp`` group, or
    with ``dp_attention`` over ``ep`` data-parallel ranks, each an engine instance of its own
    (:mod:`hetsim.serving.dp_ranks`). ``speculation``: speculative decoding, decode tokens priced
    per emitted token of a draft-and-verify step (:mod:`hetsim.serving.speculative`). ``models``:
    several models of ``model``'s architecture, one active at a time, the others' requests
    waiting for a switch (a :class:`ModelMix` or its ``--models`` text; see
    :mod:`hetsim.serving.model_switch`)."""
    m, dev = get_model(model), get_hardware(hardware)  # type: ignore[arg-type]
    prec = precision or Precision()
    eng = get_engine(engine)
    if scheduler is not None:
        get_scheduler(scheduler)  # an unknown name fails here, with the registered ones
        eng = eng.with_(scheduler=scheduler.strip().lower())
    slos = parse_slo(slo) if isinstance(slo, str) or slo is None else dict(slo)
    if isinstance(tp, bool) or not 1 <= tp <= 4096:
        raise ConfigError(f"--tp must be a whole number from 1 to 4,096, got {tp}")
    if max_queue is not None and max_queue < 0:
        raise ConfigError(f"--max-queue must be >= 0 requests, got {max_queue}")
    key = policy.strip().lower()
    key = check_name(ALIASES.get(key, key))
    _check_experts(m, tp, experts, disaggregate)
    if speculation is not None:
        speculation.drafter(m)  # a drafter the model cannot have fails here, in one line
        if disaggregate is not None:
            raise ConfigError("--spec with --disaggregate is not modelled; drop one of them")
    mix = ModelMix.parse(models) if isinstance(models, str) else models
    if mix is not None:
        mix.check(m, get_model)
        if disaggregate is not None or experts.dp > 1 or speculation is not None or key != "primary":
            raise ConfigError("--models serves one engine instance from the primary side: drop "
                              "--disaggregate, --dp-attention, --spec and --policy")  # fmt: skip
        eng = eng.with_(prefix_caching=False)  # one model's prefix KV is not another's
    run = _Run(m, dev, prec, eng, tp, requests, slos, disaggregate, max_queue, op_pricer, progress,
               dynamic_placement, kv_tiers, decode_hardware, decode_tp, kv_link, experts,
               speculation, mix)  # fmt: skip
    if key == "auto":  # the one choice of every command, each candidate served (serving/placed.py)
        return serve_auto(dev, lambda name: _serve(name, run))
    return _serve(key, run)


@dataclass(frozen=True)
class _Run:
    """What :func:`simulate_serving` was asked, checked (every placement candidate serves it)."""

    m: ModelSpec
    dev: Device
    prec: Precision
    eng: EngineConfig
    tp: int
    requests: RequestSet
    slos: dict[str, float]
    disaggregate: tuple[int, int] | None
    max_queue: int | None
    op_pricer: OpPricer | None
    progress: Callable[[int], object] | None
    dynamic_placement: bool
    kv_tiers: tuple[KVTier, ...] | str | None
    decode_hardware: Device | str | None
    decode_tp: int | None
    kv_link: Link | None
    experts: ExpertParallel = NO_EP
    speculation: Speculation | None = None
    models: ModelMix | None = None


def _check_experts(m: ModelSpec, tp: int, experts: ExpertParallel, disaggregate: Any) -> None:
    """Expert parallelism serve-sim prices: over the TP group of one engine instance, or over
    DP-attention ranks (one engine instance each, one device a rank: TP inside a rank is priced
    by analyze, not here)."""
    if experts.dp_attention and tp != 1:
        raise ConfigError(
            f"--dp-attention in serve-sim runs attention whole on each of the --ep {experts.ep} devices "
            "(one engine instance a device); give --tp 1 (TP inside a DP rank is analyze's, not serve-sim's)"
        )
    experts.check(m, tp)
    if experts.ep > 1 and disaggregate is not None:
        raise ConfigError("--ep with --disaggregate is not modelled; serve one pool with --ep, or drop --ep")


def _serve(key: str, run: _Run) -> ServingResult:
    """Serve the requests under the placement policy ``key``."""
    m, dev, prec, eng, tp, requests = run.m, run.dev, run.prec, run.eng, run.tp, run.requests
    op_pricer, max_queue, disaggregate = run.op_pricer, run.max_queue, run.disaggregate
    decode_hardware, decode_tp = run.decode_hardware, run.decode_tp
    if key != "primary" and (run.speculation is not None or run.experts.dp > 1):
        what = "--spec" if run.speculation is not None else "--dp-attention"
        raise MappingError(f"{what} with placement policy {key} is not modelled; give --policy primary")
    kv = kv_budget(m, dev, prec, eng, tp, all_sides=key != "primary", experts=run.experts)
    kv = with_drafter(kv, m, prec, tp, run.speculation, run.experts, dev)
    kv = with_slots(kv, run.models.slots) if run.models is not None else kv
    check_requests(requests, m, eng, kv)
    longest = int(np.max(requests.input_len + requests.output_len))
    pricer = get_pricer(m, dev, prec, eng, tp, longest, op_pricer, experts=run.experts,
                        speculation=run.speculation)  # fmt: skip
    tiers = resolve_tiers(run.kv_tiers, dev, key)
    run_kw: dict[str, Any] = {"total_blocks": kv.total_blocks, "kv_bytes_per_token": kv.kv_bytes_per_token,
                              "power_w": (dev.static_power_w, active_w(dev), tp), "tiers": tiers}  # fmt: skip
    notes: list[str] = []
    if tiers:
        shown = [
            f"{t.name} {t.capacity_bytes / 1e9:,.0f} GB at {t.bandwidth_bytes_per_s / 1e9:g} GB/s"
            for t in tiers
        ]
        notes.append("KV tiers below the GPU: " + ", ".join(shown))
    if key != "primary":
        run_kw["levels"] = _levelled(m, dev, prec, eng, tp, longest, kv, key, run.dynamic_placement,
                                     run.experts)  # fmt: skip
        notes.append(f"placement {key} ({'dynamic' if run.dynamic_placement else 'static'})")
    if run.speculation is not None:
        notes.append(run.speculation.label + " (ITL per emitted token)")
    ranks = run.experts.dp
    if ranks > 1:
        run_kw["power_w"] = (dev.static_power_w, active_w(dev), 1)
        log = run_dp_ranks(requests, eng, pricer, ranks, run_kw, max_queue, run.progress)
        instances = ranks
        notes.append(f"DP attention: {ranks} ranks of one {dev.name} each, requests round-robin, "
                     f"experts EP over all {ranks}; lockstep at MoE layers not modelled")  # fmt: skip
    elif disaggregate is None:
        if run.models is not None:
            inner = get_scheduler(eng.scheduler)
            sw, path = switching(run.models, dev, kv.weight_bytes, len(requests), inner)
            run_kw["scheduler"] = sw
            notes.append(f"{len(run.models.names)} models, one active at a time; prefix caching off")
        log = run_engine(requests, eng, pricer, max_queue=max_queue, progress=run.progress, **run_kw)
        instances = 1
    else:
        dev_d = get_hardware(decode_hardware) if decode_hardware is not None else dev
        tp_d = tp if decode_tp is None else decode_tp
        pre = Pool(dev, tp, disaggregate[0], eng, pricer, kv, run_kw)
        dec = _decode_pool(m, dev_d, prec, eng, tp_d, disaggregate[1], requests, op_pricer, tiers)
        link, where = transfer_link(dev, dev_d, run.kv_link)
        log = run_disaggregated(requests, pre, dec, link, max_queue)
        notes.append(
            f"disaggregated: {pre.count} prefill instances of {dev.name} x{tp} + {dec.count} decode "
            f"instances of {dev_d.name} x{tp_d}; {where}"
        )
        instances = pre.count + dec.count
    r = build_result(m, dev, eng, tp, requests, log, kv.block_tokens, run.slos, notes + _mix_notes(requests))
    r = with_energy(r, log, dev, tp, instances)
    if run.models is not None:
        figs = per_model(run.models.names, sw.model, r.first_token_s, r.finish_s, r.arrival_s)
        r = replace(r, switching={"switches": sw.switches, "switch_s": sw.switch_s, "source": path.source,
                                  "target": path.target, "bandwidth_bytes_per_s": path.bandwidth_bytes_per_s,
                                  "model_bytes_per_device": kv.weight_bytes, "slots": sw.slots,
                                  "per_model": figs})  # fmt: skip
    return replace(
        r, policy=key, remaps=log.remaps, migrated_bytes=log.migrated_bytes, migration_s=log.migration_s,
        scheduler=eng.scheduler, prefix_cache=log.prefix,
        tokens_per_step=run.speculation.tokens_per_step if run.speculation is not None else 1.0,
    )  # fmt: skip


def _decode_pool(
    m: ModelSpec, dev: Device, prec: Precision, eng: EngineConfig, tp: int, count: int, reqs: RequestSet,
    op_pricer: OpPricer | None, tiers: tuple[KVTier, ...],
) -> Pool:  # fmt: skip
    if isinstance(tp, bool) or not 1 <= tp <= 4096:
        raise ConfigError(f"--decode-tp must be a whole number from 1 to 4,096, got {tp}")
    kv = kv_budget(m, dev, prec, eng, tp)
    check_requests(reqs, m, eng, kv)
    longest = int(np.max(reqs.input_len + reqs.output_len))
    pricer = get_pricer(m, dev, prec, eng, tp, longest, op_pricer if tp else None)
    run_kw = {"total_blocks": kv.total_blocks, "kv_bytes_per_token": kv.kv_bytes_per_token,
              "power_w": (dev.static_power_w, active_w(dev), tp), "tiers": tiers}  # fmt: skip
    return Pool(dev, tp, count, eng, pricer, kv, run_kw)


def _mix_notes(reqs: RequestSet) -> list[str]:
    """What a named mix's lengths rest on, when some of it is assumed."""
    if not reqs.mix or reqs.mix == "sessions":
        return []
    from hetsim.serving.mixes import get_mix

    mx = get_mix(reqs.mix)
    return [f"request mix {mx.name}: {', '.join(mx.assumed)} assumed ({mx.source})"] if mx.assumed else []


_LEVELLED: dict[tuple[Any, ...], Levelled] = {}


def _levelled(
    m: ModelSpec, dev: Device, prec: Precision, eng: EngineConfig, tp: int, longest: int, kv: KVBudget,
    policy: str, dynamic: bool, experts: ExpertParallel = NO_EP,
) -> Levelled:  # fmt: skip
    ctx = 1 << max(10, math.ceil(math.log2(max(longest, 2))))
    key = (id(m), id(dev), prec, tp, eng.max_num_batched_tokens, eng.max_num_seqs, ctx, policy, dynamic,
           kv.kv_capacity_bytes, experts)  # fmt: skip
    hit = _LEVELLED.get(key)
    if hit is not None and hit.device is dev:
        return hit
    fp = footprint(m, prec, 1, eng.max_num_batched_tokens, Parallel(tp=tp, experts=experts))
    weights = split_weights(m, prec, fp, tp)

    def make(opp: OpPricer) -> IterationPricer:
        return build_pricer(
            m, dev, prec, tp=tp, max_tokens=eng.max_num_batched_tokens, max_seqs=eng.max_num_seqs,
            max_context=ctx, op_pricer=opp, experts=experts,
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


__all__ = ["KVBudget", "ServingResult", "kv_budget", "per_request_metrics", "simulate_serving"]
