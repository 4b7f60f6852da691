"""Data-parallel attention ranks (``--ep N --dp-attention``, the DeepSeek-V3 / SGLang and vLLM
deployment): each of the N devices is an engine instance with its own scheduler, waiting queue
and KV cache, serving its own requests; the MoE layers are expert parallel over all N, a
token's hidden state dispatched to its experts' devices and combined back by all-to-all.

Requests are dealt round-robin over the ranks (SGLang's DP controller's default
``--load-balance-method round_robin``, python/sglang/srt/managers/data_parallel_controller.py).
Each rank is priced by the tables of :mod:`hetsim.serving.pricing` built with the layout
(:class:`~hetsim.workload.expert_parallel.ExpertParallel`, ``dp_attention``): attention, dense
layers and the LM head on the rank's own tokens, the MoE layers on the tokens of every rank
(each rank taken to carry as many as this one) with the all-to-alls priced on the
interconnect. Not modelled: the ranks' lockstep (a MoE layer waits for the busiest rank, and
an idle rank runs empty passes to join the collective); the ranks are simulated one after the
other, each as if the others carried its own load.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hetsim.engines.batching import EngineConfig
from hetsim.errors import ConfigError
from hetsim.serving.disagg import merge_log, split_requests
from hetsim.serving.loop import run_engine
from hetsim.serving.pricing import IterationPricer
from hetsim.serving.requests import RequestSet
from hetsim.serving.runlog import LoopLog


def run_dp_ranks(
    reqs: RequestSet, eng: EngineConfig, pricer: IterationPricer, ranks: int, run_kw: dict[str, Any],
    max_queue: int | None, progress: Any = None,
) -> LoopLog:  # fmt: skip
    """Serve ``reqs`` on ``ranks`` data-parallel engine instances (see the module docstring)."""
    if reqs.arrival == "closed" or reqs.follows is not None:
        raise ConfigError(
            "--dp-attention needs open arrivals (poisson, offline or a trace), not a closed loop or sessions"
        )
    K = len(reqs)
    if ranks > K:
        raise ConfigError(f"--ep {ranks} --dp-attention has more ranks than the {K} requests; send more")
    out = LoopLog(total_blocks=int(run_kw["total_blocks"]))
    out.first_token_s, out.finish_s = np.full(K, np.nan), np.full(K, np.nan)
    out.arrival_s, out.preemptions = reqs.arrival_s.copy(), np.zeros(K, dtype=np.int64)
    out.request_energy_j = [0.0] * K
    for j in range(ranks):
        idx = np.arange(j, K, ranks)
        lg = run_engine(
            split_requests(reqs, idx), eng, pricer, max_queue=max_queue, progress=progress, **run_kw
        )
        out.first_token_s[idx] = lg.first_token_s
        out.finish_s[idx] = lg.finish_s
        merge_log(out, idx, lg)
        out.timeline += lg.timeline
        out.kv_peak_blocks = max(out.kv_peak_blocks, lg.kv_peak_blocks)
        out.thinned = out.thinned or lg.thinned
    out.timeline.sort()
    out.iterations.sort()
    return out
