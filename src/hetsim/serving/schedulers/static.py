"""Static (request-level) batching, as a model's ``generate()`` runs it (Hugging Face
transformers, gpt-fast, the offload engines): when the engine is idle it takes up to
``max_num_seqs`` waiting requests, prefills their prompts, then decodes until the longest is
done. A sequence that finishes early stays in the batch (padding, still computed) until the
batch ends; requests arriving meanwhile wait for the next batch (Orca, Yu et al., OSDI 2022,
contrasts continuous batching with this). A batch is sized to fit: every sequence holds the KV
blocks of its whole length from admission, whatever the engine's reservation, so nothing is
preempted (the padding of finished sequences is computed but its KV is not counted)."""

from __future__ import annotations

from hetsim.serving.schedulers.base import Batch, Scheduler, continue_prefills, register
from hetsim.serving.state import EngineState


@register
class Static(Scheduler):
    name = "static"
    summary = "a batch of waiting requests runs to its longest output before the next starts"
    source = "transformers generate() on a padded batch; Orca (OSDI 2022) Section 2 (request-level batching)"

    def form(self, st: EngineState, t: float) -> Batch:
        st.hold_batch = True
        w, pool = st.waiting, st.pool
        if not st.dec and not st.pf:  # the engine is idle: a new batch
            while len(w) and st.running() < st.eng.max_num_seqs:
                i = w.peek()
                if st.swapped[i] or st.prefilled:
                    break
                if st.admit_prefill(i, pool.free) is None:
                    break
                w.pop()
        chunks: list[tuple[int, int]] = []
        continue_prefills(st, st.eng.max_num_batched_tokens, pool.total, chunks)
        return Batch(chunks, not chunks)
