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
        Serving(gqa_shared_kv=False),
        r"tensorrt-llm v?0\.[0-6]\b",
        {
            "gqa_shared_kv": "paper: TensorRT-LLM docs/source/blogs/XQA-kernel.md: the XQA kernel (MQA/GQA "
            "generation-phase optimisation, 'included in the v0.8 releases') raised Llama-70B on one "
            "H200 at 128/2048 from 1,227 to 2,941 tok/s/GPU; before it the masked-MHA kernel reads "
            "K/V once per query head",
        },
    ),
    FrameworkProfile(
        "tensorrt-llm",
        Serving(),
        r"tensorrt-llm|trt-llm|tensorrt_llm",
        {
            "gqa_shared_kv": "paper: TensorRT-LLM XQA kernel (v0.7a preview tables, v0.8 and later) shares "
            "each KV head across its query-head group",
        },
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
