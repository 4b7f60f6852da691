"""Serving engines without development rows of their own: SGLang, LMDeploy (TurboMind), Hugging
Face Text Generation Inference and llama.cpp's server. Their knobs are documented defaults or
stated assumptions; none is fitted, so their predictions are unvalidated."""

from __future__ import annotations

from hetsim.engines.batching import EngineConfig
from hetsim.engines.host import Serving
from hetsim.engines.pytorch import EAGER_KERNEL_DISPATCH_S
from hetsim.engines.record import Engine

_SGL = "https://docs.sglang.ai/backend/server_arguments.html"
_TGI = "https://huggingface.co/docs/text-generation-inference/basic_tutorials/launcher"
_LCPP = "https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md"
_LMD = "https://lmdeploy.readthedocs.io/en/latest/api/pipeline.html (TurbomindEngineConfig)"
_UNFIT = "nothing: documented defaults and assumptions; no rows of this engine in the development set"
_EAGER_PREFILL = (
    "calibrated on HF transformers (see hf-transformers): prefill runs eagerly, one kernel per op"
)

SGLANG = Engine(
    "sglang",
    "SGLang runtime (SRT) with RadixAttention, default server arguments",
    Serving(
        kernel_dispatch_s=EAGER_KERNEL_DISPATCH_S,
        decode_graph=True,
        graph_batch_sizes=(1, 2, 4, *range(8, 161, 8)),
    ),
    EngineConfig(
        name="sglang",
        scheduler="prefill-first",
        max_num_seqs=1024,
        max_num_batched_tokens=8192,
        chunked_prefill=True,
        block_size=1,
        memory_utilization=0.88,
        reservation="on_demand",
        preemption="recompute",
        prefix_caching=True,
        step_overhead_s=1.0e-3,
        provenance={
            "scheduler": f"docs: SGLang --enable-mixed-chunk is off by default, so a prefill batch runs "
            f"on its own, before the running decodes ({_SGL})",
            "max_num_seqs": "assumed: SGLang derives --max-running-requests from memory; 1024 as a cap",
            "max_num_batched_tokens": f"docs: SGLang --chunked-prefill-size 8192 on large GPUs ({_SGL})",
            "block_size": f"docs: SGLang --page-size default 1 ({_SGL})",
            "memory_utilization": f"docs: SGLang --mem-fraction-static about 0.88 at TP 1-4 ({_SGL})",
            "prefix_caching": "docs: SGLang RadixAttention prefix cache is on by default",
            "preemption": "docs: SGLang retracts requests and recomputes them when the KV pool is full",
            "step_overhead_s": "assumed: overlapped CPU scheduler, about 1 ms a step (no SGLang rows)",
            "request_overhead_s": "assumed: 0, the front end not modelled (no SGLang rows)",
        },
    ),
    r"sglang",
    provenance={
        "decode_graph": f"docs: SGLang captures decode CUDA graphs unless --disable-cuda-graph ({_SGL})",
        "graph_batch_sizes": "assumed: 1, 2, 4 and multiples of 8 up to --cuda-graph-max-bs, taken as "
        "160 (its value on large GPUs varies by release)",
        "kernel_dispatch_s": _EAGER_PREFILL,
    },
    fitted_on=_UNFIT,
)

LMDEPLOY = Engine(
    "lmdeploy",
    "LMDeploy TurboMind engine (v0.1 onwards)",
    Serving(first_token_decode_steps=1),
    EngineConfig(
        name="lmdeploy",
        scheduler="fcfs",
        max_num_seqs=128,
        max_num_batched_tokens=8192,
        chunked_prefill=True,
        block_size=64,
        memory_utilization=0.8,
        utilization_of_free=True,
        reservation="on_demand",
        preemption="recompute",
        prefix_caching=False,
        provenance={
            "scheduler": "docs: TurboMind's persistent batch runs new requests' context tokens together "
            "with the running generation in one forward pass",
            "max_num_seqs": f"docs: max_batch_size 128 ({_LMD}; later releases pick it by GPU)",
            "max_num_batched_tokens": f"docs: max_prefill_token_num 8192 ({_LMD})",
            "chunked_prefill": "docs: a prompt longer than max_prefill_token_num is split over iterations",
            "block_size": f"docs: cache_block_seq_len 64 ({_LMD})",
            "memory_utilization": f"docs: cache_max_entry_count 0.8 of the free memory ({_LMD})",
            "utilization_of_free": "docs: cache_max_entry_count is a share of the memory free after "
            "the weights are loaded (v0.2.1 onwards)",
            "prefix_caching": f"docs: enable_prefix_caching default False ({_LMD})",
            "step_overhead_s": "assumed: 0 beyond the device's kernel model (C++ batch loop; no rows)",
        },
    ),
    r"lmdeploy|turbomind",
    aliases=("turbomind",),
    provenance={
        "first_token_decode_steps": "derived: LMDeploy TurboMind's context phase fills the KV cache "
        "and the first token comes from the next decode step (lmdeploy.csv FTL rows at batch 1)",
        "gqa_shared_kv": "assumed: TurboMind's decode attention reads a KV head once per group",
    },
)

TGI = Engine(
    "tgi",
    "Hugging Face Text Generation Inference v3 (flashinfer attention, chunked prefill, prefix caching)",
    Serving(
        kernel_dispatch_s=EAGER_KERNEL_DISPATCH_S, decode_graph=True, graph_batch_sizes=(1, 2, 4, 8, 16, 32)
    ),
    EngineConfig(
        name="tgi",
        scheduler="prefill-first",
        max_num_seqs=1024,
        max_num_batched_tokens=4096,
        chunked_prefill=True,
        block_size=1,
        memory_utilization=0.95,
        reservation="on_demand",
        preemption="recompute",
        prefix_caching=True,
        step_overhead_s=1.0e-3,
        provenance={
            "scheduler": "docs: the router adds queued requests with a prefill of their own, the "
            "running batch waiting for it (router/src/infer, waiting_served_ratio, max_waiting_tokens)",
            "max_num_seqs": "assumed: --max-batch-size unset (limited by tokens); 1024 as a cap",
            "max_num_batched_tokens": f"docs: --max-batch-prefill-tokens default 4096 ({_TGI})",
            "chunked_prefill": "docs: TGI v3 chunks long prompts (release notes, December 2024)",
            "block_size": "docs: server/text_generation_server/models/globals.py BLOCK_SIZE = 1 with "
            "the flashinfer attention backend (v3 default)",
            "memory_utilization": "assumed: --cuda-memory-fraction 1.0 less a 5% margin",
            "prefix_caching": "docs: TGI v3 enables prefix caching by default",
            "step_overhead_s": "assumed: Rust router + Python model server, about 1 ms a step",
        },
    ),
    r"text-generation-inference|\btgi\b",
    aliases=("text-generation-inference",),
    provenance={
        "decode_graph": f"docs: --cuda-graphs default 1,2,4,8,16,32 ({_TGI})",
        "graph_batch_sizes": f"docs: --cuda-graphs default 1,2,4,8,16,32 ({_TGI})",
        "kernel_dispatch_s": _EAGER_PREFILL,
    },
    fitted_on=_UNFIT,
)

LLAMA_CPP = Engine(
    "llama.cpp",
    "llama.cpp llama-server (CUDA backend), continuous batching over fixed per-slot KV regions",
    Serving(decode_graph=True, graph_batch_sizes=(1,)),
    EngineConfig(
        name="llama.cpp",
        scheduler="fcfs",
        max_num_seqs=4,
        max_num_batched_tokens=2048,
        chunked_prefill=True,
        block_size=1,
        memory_utilization=0.9,
        reservation="max",
        preemption="recompute",
        prefix_caching=True,
        provenance={
            "scheduler": f"docs: continuous batching (--cont-batching) is on by default: every busy "
            f"slot's decode token and prompt chunks go into one llama_decode call ({_LCPP})",
            "max_num_seqs": f"docs: --parallel slots; 4 when left to auto in recent releases ({_LCPP})",
            "max_num_batched_tokens": f"docs: --batch-size default 2048 logical tokens per pass ({_LCPP})",
            "chunked_prefill": "docs: a prompt is processed in chunks of --batch-size tokens",
            "block_size": "docs: the KV cache is a ring of per-token cells, not pages",
            "reservation": "docs: each slot owns n_ctx / n_parallel cells for its whole life (kv_unified "
            "off); modelled as the request's whole length reserved at admission",
            "prefix_caching": "docs: cache_prompt reuses a slot's matching prompt prefix (default on)",
            "memory_utilization": "assumed: -c sized to 90% of device memory",
        },
    ),
    r"llama\.cpp|llama-server|llamacpp",
    aliases=("llamacpp", "llama-server"),
    provenance={
        "decode_graph": "docs: ggml-cuda replays a CUDA graph for single-token decode (GGML_CUDA_GRAPHS, "
        "default on since 2024) and launches eagerly for larger batches",
        "graph_batch_sizes": "docs: CUDA graphs are used at batch size 1 only",
    },
    fitted_on=_UNFIT,
)

RECORDS = (SGLANG, LMDEPLOY, TGI, LLAMA_CPP)
