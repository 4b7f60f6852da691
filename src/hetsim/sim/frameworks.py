"""Serving frameworks as named profiles: the per-step host overhead, first-token handling and
kernel-quality effects that differ between engines, each with its provenance and what it
was fitted on. A profile is never per model or per GPU: it becomes a
:class:`~hetsim.sim.inference.Serving` and reaches every GPU through that GPU's own
datasheet numbers and calibrated kernel model.

``validate`` picks a row's profile from its ``framework`` text (:func:`profile_for`);
``hetsim analyze --framework NAME`` picks one by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hetsim.errors import UnknownNameError
from hetsim.sim.inference import Serving


@dataclass(frozen=True, slots=True)
class FrameworkProfile:
    name: str
    serving: Serving
    matches: str  # regex on a lower-cased ``framework`` text
    provenance: dict[str, str] = field(default_factory=dict)  # knob -> "kind: source"
    fitted_on: str = "nothing: every knob is documented or assumed"
    # offload engines: every layer's weights held off the GPU once it offloads (not only what
    # does not fit), and whether disk-backed bytes are read through the OS page cache
    offload_layers: bool = False
    page_cache: bool = True


# TensorRT-LLM's host time per generate call before its first token (gptSessionBenchmark:
# session set-up, input copy, first sampling). Calibrated: the median first-token residual
# of the 12 batch-1, 128-token first-token rows of trtllm_static.csv (A100 FP16, H100 FP8,
# L40S FP8; v0.5 low-latency tables and the H100-vs-A100 blog), priced without it; refitted
# without each GPU in leave-one-GPU-out cross-validation (2.1-3.3 ms per fold).
# Reproduced by hetsim.calibration.overhead_fit.fit_request_overhead.
TRTLLM_REQUEST_OVERHEAD_S = 2.72e-3
_TRTLLM_OVERHEAD_PROVENANCE = (
    "calibrated: median first-token residual of the 12 TensorRT-LLM batch-1, 128-token "
    "first-token rows of trtllm_static.csv (A100 FP16, H100 FP8, L40S FP8); the same 1-3 ms "
    "on every GPU and model (6B-180B), so one knob of the engine's host"
)
_TRTLLM_FITTED_ON = "request_overhead_s: trtllm_static.csv batch-1, 128-token first-token rows (12)"

# both run the Hugging Face transformers model code
HF_REPEAT_KV = (
    "documented: Hugging Face transformers modeling_llama.py (4.31+, Llama-2) expands K and V to every "
    "query head (repeat_kv) before the attention product, so a GQA model's KV is read once per query head"
)
# Offload engines (weights / KV cache held in host DRAM or on NVMe and streamed to the GPU): they
# differ in whether a layer's streamed data are prefetched while the previous layer computes.
OFFLOAD_PROFILES: tuple[FrameworkProfile, ...] = (
    FrameworkProfile(
        "flexgen",
        Serving(overlap_transfers=True),
        r"flexgen|flexllmgen",
        {
            "overlap_transfers": "paper: FlexGen (Sheng et al., ICML 2023) Algorithm 1 'Block Schedule "
            "with Overlapping' (load the next layer's weights and cache while computing this one); "
            "FMInference/FlexLLMGen flexllmgen/flex_opt.py '--overlap' defaults to True",
            "offload_layers": "documented: FlexGen places by its --percent split (GPU share first), "
            "as offload does",
            "page_cache": "documented: flexllmgen/pytorch_backend.py TorchDisk stores tensors as "
            "np.lib.format.open_memmap files, read through the OS page cache",
        },
    ),
    FrameworkProfile(
        "accelerate",
        Serving(overlap_transfers=False, gqa_shared_kv=False),
        r"\baccelerate\b",
        {
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
    ),
    FrameworkProfile(
        "deepspeed-zero-inference",
        Serving(overlap_transfers=False, gqa_shared_kv=False),
        r"zero-inference|zero inference",
        {
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
    ),
)

PROFILES: tuple[FrameworkProfile, ...] = (
    FrameworkProfile(
        "lmdeploy",
        Serving(first_token_decode_steps=1),
        r"lmdeploy|turbomind",
        {
            "first_token_decode_steps": "derived: LMDeploy TurboMind's context phase fills the KV cache "
            "and the first token comes from the next decode step (lmdeploy.csv FTL rows at batch 1)",
            "gqa_shared_kv": "assumed: TurboMind's decode attention reads a KV head once per group",
        },
    ),
    FrameworkProfile(
        "tensorrt-llm-pre-xqa",
        Serving(gqa_shared_kv=False, request_overhead_s=TRTLLM_REQUEST_OVERHEAD_S),
        r"tensorrt-llm v?0\.[0-6]\b",
        {
            "request_overhead_s": _TRTLLM_OVERHEAD_PROVENANCE,
            "gqa_shared_kv": "paper: TensorRT-LLM docs/source/blogs/XQA-kernel.md: the XQA kernel (MQA/GQA "
            "generation-phase optimisation, 'included in the v0.8 releases') raised Llama-70B on one "
            "H200 at 128/2048 from 1,227 to 2,941 tok/s/GPU; before it the masked-MHA kernel reads "
            "K/V once per query head",
        },
        _TRTLLM_FITTED_ON,
    ),
    FrameworkProfile(
        "tensorrt-llm",
        Serving(request_overhead_s=TRTLLM_REQUEST_OVERHEAD_S),
        r"tensorrt-llm|trt-llm|tensorrt_llm",
        {
            "request_overhead_s": _TRTLLM_OVERHEAD_PROVENANCE,
            "gqa_shared_kv": "paper: TensorRT-LLM XQA kernel (v0.7a preview tables, v0.8 and later) shares "
            "each KV head across its query-head group",
        },
        _TRTLLM_FITTED_ON,
    ),
    FrameworkProfile(
        "gpt-fast",
        Serving(),
        r"gpt-fast|torch\.compile",
        {"step_overhead_s": "assumed: the device's calibrated per-step overhead (no gpt-fast dev rows)"},
    ),
    FrameworkProfile(
        "vllm",
        Serving(),
        r"vllm",
        {"step_overhead_s": "assumed: the device's calibrated per-step overhead (no vLLM dev rows)"},
    ),
    *OFFLOAD_PROFILES,
)
DEFAULT = FrameworkProfile("default", Serving(), r"$^", {})
_BY_NAME = {p.name: p for p in (*PROFILES, DEFAULT)}


def get_profile(name: str) -> FrameworkProfile:
    """A profile by exact name (error lists the valid names)."""
    key = name.strip().lower()
    if key not in _BY_NAME:
        raise UnknownNameError("framework", name, _BY_NAME)
    return _BY_NAME[key]


def profile_for(framework_text: str) -> FrameworkProfile:
    """The profile a measurement row's free-text ``framework`` names (first match)."""
    low = framework_text.lower()
    for p in PROFILES:
        if re.search(p.matches, low):
            return p
    return DEFAULT
