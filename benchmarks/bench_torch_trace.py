"""PyTorch ingestion speed: build a 7B Hugging Face config (Llama-2-7B's shape) on the meta
device and trace one prefill of 512 tokens (target: under 30 s, the transformers import
included). Skipped without the torch extra."""

from __future__ import annotations

import time

LLAMA2_7B = dict(
    model_type="llama", hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
    num_attention_heads=32, num_key_value_heads=32, vocab_size=32000, max_position_embeddings=4096,
)  # fmt: skip


def run() -> dict[str, float]:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return {}
    from hetsim.ingest.hf_trace import trace_hf

    t = time.perf_counter()
    g = trace_hf(LLAMA2_7B, "prefill", batch=1, q_len=512, context=512)
    first = time.perf_counter() - t
    t = time.perf_counter()
    trace_hf(LLAMA2_7B, "decode", batch=1, context=513)
    again = time.perf_counter() - t
    return {
        "llama2-7b config: build on meta + trace prefill 512, first call [s] (target < 30)": first,
        "llama2-7b config: build + trace one decode step, warm [s]": again,
        "traced parameters [G]": g.params / 1e9,
    }
