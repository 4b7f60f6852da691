"""Offload engines: weights and KV cache held in host DRAM or on NVMe and streamed to the GPU.
They differ in whether a layer's streamed data are prefetched while the previous layer
computes, in what they offload, and in how they read a drive. All three run a static batch
through to its end (throughput-oriented offline generation)."""

from __future__ import annotations

from hetsim.engines.host import Serving
from hetsim.engines.pytorch import HF_REPEAT_KV, static_batching
from hetsim.engines.record import Engine

FLEXGEN = Engine(
    "flexgen",
    "FlexGen / FlexLLMGen (Sheng et al., ICML 2023), zig-zag block schedule with overlap",
    Serving(overlap_transfers=True),
    static_batching(
        "flexgen",
        64,
        "FlexGen generates a fixed block of gpu_batch_size x num_gpu_batches "
        "sequences to the end (flex_opt.py)",
    ),
    r"flexgen|flexllmgen",
    aliases=("flexllmgen",),
    provenance={
        "overlap_transfers": "paper: FlexGen (Sheng et al., ICML 2023) Algorithm 1 'Block Schedule "
        "with Overlapping' (load the next layer's weights and cache while computing this one); "
        "FMInference/FlexLLMGen flexllmgen/flex_opt.py '--overlap' defaults to True",
        "offload_layers": "documented: FlexGen places by its --percent split (GPU share first), "
        "as offload does",
        "page_cache": "documented: flexllmgen/pytorch_backend.py TorchDisk stores tensors as "
        "np.lib.format.open_memmap files, read through the OS page cache",
    },
)

ACCELERATE = Engine(
    "accelerate",
    "Hugging Face Accelerate big-model inference (device_map offload hooks)",
    Serving(overlap_transfers=False, gqa_shared_kv=False),
    static_batching(
        "accelerate",
        32,
        "transformers generate() on a static batch, Accelerate's hooks moving each offloaded module in",
    ),
    r"\baccelerate\b",
    provenance={
        "gqa_shared_kv": HF_REPEAT_KV,
        "overlap_transfers": "documented: huggingface/accelerate src/accelerate/hooks.py, "
        "AlignDevicesHook.pre_forward moves an offloaded module's weights to the execution device "
        "when the module is called (post_forward frees them): the copy runs in the layer's own "
        "forward, not ahead of it",
        "offload_layers": "documented: FlexLLMGen benchmark/hf_ds/hf_opt.py (FlexGen's Accelerate "
        "baseline) maps model.decoder.layers to 'cpu' or 'disk', only the embeddings and lm_head "
        "to GPU 0",
        "page_cache": "documented: accelerate src/accelerate/utils/offload.py writes disk-offloaded "
        "weights as np.memmap files and loads them with np.memmap(mode='r'): the OS page cache",
    },
    offload_layers=True,
)

DEEPSPEED_ZERO_INFERENCE = Engine(
    "deepspeed-zero-inference",
    "DeepSpeed ZeRO-Inference (ZeRO-3 parameter offload to CPU or NVMe)",
    Serving(overlap_transfers=False, gqa_shared_kv=False),
    static_batching(
        "deepspeed-zero-inference",
        32,
        "DeepSpeedExamples zero_inference/run_model.py runs generate() on a static batch",
    ),
    r"zero-inference|zero inference",
    aliases=("zero-inference", "deepspeed"),
    provenance={
        "gqa_shared_kv": HF_REPEAT_KV,
        "overlap_transfers": "documented: DeepSpeedExamples inference/huggingface/zero_inference/"
        "run_model.py sets stage3_prefetch_bucket_size = stage3_max_live_parameters = 2 x hidden^2 "
        "parameters, a sixth of a layer's 12 x hidden^2 (FlexGen's baseline hf_opt.py: hidden^2), "
        "so a layer's fetch is not hidden behind the previous layer; its README lists 'Compute/IO "
        "scheduling for maximum overlapping and reuse' as work in progress",
        "offload_layers": "documented: ZeRO-3 'offload_param' (run_model.py, hf_opt.py) offloads "
        "every parameter; the README lists 'Partial model weights/KV cache offloading' as work in "
        "progress",
        "page_cache": "documented: DeepSpeed's NVMe offload reads through its async I/O library (the "
        "config's 'aio' block); csrc/aio/common/deepspeed_aio_common.cpp opens the swap files "
        "O_RDONLY | O_DIRECT: no page cache",
    },
    offload_layers=True,
    page_cache=False,
)

RECORDS = (FLEXGEN, ACCELERATE, DEEPSPEED_ZERO_INFERENCE)
