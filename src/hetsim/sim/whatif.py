"""The method's what-ifs (section 4 of the co-design article) on any model: quantisation of
weights, activations and the KV cache separately, and kernel fusion, each priced through the
same path as the baseline and returned side by side."""

from __future__ import annotations

from dataclasses import dataclass

from hetsim.analysis.breakdown import builder_class, class_shares
from hetsim.analysis.graph_result import ClassShare, GraphResult
from hetsim.analysis.result import AnalysisResult
from hetsim.hardware.spec import Device
from hetsim.ingest.fusion import FUSE_CHOICES, fuse
from hetsim.ingest.records import IngestedGraph
from hetsim.sim.graph_run import analyze_graph
from hetsim.sim.inference import Workload, analyze
from hetsim.workload.dtypes import Precision
from hetsim.workload.model import ModelSpec

# (label, weight, activation, kv): each changes one thing, then two combinations
QUANT_VARIANTS: tuple[tuple[str, str, str, str], ...] = (
    ("baseline W16A16KV16", "fp16", "fp16", "fp16"),
    ("weights int8", "int8", "fp16", "fp16"),
    ("weights int4", "int4", "fp16", "fp16"),
    ("activations fp8", "fp16", "fp8", "fp16"),
    ("KV cache int8", "fp16", "fp16", "int8"),
    ("W8A8 (fp8)", "fp8", "fp8", "fp16"),
    ("W4 + KV8", "int4", "fp16", "int8"),
)


@dataclass(frozen=True, slots=True)
class WhatIf:
    """One variant: its label, precision and headline metrics (per item for graphs, per
    generated token for LLMs; ``latency_s`` is per pass for graphs, TPOT for LLMs)."""

    label: str
    precision: str
    latency_s: float
    first_s: float  # graphs: = latency_s; LLMs: TTFT
    throughput_per_s: float  # items/s or output tokens/s
    mfu: float
    mbu: float
    energy_j_per_item: float
    weight_bytes: float
    footprint_bytes: float
    fits: bool


def _from_graph(label: str, r: GraphResult) -> WhatIf:
    return WhatIf(
        label, r.precision, r.latency_s, r.latency_s, r.throughput_items_per_s, r.mfu, r.mbu,
        r.energy_j_per_item, r.weight_bytes, r.footprint_bytes, r.fits,
    )  # fmt: skip


def _from_llm(label: str, r: AnalysisResult) -> WhatIf:
    return WhatIf(
        label, r.precision, r.tpot_s, r.ttft_s, r.output_throughput_tok_per_s, r.mfu, r.mbu,
        r.energy_j_per_token, r.weight_bytes, r.footprint_bytes, r.fits,
    )  # fmt: skip


def graph_quant_whatifs(graph: IngestedGraph, dev: Device) -> list[WhatIf]:
    return [
        _from_graph(label, analyze_graph(graph, dev, Precision.of(w, a, k)))
        for label, w, a, k in QUANT_VARIANTS
    ]


def graph_fusion_whatifs(graph: IngestedGraph, dev: Device, prec: Precision) -> list[WhatIf]:
    return [_from_graph(f"fuse {mode}", analyze_graph(fuse(graph, mode), dev, prec)) for mode in FUSE_CHOICES]


def llm_quant_whatifs(model: ModelSpec, dev: Device, workload: Workload, tp: int = 1) -> list[WhatIf]:
    return [
        _from_llm(label, analyze(model, dev, workload, Precision.of(w, a, k), tp=tp))
        for label, w, a, k in QUANT_VARIANTS
    ]


def llm_attention_whatifs(model: ModelSpec, dev: Device, workload: Workload, tp: int = 1) -> list[WhatIf]:
    """The builders' fusion what-if: attention unfused (score matrix written and re-read)
    against fused (flash-style). Norms and activations are always fused in the builders."""
    return [
        _from_llm(f"attention {impl}", analyze(model, dev, workload, Precision(), tp=tp, attention=impl))
        for impl in ("unfused", "fused")
    ]


def llm_classes(
    model: ModelSpec, dev: Device, workload: Workload, tp: int = 1
) -> dict[str, list[ClassShare]]:
    """Operator-class breakdown of the baseline run, per phase (prefill; mean decode step)."""
    r = analyze(model, dev, workload, Precision(), tp=tp)
    return {
        f"operator classes, {phase}": class_shares((builder_class(o), o) for o in r.ops if o.phase == phase)
        for phase in ("prefill", "decode")
    }
