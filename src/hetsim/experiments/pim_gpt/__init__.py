"""PIM-GPT (arXiv 2310.09385): token-by-token GPT decode on GDDR6 processing-in-memory (bank
MACs + an ASIC) against an NVIDIA T4 running Hugging Face transformers, for eight GPT models
up to 1.5B parameters. Published: 41-137x speedup over the GPU.

Both sides run the shared analyse path (op graph -> pricing): the PIM device is the hardware
file ``hardware/pim-gpt.yaml`` whose memory bandwidth, size ramp and access energy come from
its DRAM timing (:mod:`hetsim.hardware.dram`); the GPU is the ``flexgen-t4`` preset's T4 side
with the eager-PyTorch dispatch profile (``sim/frameworks.py``) and the kernels HF's GPT-2
block launches (counted below from transformers' modeling_gpt2.py).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from hetsim.experiments.study import Figure, Knob, Outcome, Target

HERE = Path(__file__).parent
PIM_HW = HERE / "hardware" / "pim-gpt.yaml"
GPU_HW = "flexgen-t4"
MODELS = (
    "gpt2",
    "gpt2-medium",
    "gpt2-large",
    "gpt2-xl",
    "gpt3-small",
    "gpt3-medium",
    "gpt3-large",
    "gpt3-xl",
)
GENERATED = 1024  # tokens generated from a 1-token prompt (assumed; GPT-2's whole context)
# Kernels one GPT2Block launches in eager PyTorch at decode (transformers 4.3x
# modeling_gpt2.py, batch 1, KV cache on): ln_1 1; c_attn addmm 1; KV torch.cat 2; _attn
# matmul 1, scale (torch.full + div) 2, mask value to device 1, torch.where 1, mask add 1,
# softmax 1, matmul 1; _merge_heads contiguous 1; c_proj addmm 1; residual 1; ln_2 1; c_fc 1;
# NewGELU (pow, mul, add, mul, tanh, add, mul, mul) 8; c_proj 1; residual 1.
HF_GPT2_KERNELS_PER_LAYER = 27
FIGURES = ("speedup",)

TARGETS = (
    Target(
        "speedup, low end of the 8 models",
        41.0,
        "41× (abstract: 41–137× over GPU)",
        "speedup_min",
        "measured",
    ),
    Target(
        "speedup, high end of the 8 models",
        137.0,
        "137× (abstract: 41–137× over GPU)",
        "speedup_max",
        "measured",
    ),
)


def _graph_kernels_per_layer(model: Any) -> int:
    from hetsim.workload.dtypes import Precision
    from hetsim.workload.graph import build_ops

    ops = build_ops(
        model,
        Precision.of("fp32"),
        phase="decode",
        batch=1.0,
        q_len=1.0,
        context=2.0,
        include_embeddings=False,
    )
    per_layer = [float(o.count) for o in ops if o.count == model.n_layers]
    return len(per_layer)


def _run_models(pim: Any) -> dict[str, dict[str, float]]:
    from hetsim.sim.config import Serving, Workload
    from hetsim.sim.frameworks import EAGER_KERNEL_DISPATCH_S
    from hetsim.sim.inference import analyze
    from hetsim.workload.dtypes import Precision
    from hetsim.workload.registry import get_model

    out: dict[str, dict[str, float]] = {}
    w = Workload(1, 1, GENERATED)
    for name in MODELS:
        m = get_model(HERE / "models" / f"{name}.yaml")
        extra = HF_GPT2_KERNELS_PER_LAYER - _graph_kernels_per_layer(m)
        eager = Serving(
            kernel_dispatch_s=EAGER_KERNEL_DISPATCH_S, extra_kernels_per_layer=extra, gqa_shared_kv=False
        )
        p = analyze(m, pim, w, Precision.of("bf16"), policy="primary")
        g = analyze(m, GPU_HW, w, Precision.of("fp32"), policy="primary", serving=eager)
        out[name] = {
            "params": m.published_params or 0.0,
            "pim_ms": p.tpot_s * 1e3,
            "gpu_ms": g.tpot_s * 1e3,
            "speedup": g.tpot_s / p.tpot_s,
            "extra_kernels": float(extra),
        }
    return out


def _with_channels(dev: Any, channels: int) -> Any:
    """``dev`` with its PIM memory re-derived for another channel count (same chips' timing)."""
    from hetsim.hardware.efficiency import EfficiencyCurve

    mem = dev.sides[0].memory
    t = replace(mem.dram, channels=channels)
    sizes, values = t.efficiency_points()
    curve = EfficiencyCurve(sizes, values, mem.efficiency.provenance)
    mem2 = replace(
        mem,
        dram=t,
        bandwidth_bytes_per_s=t.bandwidth_bytes_per_s,
        efficiency=curve,
        capacity_bytes=mem.capacity_bytes * channels / mem.dram.channels,
    )
    units = tuple(
        replace(
            u, peak_flop_per_s={k: v * channels / mem.dram.channels for k, v in u.peak_flop_per_s.items()}
        )
        if u.kind == "matvec"
        else u
        for u in dev.sides[0].units
    )
    return replace(dev, sides=(replace(dev.sides[0], memory=mem2, units=units),))


def run() -> Outcome:
    from hetsim.hardware.loader import get_hardware

    pim = get_hardware(PIM_HW)
    per = _run_models(pim)
    sp = {m: v["speedup"] for m, v in per.items()}
    sens = {}
    for ch in (8, 32):
        s = _run_models(_with_channels(pim, ch))
        sens[f"channels={ch}"] = {
            "min": min(v["speedup"] for v in s.values()),
            "max": max(v["speedup"] for v in s.values()),
        }
    t = pim.sides[0].memory.dram
    assert t is not None  # the hardware file has a dram block
    results: dict[str, Any] = {
        "models": per,
        "speedup": sp,
        "speedup_min": min(sp.values()),
        "speedup_max": max(sp.values()),
        "pim_stream_bandwidth_tb_per_s": t.bandwidth_bytes_per_s / 1e12,
        "pim_column_bandwidth_tb_per_s": t.peak_column_bytes_per_s / 1e12,
        "pim_energy_pj_per_bit": t.energy_j_per_bit * 1e12,
        "sensitivity": sens,
    }
    return Outcome(
        "pim-gpt",
        "PIM-GPT: GDDR6 processing-in-memory vs a T4 GPU",
        "Wu, Wang, Lu, PIM-GPT, arXiv 2310.09385",
        results,
        TARGETS,
        _knobs(per),
        _assumptions(),
        (PIM_HW, GPU_HW),
        _misses(results),
        _sections(results),
        (_figure(per),),
    )


def _knobs(per: dict[str, dict[str, float]]) -> tuple[Knob, ...]:
    from hetsim.sim.frameworks import EAGER_KERNEL_DISPATCH_S

    extra = sorted({int(v["extra_kernels"]) for v in per.values()})
    return (
        Knob(
            "GPU host time per kernel",
            f"{EAGER_KERNEL_DISPATCH_S * 1e6:g} µs",
            "calibrated: sim/frameworks.py hf-transformers profile, fitted on ML.ENERGY A100 rows (not on "
            "this study)",
        ),
        Knob(
            "HF GPT-2 kernels per layer",
            f"{HF_GPT2_KERNELS_PER_LAYER} ({extra} beyond the op graph's)",
            "derived: counted from transformers modeling_gpt2.py (GPT2Block eager decode; list in "
            "experiments/pim_gpt)",
        ),
        Knob("GPU precision", "fp32", "assumed: Hugging Face's default dtype when none is given"),
        Knob("PIM precision", "bf16", "paper: AiM-style bank MACs are bf16"),
        Knob(
            "generated tokens", str(GENERATED), "assumed: GPT-2's whole 1,024-token context, 1-token prompt"
        ),
        Knob(
            "PIM channels",
            "16",
            "assumed: eight two-channel GDDR6 chips, the T4's package count "
            "(sensitivity to 8 and 32 in the report)",
        ),
    )


def _assumptions() -> tuple[str, ...]:
    return (
        "The eight models are GPT-2 small/medium/large/XL and GPT-3 Small/Medium/Large/XL (abstract: "
        "'8 GPT models with up to 1.4 billion parameters'); GPT-3's sparse attention layers are "
        "priced dense.",
        "Batch 1, one token per step, KV cache on both systems; speedup = GPU time per token / PIM "
        "time per token, averaged over the 1,024 generated tokens.",
        "PIM: every weight and KV byte is read by the bank MACs at the DRAM-timing-derived rate; ACT/PRE "
        "of each row round is not overlapped with MACs (all banks open and close together).",
        "PIM: norms, softmax, GELU and residuals run on the ASIC; the input-vector broadcast and result "
        "read-out cost 100 ns per kernel (derived in the hardware file).",
        "GPU: the T4 side of the flexgen-t4 preset (datasheet numbers, the family's calibrated kernel "
        "model) under eager PyTorch: a step takes max(GPU time, kernels × host time per kernel).",
    )


def _misses(r: dict[str, Any]) -> dict[str, str]:
    per = r["models"]
    lo = min(per, key=lambda m: per[m]["speedup"])
    hi = max(per, key=lambda m: per[m]["speedup"])
    spread = r["speedup_max"] / r["speedup_min"]
    big = min(v["speedup"] for v in per.values() if v["params"] > 7e8)
    slow = f"{per[lo]['gpu_ms']:.1f} ms on the T4 vs {per[lo]['pim_ms']:.3f} ms"
    fast = f"{per[hi]['gpu_ms']:.2f} ms vs {per[hi]['pim_ms']:.3f} ms"
    longer = r["speedup_min"] / 41
    return {
        "speedup, low end of the 8 models": (
            f"hetsim's slowest ratio is {lo} ({slow}). The published range spans 137/41 = 3.3× between "
            f"models; hetsim's spans {spread:.2f}×: the T4 time per token grows with the weights it "
            "streams (fp32, memory-bound above ~0.7B) about as fast as the PIM time, so the models above "
            f"0.7B keep {big:.0f}× or more. Reaching 41× there needs a PIM time {longer:.2f}× longer "
            "(e.g. per-head attention mapping or ASIC work that grows with d_model, which the paper's "
            "cycle simulator models and this roofline does not) or a faster GPU baseline (fp16 weights "
            "would halve its memory time)."
        ),
        "speedup, high end of the 8 models": (
            f"hetsim's fastest ratio is {hi} ({fast}): the T4 is host-bound there (kernels × host "
            "time), so the ratio rests on the calibrated 23 µs per kernel."
        ),
    }


def _sections(r: dict[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    rows = ["| model | params | PIM ms/token | T4 ms/token | speedup |", "|---|---|---|---|---|"]
    for m, v in r["models"].items():
        rows.append(
            f"| {m} | {v['params'] / 1e6:.0f} M | {v['pim_ms']:.3f} | {v['gpu_ms']:.2f} | "
            f"{v['speedup']:.1f}× |"
        )
    share = r["pim_stream_bandwidth_tb_per_s"] / r["pim_column_bandwidth_tb_per_s"]
    pim = [
        f"The PIM memory streams at {r['pim_stream_bandwidth_tb_per_s']:.2f} TB/s (derived: each row "
        f"round is tRCD + 64 column MACs + tRP over 256 banks), {share:.0%} "
        f"of its {r['pim_column_bandwidth_tb_per_s']:.2f} TB/s column rate; access energy "
        f"{r['pim_energy_pj_per_bit']:.2f} pJ/bit from the AiM energy per ACT and per MAC column.",
        "",
        "| PIM channels | slowest speedup | fastest speedup |",
        "|---|---|---|",
        *(f"| {k.split('=')[1]} | {v['min']:.1f}× | {v['max']:.1f}× |" for k, v in r["sensitivity"].items()),
        f"| 16 (as run) | {r['speedup_min']:.1f}× | {r['speedup_max']:.1f}× |",
    ]
    return (("Per model", tuple(rows)), ("PIM timing and channel sensitivity", tuple(pim)))


def _figure(per: dict[str, dict[str, float]]) -> Figure:
    order = sorted(per, key=lambda m: per[m]["params"])
    xs = [per[m]["params"] / 1e6 for m in order]
    ends = (xs[0], xs[-1])
    return Figure(
        "speedup",
        "PIM-GPT speedup over the T4",
        "parameters (M)",
        "speedup (×)",
        {"hetsim": (xs, [per[m]["speedup"] for m in order])},
        paper={
            "published low end 41×": (ends, (41.0, 41.0)),
            "published high end 137×": (ends, (137.0, 137.0)),
        },
    )
