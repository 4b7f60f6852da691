"""Prefill/decode disaggregation (DistServe, Splitwise, Mooncake): separate pools of engine
instances for prompts and for generation, possibly on different hardware, the KV cache of
each prompt sent from its prefill instance to a decode instance over the link between them.

Requests go round-robin over the prefill instances, which run each prompt to its first token
(output length 1); the request then reaches its decode instance (round-robin) once its KV cache
has crossed the link: ``P x KV bytes per token / (min(tp_prefill, tp_decode) x link bandwidth)
+ latency`` (each device of the smaller group sends or receives its shard in parallel; link
contention between transfers is not modelled). The decode instances admit it with its cache
(``prefilled``). Each pool is priced on its own hardware, and its energy on that hardware's
power model.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from hetsim.engines.batching import EngineConfig
from hetsim.errors import ConfigError
from hetsim.hardware.spec import Device, Link
from hetsim.serving.budget import KVBudget
from hetsim.serving.loop import run_engine
from hetsim.serving.pricing import IterationPricer
from hetsim.serving.requests import RequestSet
from hetsim.serving.runlog import LoopLog


@dataclass(frozen=True, slots=True)
class Pool:
    """``count`` instances of one engine on ``tp`` devices of one kind each."""

    dev: Device
    tp: int
    count: int
    eng: EngineConfig
    pricer: IterationPricer
    kv: KVBudget
    run_kw: dict[str, Any]

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not 1 <= self.count <= 4096:
            raise ConfigError(f"--disaggregate instance counts must be whole numbers from 1 to 4,096, "
                              f"got {self.count}")  # fmt: skip


def transfer_link(prefill: Device, decode: Device, given: Link | None) -> tuple[Link, str]:
    """The link the KV cache crosses, and a note saying where it came from."""
    if given is not None:
        return given, f"KV transfer over {given.name} ({given.bandwidth_bytes_per_s / 1e9:g} GB/s), as given"
    links = [d.interconnect for d in (prefill, decode)]
    if any(lk is None for lk in links):
        missing = prefill.name if links[0] is None else decode.name
        raise ConfigError(f"{missing} has no interconnect to send the KV cache between instances; "
                          "give one with --kv-link (e.g. 50GB/s)")  # fmt: skip
    slow = min((lk for lk in links if lk is not None), key=lambda lk: lk.bandwidth_bytes_per_s)
    where = "the device interconnect" if prefill is decode else "assumed: the slower of the two interconnects"
    return slow, f"KV transfer over {slow.name} ({slow.bandwidth_bytes_per_s / 1e9:g} GB/s), {where}"


def split_requests(reqs: RequestSet, idx: np.ndarray, **changes: Any) -> RequestSet:
    """The requests ``idx`` of ``reqs`` (``changes``: arrays or fields replaced)."""
    return replace(
        reqs,
        arrival_s=changes.get("arrival_s", reqs.arrival_s[idx]),
        input_len=reqs.input_len[idx],
        output_len=changes.get("output_len", reqs.output_len[idx]),
        arrival=changes.get("arrival", reqs.arrival),
        prefix_id=None if reqs.prefix_id is None else reqs.prefix_id[idx],
        prefix_tokens=None if reqs.prefix_tokens is None else reqs.prefix_tokens[idx],
        priority=None if reqs.priority is None else reqs.priority[idx],
    )


def merge_log(out: LoopLog, idx: np.ndarray, lg: LoopLog) -> None:
    """Add one instance's log (of the requests ``idx``) to ``out``: records, energy, preemptions."""
    out.iterations += lg.iterations
    out.records += lg.records
    out.stalls += lg.stalls
    out.steps += lg.steps
    out.truncated = out.truncated or lg.truncated
    out.dynamic_j += lg.dynamic_j
    out.busy_s += lg.busy_s
    out.peak_power_w = max(out.peak_power_w, lg.peak_power_w)
    out.preemptions[idx] += lg.preemptions
    for i, e in zip(idx.tolist(), lg.request_energy_j, strict=True):
        out.request_energy_j[i] += e


def run_disaggregated(
    reqs: RequestSet, prefill: Pool, decode: Pool, link: Link, max_queue: int | None
) -> LoopLog:
    """Serve ``reqs`` on the two pools (see the module docstring)."""
    if reqs.arrival == "closed" or reqs.follows is not None:
        raise ConfigError(
            "--disaggregate needs open arrivals (poisson, offline or a trace), not a closed loop or sessions"
        )
    K = len(reqs)
    if max(prefill.count, decode.count) > K:
        raise ConfigError(
            f"--disaggregate {prefill.count}:{decode.count} has more instances than the {K} requests"
        )
    out = LoopLog(total_blocks=decode.kv.total_blocks)
    out.first_token_s, out.finish_s = np.full(K, np.nan), np.full(K, np.nan)
    out.arrival_s, out.preemptions = reqs.arrival_s.copy(), np.zeros(K, dtype=np.int64)
    out.request_energy_j = [0.0] * K
    ready = np.full(K, np.nan)
    kv_token_bytes = prefill.kv.kv_bytes_per_token * prefill.tp  # the whole model's, every device
    per_s = min(prefill.tp, decode.tp) * link.bandwidth_bytes_per_s
    busy = {"prefill": 0.0, "decode": 0.0}
    dyn = dict(busy)

    def merge(idx: np.ndarray, lg: LoopLog, side: str) -> None:
        merge_log(out, idx, lg)
        busy[side] += lg.busy_s
        dyn[side] += lg.dynamic_j

    for j in range(prefill.count):  # prefill side: every request generates its first token only
        idx = np.arange(j, K, prefill.count)
        sub = split_requests(reqs, idx, output_len=np.ones(len(idx), dtype=np.int64))
        lg = run_engine(sub, prefill.eng, prefill.pricer, max_queue=max_queue, **prefill.run_kw)
        out.first_token_s[idx] = lg.first_token_s
        ready[idx] = lg.first_token_s + reqs.input_len[idx] * kv_token_bytes / per_s + link.latency_s
        merge(idx, lg, "prefill")
    for j in range(decode.count):  # decode side: the KV cache arrives with the request
        idx = np.arange(j, K, decode.count)
        sub = split_requests(reqs, idx, arrival_s=ready[idx], arrival="trace")
        if not np.any(np.isfinite(sub.arrival_s)):
            continue  # every prompt of this instance was cut off on the prefill side
        lg = run_engine(sub, decode.eng, decode.pricer, prefilled=True, max_queue=max_queue, **decode.run_kw)
        out.finish_s[idx] = lg.finish_s
        merge(idx, lg, "decode")
        out.timeline += lg.timeline
    out.timeline.sort()
    if prefill.dev is not decode.dev or prefill.tp != decode.tp:
        out.groups = [
            (prefill.dev, prefill.tp, prefill.count, busy["prefill"], dyn["prefill"]),
            (decode.dev, decode.tp, decode.count, busy["decode"], dyn["decode"]),
        ]
    return out
