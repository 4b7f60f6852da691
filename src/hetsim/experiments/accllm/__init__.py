"""AccLLM (arXiv 2505.03745) against FlightLLM (arXiv 2401.03868) on the same Alveo U280:
Llama-2-7B decode with AccLLM's W2A8KV4 (2-bit weights, 8-bit activations, 4-bit KV cache)
and Λ-shaped attention (a window of recent tokens plus the first "sink" tokens) vs FlightLLM's
4-bit weights with 8-bit activations and KV cache over full attention. Published: 2.98x
throughput and 4.07x energy efficiency.

Both designs are one hardware file (``hardware/alveo-u280.yaml``: the board, its HBM2 at the
kernel clock's port rate, its DSP array); they differ only in the workload the study gives
them: the weight / activation / KV formats and the attention span. Λ-shaped attention is the
model's sliding window (``ModelSpec.sliding_window``): sink plus recent tokens bound the KV
cache each step reads.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from hetsim.experiments.study import Figure, Knob, Outcome, Target

HERE = Path(__file__).parent
HW = HERE / "hardware" / "alveo-u280.yaml"
MODEL = "llama2-7b"
WINDOW = 1024  # Λ-shaped attention: sink + recent tokens kept (assumed, StreamingLLM's 4 + 1020)
LENGTHS = ((128, 512), (1024, 1024), (2048, 2048))  # (prompt, generated) settings shown
HEADLINE = (2048, 2048)  # the long-context setting the targets are read at (assumed)
W2_BITS = 2.0 + 32 / 128  # 2-bit weights, a 16-bit scale and zero per group of 128 (assumed)
FIGURES = ("ratios",)

TARGETS = (
    Target("throughput over FlightLLM", 2.98, "2.98× (abstract)", "throughput_ratio", "measured"),
    Target(
        "energy efficiency over FlightLLM", 4.07, "4.07× (abstract)", "energy_efficiency_ratio", "measured"
    ),
)


def precisions() -> dict[str, Any]:
    """The two designs' formats. The GEMM type is the 4-bit integer listed at the DSP array's
    int8 rate: the DSP chains multiply packed low-bit weights by int8 activations directly,
    with no dequantisation pass (a weight-only pricing would add one on the vector lanes)."""
    from hetsim.workload.dtypes import DTYPES, Precision

    return {
        "flightllm": Precision.of("int4", activation="int8", kv="int8", gemm="int4"),
        "accllm": Precision(
            weight=DTYPES["int4"],
            activation=DTYPES["int8"],
            kv=DTYPES["int4"],
            gemm=DTYPES["int4"],
            format="w2-g128",
            format_bits=W2_BITS,
        ),
    }


def _point(prompt: int, generated: int) -> dict[str, Any]:
    from hetsim.hardware.loader import get_hardware
    from hetsim.sim.config import Workload
    from hetsim.sim.inference import analyze
    from hetsim.workload.registry import get_model

    dev, m, prec = get_hardware(HW), get_model(MODEL), precisions()
    w = Workload(1, prompt, generated)
    f = analyze(m, dev, w, prec["flightllm"], policy="primary")
    a = analyze(replace(m, sliding_window=WINDOW), dev, w, prec["accllm"], policy="primary")
    out: dict[str, Any] = {}
    for name, r in (("flightllm", f), ("accllm", a)):
        out[name] = {
            "tokens_per_s": r.output_throughput_tok_per_s,
            "tokens_per_j": 1 / r.energy_j_per_token,
            "power_w": r.avg_power_w,
            "weight_gb": r.weight_bytes / 1e9,
            "kv_mb_per_token": r.kv_bytes_per_token / 1e6,
        }
    out["throughput_ratio"] = out["accllm"]["tokens_per_s"] / out["flightllm"]["tokens_per_s"]
    out["energy_efficiency_ratio"] = out["accllm"]["tokens_per_j"] / out["flightllm"]["tokens_per_j"]
    return out


def run() -> Outcome:
    points = {f"{p}+{g}": _point(p, g) for p, g in LENGTHS}
    head = points[f"{HEADLINE[0]}+{HEADLINE[1]}"]
    results: dict[str, Any] = {
        "settings": points,
        "throughput_ratio": head["throughput_ratio"],
        "energy_efficiency_ratio": head["energy_efficiency_ratio"],
        "headline_setting": f"{HEADLINE[0]}+{HEADLINE[1]}",
    }
    return Outcome(
        "accllm",
        "AccLLM vs FlightLLM on an Alveo U280",
        "Liang et al., AccLLM, arXiv 2505.03745",
        results,
        TARGETS,
        _knobs(),
        _assumptions(),
        (HW,),
        _misses(results),
        _sections(points),
        (_figure(points),),
    )


def _knobs() -> tuple[Knob, ...]:
    return (
        Knob(
            "AccLLM weights",
            f"2-bit, {W2_BITS:g} bits stored per weight",
            "paper: W2A8KV4 (abstract); group of 128 with a 16-bit scale and zero assumed",
        ),
        Knob("AccLLM activations / KV", "int8 / int4", "paper: W2A8KV4 (abstract)"),
        Knob(
            "AccLLM attention",
            f"Λ-shaped: {WINDOW} tokens (sinks + recent window)",
            "paper: Λ-shaped attention (abstract); the window size is assumed (StreamingLLM's 4 sinks + "
            "1,020 recent)",
        ),
        Knob(
            "FlightLLM weights / activations / KV",
            "int4 (group 128) / int8 / int8, full attention",
            "assumed: FlightLLM's mixed-precision weights taken as 4-bit on average; its N:M sparsity "
            "and sparse attention are not modelled (as AccLLM's pruning is not)",
        ),
        Knob(
            "setting of the targets",
            f"prompt {HEADLINE[0]}, {HEADLINE[1]} generated, batch 1",
            "assumed: a long-context decode (AccLLM's subject); two shorter settings shown beside it",
        ),
    )


def _assumptions() -> tuple[str, ...]:
    return (
        "Both designs run on the same board model: HBM2 at 32 ports x 256 bit x 225 MHz, the DSP array, "
        "the same idle and active power; the designs' logic power is not known separately.",
        "Pruning (AccLLM) and N:M sparsity (FlightLLM) are left out on both sides: the stored sources give "
        "neither sparsity ratio, and hetsim has no weight-sparsity format yet.",
        "Throughput = generated tokens / (prefill + decode time); energy efficiency = generated tokens per "
        "joule of board energy over the same run.",
    )


def _misses(r: dict[str, Any]) -> dict[str, str]:
    pt = r["settings"][r["headline_setting"]]
    f, a = pt["flightllm"], pt["accllm"]
    gb = f"{f['weight_gb']:.2f} GB vs {a['weight_gb']:.2f} GB ({f['weight_gb'] / a['weight_gb']:.2f}×)"
    more = 2.98 / r["throughput_ratio"]
    watts = f"{f['power_w']:.1f} W vs {a['power_w']:.1f} W average"
    return {
        "throughput over FlightLLM": (
            "decode is HBM-bound on both designs, so the ratio follows the bytes each token reads: "
            f"weights {gb} plus the KV window. 2.98× needs {more:.2f}× fewer bytes again: AccLLM's "
            "pruning, left out here because neither its ratio nor FlightLLM's own N:M sparsity is in "
            "the stored sources."
        ),
        "energy efficiency over FlightLLM": (
            f"with one board power model for both designs ({watts}) the energy ratio tracks the "
            "throughput ratio; the published 4.07 / 2.98 = 1.37 says AccLLM's design draws 27% less "
            "power than FlightLLM's on the same card, a per-design logic power hetsim is not given."
        ),
    }


def _sections(points: dict[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    rows = [
        "| prompt + generated | FlightLLM tok/s | AccLLM tok/s | throughput × | FlightLLM tok/J "
        "| AccLLM tok/J | efficiency × |",
        "|---|---|---|---|---|---|---|",
    ]
    for k, p in points.items():
        f, a = p["flightllm"], p["accllm"]
        cells = (
            f["tokens_per_s"],
            a["tokens_per_s"],
            p["throughput_ratio"],
            f["tokens_per_j"],
            a["tokens_per_j"],
            p["energy_efficiency_ratio"],
        )
        rows.append(f"| {k} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    return (("Per setting", tuple(rows)),)


def _figure(points: dict[str, Any]) -> Figure:
    keys = list(points)
    ours = {
        "throughput": (keys, [points[k]["throughput_ratio"] for k in keys]),
        "energy efficiency": (keys, [points[k]["energy_efficiency_ratio"] for k in keys]),
    }
    paper = {
        "published throughput 2.98×": (keys, [2.98] * len(keys)),
        "published efficiency 4.07×": (keys, [4.07] * len(keys)),
    }
    title = "AccLLM over FlightLLM (hetsim) and the published headlines"
    return Figure("ratios", title, "prompt + generated", "ratio (×)", ours, kind="bar", paper=paper)
