"""Dovetail: "A CPU/GPU Heterogeneous Speculative Decoding for LLM inference" (Zhang et al.,
arXiv 2412.18934; EMNLP 2025).

Published (abstract): on HumanEval, LLaMA2-Chat-7B reaches 5.86 tokens/s with 3 GB of VRAM,
about 2.77x CPU-only inference, and 8 tokens/s with 7 GB. The draft runs on the GPU, the target
verifies on the CPU; the draft is an EAGLE-style head made deeper (extra decoder layers) with a
gated fusion of the target's features and the token embedding (DGF), drafting fewer tokens so
the CPU's verify stays short.

The run is hetsim's speculative decoding with the drafter on another side (``--spec
eagle,k=5,layers=3,dtype=fp16,side=gpu``) on the study's ``dovetail-host.yaml``: the host CPU is
the primary side (the target's weights and activations, fp32 as the authors' code loads them),
the GPU a second side whose memory is the VRAM budget. The target's weights fill the room the
drafter leaves on the GPU, computed there (the ``h2m2`` greedy split; Dovetail's code moves the
first ``ngl`` layers). Each step: k draft passes on the GPU, the drafts over PCIe, the verify of
k + 1 positions on the CPU, the verdict and the target's features back. The paper's body (its
CPU, GPU, draft depth, draft tokens and acceptance) could not be read here: every value it would
have given is a knob below with where it came from, and none is fitted to the headline.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from hetsim.experiments.study import Figure, Knob, Outcome, Target

HERE = Path(__file__).parent
HOST = HERE / "hardware" / "dovetail-host.yaml"
MODEL = "llama2-7b"  # LLaMA2-Chat-7B: the chat fine-tune has the base model's shapes
TARGET_DTYPE = (
    "fp32"  # hcsd/evaluation/gen_ea_answer_llama2chat.py: torch_dtype=torch.float32, device_map="cpu"
)
DRAFT_DTYPE = "fp16"  # hcsd/model/ea_model.py: ea_layer.to(dtype=torch.float16, device="cuda:0")
DRAFT_LAYERS = 3  # DGF + 2 extra decoder layers (assumed: the middle of the code's 1-6-layer configs)
DRAFT_TOKENS = 5  # the code's default draft depth (--depth 5)
PROMPT, OUTPUT = 128, 512  # HumanEval prompt and answer lengths (assumed)
BUDGETS_GB = (3.0, 7.0)  # the abstract's VRAM budgets
SWEEP_GB = (2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0)
POLICY = "h2m2"  # the target's weights in the room the drafter leaves, computed where they sit
FIGURES = ("budget", "acceptance")

TARGETS = (
    Target(
        "speedup over CPU-only, 3 GB of VRAM",
        2.77,
        "≈2.77× (abstract: 5.86 tokens/s for LLaMA2-Chat-7B with 3 GB of VRAM, HumanEval)",
        "speedup_3gb",
        "measured",
    ),
    Target(
        "7 GB over 3 GB of VRAM",
        8.0 / 5.86,
        "1.37× (abstract: 8 tokens/s at 7 GB against 5.86 tokens/s at 3 GB)",
        "ratio_7gb_3gb",
        "measured",
    ),
    Target(
        "tokens/s with 3 GB of VRAM",
        5.86,
        "5.86 tokens/s (abstract, HumanEval, LLaMA2-Chat-7B)",
        "tok_per_s.3",
        "measured",
        "tokens/s",
    ),
    Target(
        "tokens/s with 7 GB of VRAM",
        8.0,
        "8 tokens/s (abstract)",
        "tok_per_s.7",
        "measured",
        "tokens/s",
    ),
)


def spec_text(accept: float | None = None, tokens: int = DRAFT_TOKENS, side: str = "gpu") -> str:
    """The drafter as ``--spec`` writes it (``accept`` None: the eagle default's)."""
    text = f"eagle,k={tokens},layers={DRAFT_LAYERS},dtype={DRAFT_DTYPE}"
    text += f",accept={accept:g}" if accept is not None else ""
    return text + (f",side={side}" if side else "")


def engine() -> Any:
    """Hugging Face transformers, eager (the authors' code is EAGLE's, on transformers)."""
    from hetsim.engines.host import Serving
    from hetsim.engines.pytorch import EAGER_KERNEL_DISPATCH_S, HF_EXTRA_KERNELS_PER_LAYER

    return Serving(
        kernel_dispatch_s=EAGER_KERNEL_DISPATCH_S, extra_kernels_per_layer=HF_EXTRA_KERNELS_PER_LAYER
    )


def with_budget(dev: Any, gb: float) -> Any:
    """The study's device with the GPU's memory set to a VRAM budget of ``gb`` GB."""
    gpu = dev.sides[1]
    mem = dataclasses.replace(gpu.memory, capacity_bytes=gb * 1e9)
    return dataclasses.replace(dev, sides=(dev.sides[0], dataclasses.replace(gpu, memory=mem)))


def _analyze(dev: Any, spec: str | None, policy: str = POLICY) -> Any:
    from hetsim.sim.inference import Workload, analyze
    from hetsim.workload.dtypes import Precision
    from hetsim.workload.speculation import Speculation

    return analyze(MODEL, dev, Workload(1, PROMPT, OUTPUT), Precision.of(TARGET_DTYPE), policy=policy,
                   serving=engine(), speculation=Speculation.parse(spec) if spec else None)  # fmt: skip


def _breakdown(dev: Any, r: Any) -> dict[str, float]:
    """A step's parts at the mid-length context: the k draft passes, the two hand-offs, the
    verify (the rest of the step), in ms."""
    import numpy as np

    from hetsim.sim.config import Options
    from hetsim.sim.speculative import step_drafts
    from hetsim.workload.dtypes import Precision
    from hetsim.workload.registry import get_model
    from hetsim.workload.speculation import Speculation

    spec = Speculation.parse(spec_text())
    assert spec is not None
    ctx = np.array([[PROMPT + OUTPUT / 2]])
    prec = Precision.of(TARGET_DTYPE)
    sd = step_drafts(spec, get_model(MODEL), dev, prec, 1.0, ctx, Options(speculation=spec),
                     engine())  # fmt: skip
    step = r.tpot_s * spec.tokens_per_step
    hand, draft = float(np.mean(sd.handoff_s)), float(np.mean(sd.time_s - sd.handoff_s))
    return {"step_ms": step * 1e3, "draft_ms": draft * 1e3, "handoff_ms": hand * 1e3,
            "verify_ms": (step - draft - hand) * 1e3, "tokens_per_step": spec.tokens_per_step}  # fmt: skip


def run() -> Outcome:
    from hetsim.hardware.loader import get_hardware

    host = get_hardware(str(HOST))
    cpu = _analyze(host, None, "primary")
    cpu_rate = cpu.output_throughput_tok_per_s
    runs = {gb: _analyze(with_budget(host, gb), spec_text()) for gb in BUDGETS_GB}
    rate = {f"{gb:g}": r.output_throughput_tok_per_s for gb, r in runs.items()}
    sweep_rate = {f"{gb:g}": _analyze(with_budget(host, gb), spec_text()).output_throughput_tok_per_s
                  for gb in SWEEP_GB}  # fmt: skip
    three = with_budget(host, 3.0)
    on_cpu = _analyze(three, spec_text(side=""), "primary").output_throughput_tok_per_s
    accept = {
        f"{a:g}": _analyze(three, spec_text(a)).output_throughput_tok_per_s for a in (0.6, 0.7, 0.8, 0.9)
    }
    tokens = {
        str(k): _analyze(three, spec_text(tokens=k)).output_throughput_tok_per_s for k in (1, 2, 3, 5, 7)
    }
    results: dict[str, Any] = {
        "cpu_only_tok_per_s": cpu_rate,
        "tok_per_s": rate,
        "speedup_3gb": rate["3"] / cpu_rate,
        "speedup_7gb": rate["7"] / cpu_rate,
        "ratio_7gb_3gb": rate["7"] / rate["3"],
        "gpu_resident_gb": {f"{gb:g}": _gpu_bytes(r) / 1e9 for gb, r in runs.items()},
        "step_3gb": _breakdown(three, runs[3.0]),
        "draft_on_cpu_tok_per_s": on_cpu,
        "by_budget_tok_per_s": sweep_rate,
        "by_acceptance_tok_per_s": accept,
        "by_draft_tokens_tok_per_s": tokens,
        "paper_cpu_only_tok_per_s": 5.86 / 2.77,
    }
    return Outcome(
        "dovetail",
        "Dovetail: the draft on the GPU, the target verified on the CPU",
        "Zhang, Zhang, Xu, Li, Tian, Mei, Li, Dovetail: A CPU/GPU Heterogeneous Speculative Decoding for "
        "LLM inference, arXiv 2412.18934 (EMNLP 2025)",
        results,
        TARGETS,
        _knobs(),
        _assumptions(),
        (HOST,),
        _misses(results),
        _sections(results),
        _figures(results),
    )


def _gpu_bytes(r: Any) -> float:
    """Bytes of the target the GPU holds in run ``r`` (the drafter's are reserved apart)."""
    return float(next(s.resident_bytes for s in r.sides if s.name == "gpu"))


def _knobs() -> tuple[Knob, ...]:
    from hetsim.workload.speculation import ACCEPTANCE

    return (
        Knob("target", f"{MODEL}, {TARGET_DTYPE}", "paper: LLaMA2-Chat-7B; fp32 from the authors' code "
             "(hcsd/evaluation/gen_ea_answer_llama2chat.py loads the target with torch.float32 on the CPU)"),
        Knob("drafter", f"EAGLE-style head of {DRAFT_LAYERS} decoder layers, {DRAFT_DTYPE}, on the GPU",
             "assumed: the code's draft configs hold 1-6 layers (hcsd/train/llama_2_chat_7B_config_*.json) "
             "and the paper's body (which one the headline used) was not readable; 3 is the middle and fits "
             "3 GB; "
             "fp16 on cuda:0 from hcsd/model/ea_model.py"),
        Knob("drafted tokens per step (k)", str(DRAFT_TOKENS), "assumed: the code's default draft depth "
             "(--depth 5); Dovetail drafts a tree, priced here as a chain of k with a k + 1 verify"),
        Knob("acceptance per drafted token", f"{ACCEPTANCE['eagle']:g}", "paper: EAGLE (Li et al., ICML "
             "2024, arXiv 2401.15077) s4.3, ~0.8 for a chain-drafted token on MT-bench; hetsim's eagle "
             "default, not Dovetail's (its deeper head and HumanEval accept more)"),
        Knob("CPU", "Xeon Gold 6454S, one socket (xeon-6454s preset's numbers)",
             "assumed: the paper's CPU is not in the material read; a server CPU already described here"),
        Knob("GPU", "RTX 2080 Ti (rtx-2080-ti preset's numbers)", "assumed: the authors' code names an "
             "'EAGLE-2080-basecpu' offload folder; PCIe 3.0 x16 from the Turing whitepaper"),
        Knob("VRAM budget", "3 GB and 7 GB as the GPU side's capacity", "paper: abstract; the CUDA context "
             "and workspaces are not taken out of it"),
        Knob("target on the GPU", f"policy {POLICY}", "assumed: the target's weights fill the room the "
             "drafter "
             "leaves and are computed there, as the code's ngl layers are; h2m2's greedy split stands for "
             "Dovetail's first-ngl-layers rule"),
        Knob("engine", "Hugging Face transformers, eager", "calibrated: engines/pytorch.py hf-transformers "
             "host "
             "time per kernel (ML.ENERGY A100 rows, not this study)"),
        Knob("prompt / answer tokens", f"{PROMPT} / {OUTPUT}", "assumed: HumanEval prompts and answers; the "
             "abstract gives no lengths (the code caps answers at 1,024)"),
    )  # fmt: skip


def _assumptions() -> tuple[str, ...]:
    return (
        "Tokens/s = generated tokens over the whole request (prefill included), batch 1, greedy, as EAGLE's "
        "evaluation scripts count them.",
        "CPU-only = the same fp32 target on the same CPU, no drafter (the code's baseline script).",
        "Dovetail drafts a tree and verifies its nodes; hetsim prices a chain of k drafts and a verify of "
        "k + 1 positions with the per-position acceptance of a chain (E = (1 - a^(k+1)) / (1 - a)).",
        "The target layers Dovetail moves to the GPU run in fp16 there; hetsim's run has one weight type, so "
        "they are fp32 bytes (half as many fit a budget).",
        "The draft's embedding and LM head are copies on the GPU (fp16), counted in the budget.",
    )


def _misses(r: dict[str, Any]) -> dict[str, str]:
    implied = r["paper_cpu_only_tok_per_s"]
    cause = (
        f"hetsim's CPU-only rate is {r['cpu_only_tok_per_s']:.2f} tokens/s against the {implied:.2f} the "
        f"abstract implies (5.86 / 2.77): the assumed Xeon Gold 6454S (8 channels of DDR5-4800 at the fitted "
        f"0.39 stream efficiency) is about {r['cpu_only_tok_per_s'] / implied:.1f}x the paper's CPU, which "
        "the material read does not name; the ratios, which do not depend on it as much, are met or not on "
        "their own"
    )
    return {
        "tokens/s with 3 GB of VRAM": cause,
        "tokens/s with 7 GB of VRAM": cause,
        "speedup over CPU-only, 3 GB of VRAM": (
            f"{r['speedup_3gb']:.2f}x: tokens per step {r['step_3gb']['tokens_per_step']:.2f} at the assumed "
            "acceptance, against a verify about as long as a CPU-only step"
        ),
        "7 GB over 3 GB of VRAM": (
            f"{r['ratio_7gb_3gb']:.2f}x: the extra 4 GB holds fp32 target weights (half the layers "
            "Dovetail's "
            "fp16 ones would be)"
        ),
    }


def _sections(r: dict[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    s = r["step_3gb"]
    step = (
        "| part | ms |",
        "|---|---|",
        f"| {DRAFT_TOKENS} draft passes on the GPU | {s['draft_ms']:.2f} |",
        f"| hand-offs over PCIe (drafts out, verdict and features back) | {s['handoff_ms']:.3f} |",
        f"| verify of {DRAFT_TOKENS + 1} positions on the CPU (with the step's host time) "
        f"| {s['verify_ms']:.1f} |",
        f"| step | {s['step_ms']:.1f} ({s['tokens_per_step']:.2f} tokens) |",
        "",
        f"The same drafter on the CPU beside the verify: {r['draft_on_cpu_tok_per_s']:.2f} tokens/s "
        f"(on the GPU: {r['tok_per_s']['3']:.2f}); CPU-only: {r['cpu_only_tok_per_s']:.2f}.",
    )
    budget = ("| VRAM budget | tokens/s |", "|---|---|",
              *(f"| {k} GB | {v:.2f} |" for k, v in r["by_budget_tok_per_s"].items()))  # fmt: skip
    sens = (
        "| acceptance | tokens/s (3 GB) |", "|---|---|",
        *(f"| {k} | {v:.2f} |" for k, v in r["by_acceptance_tok_per_s"].items()),
        "", "| drafted tokens k | tokens/s (3 GB) |", "|---|---|",
        *(f"| {k} | {v:.2f} |" for k, v in r["by_draft_tokens_tok_per_s"].items()),
    )  # fmt: skip
    return (
        ("A step at 3 GB (mid-length context)", step),
        ("Tokens/s by VRAM budget", budget),
        ("Sensitivity to the knobs the paper's body would set", sens),
    )


def _figures(r: dict[str, Any]) -> tuple[Figure, ...]:
    xs = [float(k) for k in r["by_budget_tok_per_s"]]
    budget = Figure(
        "budget", "LLaMA2-7B fp32 verified on the CPU, EAGLE-style draft on the GPU", "VRAM budget (GB)",
        "tokens/s", {"hetsim": (xs, list(r["by_budget_tok_per_s"].values()))},
        paper={"Dovetail (abstract)": ([3.0, 7.0], [5.86, 8.0])},
    )  # fmt: skip
    acc = list(r["by_acceptance_tok_per_s"])
    title = "Tokens/s at 3 GB by acceptance per drafted token"
    accept = Figure("acceptance", title, "acceptance", "tokens/s",
                    {"hetsim": (acc, list(r["by_acceptance_tok_per_s"].values()))}, kind="bar")  # fmt: skip
    return (budget, accept)
