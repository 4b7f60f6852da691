"""Engines that run a model's PyTorch code directly: Hugging Face transformers (``generate`` on a
static batch, eager kernels) and gpt-fast (torch.compile, one sequence at a time)."""

from __future__ import annotations

from hetsim.engines.batching import EngineConfig
from hetsim.engines.host import Serving
from hetsim.engines.record import Engine

# Eager PyTorch: host time to issue one kernel (Python module code, the ATen dispatcher, the
# CUDA launch). Published orders of magnitude: ~5-25 us of CPU work per op before its kernel
# runs (jiahuanglin.xyz "From PyTorch op to kernel launch", layer-by-layer costs), 5-50 us per
# launch (mlhero "PyTorch eager vs compiled - the dispatch stack"). Calibrated: least squares in
# relative error on the 16 ML.ENERGY v1 A100 e2e_latency_avg rows (FastChat + HF transformers,
# batch 1-2); the A40 rows and every energy row are held out. Reproduced by
# hetsim.calibration.dispatch_fit.fit_kernel_dispatch.
EAGER_KERNEL_DISPATCH_S = 23.0e-6
_DISPATCH_FITTED_ON = (
    "kernel_dispatch_s: energy_published.csv ML.ENERGY v1 A100 e2e_latency_avg rows (16; FastChat + "
    "HF transformers, PyTorch 2.0.1, batch 1-2); held out: the A40 rows and the energy rows"
)
_DISPATCH_PROVENANCE = (
    "calibrated: " + _DISPATCH_FITTED_ON.split(": ", 1)[1] + "; order of magnitude from published "
    "eager dispatch costs, 5-25 us per op (jiahuanglin.xyz/all_lessons/gpu_kernel_serving/"
    "18_pytorch_to_kernel.html)"
)
# Kernels Hugging Face transformers' eager Llama layer launches beyond the op graph's 10
# (norm, qkv, attention, out, residual, norm, ffn_up, act, ffn_down, residual), counted from
# transformers v4.31 modeling_llama.py (the mid-2023 release PyTorch 2.0.1 ran with): LlamaRMSNorm
# is 8 kernels (to fp32, pow, mean, add eps, rsqrt, mul, to dtype, mul weight): +7 each, +14;
# separate q/k/v projections +2; rotary embedding (cos/sin cast and gather, then per q and k:
# mul, neg, cat, mul, add) +14; KV-cache torch.cat for K and V +2; eager attention (matmul,
# div, mask add, softmax, cast, matmul, contiguous) is 7 kernels for the graph's 1: +6;
# LlamaMLP separate gate/up projections and the gate product +2.
HF_EXTRA_KERNELS_PER_LAYER = 40
# both run the Hugging Face transformers model code
HF_REPEAT_KV = (
    "documented: Hugging Face transformers modeling_llama.py (4.31+, Llama-2) expands K and V to every "
    "query head (repeat_kv) before the attention product, so a GQA model's KV is read once per query head"
)


def static_batching(name: str, max_seqs: int, why: str) -> EngineConfig:
    """Request-level batching: a batch of up to ``max_seqs`` prompts runs to its last token
    before the next batch starts, the KV cache of every sequence held for its whole length."""
    return EngineConfig(
        name=name,
        scheduler="static",
        max_num_seqs=max_seqs,
        max_num_batched_tokens=16384,
        chunked_prefill=True,
        block_size=1,
        memory_utilization=0.9,
        reservation="max",
        provenance={
            "scheduler": f"documented: {why}",
            "max_num_seqs": "assumed: the batch a user passes; set it with --max-num-seqs",
            "max_num_batched_tokens": "assumed: the batch's prompts run as one forward pass; priced in "
            "passes of at most 16,384 tokens (a pass's cost is nearly additive in its tokens)",
            "chunked_prefill": "assumed: see max_num_batched_tokens",
            "block_size": "documented: no paged KV cache; a sequence's cache is one tensor",
            "reservation": "documented: the cache is sized for the batch's longest sequence",
            "memory_utilization": "assumed: 0.9 of device memory",
        },
    )


HF_TRANSFORMERS = Engine(
    "hf-transformers",
    "Hugging Face transformers generate() in eager PyTorch (v4.31-era Llama code, as ML.ENERGY v1 ran)",
    Serving(
        gqa_shared_kv=False,
        kernel_dispatch_s=EAGER_KERNEL_DISPATCH_S,
        extra_kernels_per_layer=HF_EXTRA_KERNELS_PER_LAYER,
    ),
    static_batching("hf-transformers", 32, "model.generate() pads a batch and runs it to the end"),
    r"hugging face transformers|hf transformers|fastchat|\btransformers\b",
    aliases=("transformers", "hf"),
    provenance={
        "kernel_dispatch_s": _DISPATCH_PROVENANCE,
        "extra_kernels_per_layer": "documented: counted from transformers v4.31 modeling_llama.py "
        "(RMSNorm, q/k/v, rotary, KV cat, eager attention, MLP): 40 kernels per layer beyond "
        "the op graph's 10 (engines/pytorch.py HF_EXTRA_KERNELS_PER_LAYER lists them)",
        "gqa_shared_kv": HF_REPEAT_KV,
        "step_overhead_s": "assumed: the device's calibrated per-step overhead",
    },
    fitted_on=_DISPATCH_FITTED_ON,
)

GPT_FAST = Engine(
    "gpt-fast",
    "pytorch-labs gpt-fast (torch.compile decode, one sequence)",
    Serving(kernel_dispatch_s=EAGER_KERNEL_DISPATCH_S, decode_graph=True, quantized_lm_head=True),
    static_batching("gpt-fast", 1, "generate.py decodes one prompt at a time (batch size 1)"),
    r"gpt-fast|torch\.compile",
    aliases=("gptfast",),
    provenance={
        "quantized_lm_head": "documented: pytorch-labs/gpt-fast quantize.py replaces every nn.Linear "
        "(the output projection included) with WeightOnlyInt8Linear / WeightOnlyInt4Linear; the "
        "nn.Embedding table stays 16-bit",
        "decode_graph": "documented: pytorch-labs/gpt-fast generate.py compiles decode_one_token "
        "with torch.compile(mode='reduce-overhead', fullgraph=True): a CUDA graph per decode "
        "step (one launch), captured at the run's own batch (no padding)",
        "kernel_dispatch_s": "calibrated on HF transformers (see hf-transformers): gpt-fast "
        "prefill is not compiled by default (--compile_prefill off), so it dispatches eagerly, "
        "one kernel per graph op (its model.py fuses wqkv and uses scaled_dot_product_attention)",
        "step_overhead_s": "assumed: the device's calibrated per-step overhead",
    },
    fitted_on="nothing: documented behaviour; no gpt-fast rows in the development set, its README "
    "tables are held out",
)

RECORDS = (HF_TRANSFORMERS, GPT_FAST)
