"""The registry of reproduced studies: ``hetsim reproduce NAME`` and ``hetsim reproduce list``.

A study is a module (or package) under ``experiments/`` that defines ``TARGETS`` (a tuple of
:class:`~hetsim.experiments.study.Target`) and ``run() -> Outcome``; one :func:`register` line
below makes it a command. Modules are imported only when a study is listed or run, so the CLI
starts without them. H2M2 predates this interface: its targets and run are read through its
own API (``h2m2_targets.TARGETS``, ``h2m2_run.reproduce``) by the small adapter here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hetsim.errors import UnknownNameError


@dataclass(frozen=True, slots=True)
class Study:
    name: str
    title: str
    citation: str
    module: str  # defines TARGETS and run() -> Outcome ("" for H2M2, see target_names)

    def target_names(self) -> list[str]:
        """The study's published targets, read without running it."""
        if self.name == "h2m2":
            from hetsim.experiments.h2m2_targets import TARGETS as H2M2_TARGETS

            return [t.name for t in H2M2_TARGETS]
        return [t.name for t in importlib.import_module(self.module).TARGETS]

    def runner(self) -> Callable[[], Any]:
        """The study's ``run`` (an Outcome; H2M2's ``reproduce`` returns its Reproduction)."""
        if self.name == "h2m2":
            from hetsim.experiments.h2m2_run import reproduce

            return reproduce
        run: Callable[[], Any] = importlib.import_module(self.module).run
        return run


_STUDIES: dict[str, Study] = {}


def register(study: Study) -> Study:
    """Add a study (its name must be new)."""
    if study.name in _STUDIES:
        raise ValueError(f"study {study.name!r} is registered twice")
    _STUDIES[study.name] = study
    return study


def study_names() -> list[str]:
    return list(_STUDIES)


def get_study(name: str) -> Study:
    """A study by exact name; an unknown name lists the studies and suggests the closest."""
    key = name.strip().lower()
    if key not in _STUDIES:
        raise UnknownNameError("study", name, list(_STUDIES))
    return _STUDIES[key]


def met_count(results: dict[str, Any]) -> tuple[int, int]:
    """(met, total) from a results object's ``targets`` rows (every study writes them)."""
    rows = results.get("targets") or []
    return sum(bool(r.get("met")) for r in rows), len(rows)


register(
    Study(
        "h2m2",
        "H2M2: asymmetric HBM + LPDDR memory with in-memory compute",
        "Hardware-based Heterogeneous Memory Management for LLM Inference, arXiv 2504.14893",
        "",
    )
)
register(
    Study(
        "pim-gpt",
        "PIM-GPT: GDDR6 in-bank MAC units + ASIC vs a T4 GPU, GPT decode",
        "Wu, Wang, Lu, PIM-GPT: A Hybrid Process-in-Memory Accelerator for Autoregressive "
        "Transformers, arXiv 2310.09385 (npj Unconv. Comput. 2024)",
        "hetsim.experiments.pim_gpt",
    )
)
register(
    Study(
        "accllm",
        "AccLLM: W2A8KV4 + Λ-shaped attention on an Alveo U280 vs FlightLLM",
        "Liang, Shi, Shao, Wang, AccLLM: Accelerating Long-Context LLM Inference via "
        "Algorithm-Hardware Co-Design, arXiv 2505.03745",
        "hetsim.experiments.accllm",
    )
)
register(
    Study(
        "hep-daq",
        "HEP data collection: the CMS DAQ as a pipeline of heterogeneous stages",
        "Olin-Ammentorp, Wu, Chien, Modeling Performance of Data Collection Systems for "
        "High-Energy Physics, arXiv 2407.00123 (APL Mach. Learn. 2024)",
        "hetsim.experiments.hep_daq",
    )
)
register(
    Study(
        "melange",
        "Mélange: the cheapest mix of L4, A10G, A100 and H100 under a TPOT SLO",
        "Griggs et al., Mélange: Cost Efficient Large Language Model Serving by Exploiting GPU "
        "Heterogeneity, arXiv 2404.14527",
        "hetsim.experiments.melange",
    )
)
register(
    Study(
        "neupims",
        "NeuPIMs: NPU + HBM2-PIM sharing one memory, dual row buffers, sub-batch interleaving",
        "Heo et al., NeuPIMs: NPU-PIM Heterogeneous Acceleration for Batched LLM Inferencing, "
        "ASPLOS 2024 (arXiv 2403.00579)",
        "hetsim.experiments.neupims",
    )
)
register(
    Study(
        "gh200",
        "GH200 coupled vs PCIe: prefill, the CPU-bound region (host launch per kernel), max-load throughput",
        "Vellaisamy et al., Characterizing and Optimizing LLM Inference Workloads on CPU-GPU Coupled "
        "Architectures, ISPASS 2025 (arXiv 2504.11750); NVIDIA TensorRT-LLM v0.13 performance overview",
        "hetsim.experiments.gh200",
    )
)
register(
    Study(
        "sn40l",
        "SambaNova SN40L: composition of experts, model switching from DDR to HBM",
        "Prabhakar et al., SambaNova SN40L: Scaling the AI Memory Wall with Dataflow and Composition of "
        "Experts, arXiv 2405.07518",
        "hetsim.experiments.sn40l",
    )
)
register(Study("cloudmatrix", "CloudMatrix384: DeepSeek-R1 on a 384-NPU UB supernode, EP320 decode, INT8", "Zuo et al., Serving Large Language Models on Huawei CloudMatrix384, arXiv 2506.12708", "hetsim.experiments.cloudmatrix"))  # fmt: skip  # noqa: E501
register(
    Study(
        "dovetail",
        "Dovetail: the draft on the GPU, the target verified on the host CPU",
        "Zhang et al., Dovetail: A CPU/GPU Heterogeneous Speculative Decoding for LLM inference, "
        "arXiv 2412.18934 (EMNLP 2025)",
        "hetsim.experiments.dovetail",
    )
)
