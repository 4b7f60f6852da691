"""Shortest job first: waiting requests are admitted in order of their total tokens (prompt plus
output), the shortest first, and the running request with the most work left is preempted
first. The output length is the request's own (an oracle, as a length predictor at its best:
Fu et al., "Efficient LLM Scheduling by Learning to Rank", NeurIPS 2024, approximate it);
batches are formed as in ``fcfs``."""

from __future__ import annotations

from hetsim.serving.schedulers.base import Batch, KeyedQueue, Scheduler, mixed_batch, register
from hetsim.serving.state import EngineState, WaitQueue


@register
class ShortestJob(Scheduler):
    name = "shortest-job"
    summary = "admit the request with the fewest prompt + output tokens first (known lengths)"
    source = "shortest-job-first with oracle output lengths (Fu et al., NeurIPS 2024, learning to rank)"

    def queue(self, st: EngineState) -> WaitQueue:
        P, G = st.P, st.G
        return KeyedQueue(lambda i: (P[i] + G[i], 0.0))

    def victim(self, st: EngineState) -> int:
        def left(j: int) -> tuple[int, int]:
            return (st.target[j] - st.done[j] + st.G[j] - st.gen_now(j), st.rid[j])

        return max((*st.dec, *st.pf), key=left)

    def form(self, st: EngineState, t: float) -> Batch:
        return mixed_batch(st, self, t, st.eng.max_num_batched_tokens)
