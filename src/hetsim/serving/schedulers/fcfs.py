"""First come, first served continuous batching (vLLM V1, TensorRT-LLM in-flight batching,
LMDeploy, llama.cpp): every iteration runs all decoding sequences, then the running prefills'
next chunks, then new requests in arrival order, within the token budget; the running request
admitted last is preempted when KV blocks run out (vLLM V1 pops the tail of its running queue,
which a preempted request rejoins at the tail when it is admitted again). With chunked prefill
this is Sarathi-Serve's stall-free batching with the whole token budget as the chunk."""

from __future__ import annotations

from hetsim.serving.schedulers.base import Batch, Scheduler, last_admitted, mixed_batch, register
from hetsim.serving.state import EngineState


@register
class FCFS(Scheduler):
    name = "fcfs"
    summary = "decodes, then prefill chunks, first come first served, in one iteration"
    source = ("vLLM V1 scheduler (vllm/v1/core/sched/scheduler.py: running requests, then waiting); "
              "TensorRT-LLM in-flight batching")  # fmt: skip

    def victim(self, st: EngineState) -> int:
        return last_admitted(st)

    def form(self, st: EngineState, t: float) -> Batch:
        return mixed_batch(st, self, t, st.eng.max_num_batched_tokens)
