"""Priority scheduling (vLLM's ``--scheduling-policy priority``): waiting requests are admitted
by their priority value (lower first; a trace's ``priority`` column, 0 when none), then by
arrival; the running request with the highest value (the least urgent), newest first, is
preempted when KV blocks run out. Batches are formed as in ``fcfs``."""

from __future__ import annotations

from hetsim.serving.schedulers.base import Batch, KeyedQueue, Scheduler, mixed_batch, register
from hetsim.serving.state import EngineState, WaitQueue


@register
class Priority(Scheduler):
    name = "priority"
    summary = "admit by priority (lower first), then arrival; preempt the least urgent"
    source = "vLLM engine args --scheduling-policy priority (docs.vllm.ai engine args)"

    def queue(self, st: EngineState) -> WaitQueue:
        pri, arr = st.priority, st.arr
        return KeyedQueue(lambda i: (pri[i], arr[i]))

    def victim(self, st: EngineState) -> int:
        pri, arr, rid = st.priority, st.arr, st.rid
        return max((*st.dec, *st.pf), key=lambda j: (pri[j], arr[j], rid[j]))

    def form(self, st: EngineState, t: float) -> Batch:
        return mixed_batch(st, self, t, st.eng.max_num_batched_tokens)
