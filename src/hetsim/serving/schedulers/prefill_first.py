"""Prefill-first (vLLM V0's default, SGLang without mixed chunks, TGI's router): an iteration
runs prefill work alone whenever there is some (the running prefills' chunks, then new requests
in arrival order); the decoding sequences wait for it and run when no prefill is pending."""

from __future__ import annotations

from hetsim.serving.schedulers.base import (
    Batch,
    Scheduler,
    admit_waiting,
    continue_prefills,
    make_room_for_decode,
    register,
)
from hetsim.serving.state import EngineState


@register
class PrefillFirst(Scheduler):
    name = "prefill-first"
    summary = "an iteration of prefill whenever a prompt waits, else a decode iteration"
    source = ("vLLM V0 vllm/core/scheduler.py _schedule_default; SGLang --enable-mixed-chunk off "
              "(docs.sglang.ai server arguments)")  # fmt: skip

    def form(self, st: EngineState, t: float) -> Batch:
        chunks: list[tuple[int, int]] = []
        cap = st.pool.total
        room = continue_prefills(st, st.eng.max_num_batched_tokens, cap, chunks)
        admit_waiting(st, room, cap, chunks, mixes=False, t=t)
        if chunks:
            return Batch(chunks, False)
        make_room_for_decode(st, self)
        return Batch([], True)
