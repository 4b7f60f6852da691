"""report.md, results.json and plots of the H2M2 reproduction, derived from a
:class:`~hetsim.experiments.h2m2_run.Reproduction`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hetsim.experiments.h2m2 import MODELS, POLICIES
from hetsim.experiments.h2m2_run import Reproduction
from hetsim.experiments.h2m2_targets import (
    PAPER_DYNAMIC,
    PAPER_ENERGY,
    PAPER_HBM8,
    PAPER_MAPPING_STUDY,
    PAPER_MEANS,
    PAPER_OVERHEAD,
)


def _f(x: float | None, nd: int = 2) -> str:
    return "–" if x is None else f"{x:.{nd}f}"


def _diff(ours: float | None, paper: float) -> str:
    return "–" if ours is None else f"{(ours / paper - 1) * 100:+.0f}%"


def _speedup_table(block: dict[str, Any], model: str) -> list[str]:
    pol = block[model]
    seqs = list(pol["h2m2"]["speedup_by_seq_len"])
    lines = ["| policy | " + " | ".join(f"S={s}" for s in seqs) + " | mean |",
             "|---" * (len(seqs) + 2) + "|"]  # fmt: skip
    for p in POLICIES:
        by = pol[p]["speedup_by_seq_len"]
        row = " | ".join(_f(by[s]) for s in seqs)
        lines.append(f"| {p} | {row} | **{_f(pol[p]['mean_speedup'])}** |")
    return lines


def _gap_arithmetic(rep: Reproduction) -> list[str]:
    """Why the published means do not follow: the capacity bound F / (F - C_HBM)."""
    cap = rep.capacity_bytes[0]
    out = [
        "In the bandwidth-bound regime, once HBM is full the capacity side streams everything "
        "else, so no mapping and no compute or efficiency knob can beat "
        "`speedup <= F / (F - C_HBM)` (F = footprint, C_HBM = 96 GB; both sides read in "
        "parallel, the baseline reads F from the same LPDDR5X). Per averaged S point:",
        "",
        "| model | S | footprint F (GB) | bound F/(F−96) | calibrated H2M2 |",
        "|---|---|---|---|---|",
    ]
    res = rep.results
    for m, pts in rep.points["calibrated"].items():
        avg = set(res["averaged_seq_lens"][m])
        for pt in pts:
            if pt.seq_len not in avg:
                continue
            F = pt.footprint_bytes
            bound = F / (F - cap) if F > cap else float("inf")
            b = "fits in HBM" if F <= cap else f"{bound:.2f}"
            out.append(f"| {m} | {pt.seq_len} | {F / 1e9:.1f} | {b} | {_f(pt.speedup('h2m2'))} |")
    out += [
        "",
        "GPT3's and Chinchilla's points are at (or, with compute limits, below) their bounds, and "
        "the bounds' means already exceed the paper (GPT3 1.46×, Chinchilla 1.55×): only a "
        "larger footprint (longer S or larger B) lowers them. A global octave shift of S fits "
        "GPT3 (≈1.51 before overheads) but is impossible for Chinchilla (S=8192 at B=64 needs "
        "752 GB: more than the 608 GB system and the 512 GB baseline) and caps Llama2 near 2.3×. "
        "So these two misses are kept, not fudged. Llama2 is compute-bound at short S; its "
        "2.94× needs ≥ 312 TOPS over the two chips (h2m2.md §8), which `gemm_overlap` and "
        "`compute_scale` provide.",
    ]
    return out


def write_report(rep: Reproduction, out: Path) -> Path:
    res = rep.results
    L: list[str] = ["# H2M2 reproduction (arXiv 2504.14893)", ""]
    L += ["Speedup = LPDDR-only iteration time / system iteration time, one decode iteration, "
          "INT8, decoder layers only (h2m2.md §2). Two readings: **literal** (stated hardware "
          "and ranges only) and **calibrated** (one set of global knobs, the same for all "
          "models). Means are over the averaged S points; the column one octave below is "
          "plotted but not averaged.", ""]  # fmt: skip
    L += ["## Averages beside the paper", "",
          "| model | policy | paper | literal | diff | calibrated | diff |",
          "|---|---|---|---|---|---|---|"]  # fmt: skip
    for m, pv in PAPER_MEANS.items():
        for p, v in pv.items():
            lit = res["literal"][m][p]["mean_speedup"]
            cal = res["models"][m][p]["mean_speedup"]
            L.append(f"| {m} | {p} | {v:.2f} | {_f(lit)} | {_diff(lit, v)} | {_f(cal)} | {_diff(cal, v)} |")
    L += ["", "## Targets (calibrated reading)", "", "| target | value | range | paper | met |",
          "|---|---|---|---|---|"]  # fmt: skip
    for t in res["targets"]:
        rng = f"{t['lo']:.2f}–{t['hi']:.2f}" if t["hi"] < 1e6 else f"≥ {t['lo']:.2f}"
        L.append(
            f"| {t['target']} | {t['value']:.3f} | {rng} | {t['paper']} | {'yes' if t['met'] else '**no**'} |"
        )
    L += ["", "## Calibration knobs", "",
          "| knob | value | justification | fitted on | published numbers it explains |",
          "|---|---|---|---|---|"]  # fmt: skip
    for k, v in res["calibration"].items():
        n = v["published_numbers_explained"]
        L.append(f"| {k} | {v['value']} | {v['justification']} | {v['fitted_on']} | {n} |")
    L += ["", "## The arithmetic behind the gaps", "", *_gap_arithmetic(rep)]
    L += ["", "Other misses, and why:", "",
          "- *Hierarchical beats H2M2 where all fits in HBM*: with compute on the HBM-side chip "
          "only (h2m2.md §6), a hierarchy with all hits equals `hbm-only`, which H2M2's greedy can "
          "always choose, so it can tie but never win. The paper's claim implies its hierarchy "
          "also uses the LPDDR-side chip.",
          "- *Llama2 hierarchical*: at S ≥ 2048 Llama2 exceeds HBM; one chip plus staged misses "
          "cannot reach 2.75× for any resident fraction ≤ 1 with the same compute that fits H2M2.",
          "- *Dynamic H2M2 vs static LP*: both fill HBM in the capacity-bound regime (the LP "
          "with weights, H2M2 with KV), and there every mapping that fills HBM ties. The paper's "
          "LP formulation is unknown; ours places weights, which never outgrow the plan.",
          "- *H2M2 memory energy 0.76×*: per-bit energies of HBM (3.9 pJ/b) and LPDDR5X "
          "(4.0 pJ/b) are nearly equal, so access energy is ≈1.0× and any per-device static term "
          "makes a two-device system worse; 0.76× needs HBM per-bit energy well below LPDDR's.",
          ""]  # fmt: skip
    for reading, key in (("calibrated", "models"), ("literal", "literal")):
        L += [f"## Speedup per sequence length — {reading}", ""]
        for m in MODELS:
            L += [f"### {m} (B={MODELS[m].batch})", "", *_speedup_table(res[key], m), ""]
    L += ["## Mapping study, GPT3-175B (calibrated means)", "", "| policy | paper | ours |", "|---|---|---|"]
    for p, v in PAPER_MAPPING_STUDY.items():
        L.append(f"| {p} | {v:.2f} | {_f(res['models']['gpt3-175b'][p]['mean_speedup'])} |")
    L += ["", "## Overheads of H2M2 (fraction of its time)", "",
          "| model | abstraction (paper) | greedy vs optimal (paper) | total (paper) |",
          "|---|---|---|---|"]  # fmt: skip
    for m, (a, g, t) in PAPER_OVERHEAD.items():
        o = res["overheads"][m]
        L.append(f"| {m} | {o['abstraction']:.2%} ({a:.2%}) | {o['greedy_vs_optimal']:.2%} ({g:.2%}) "
                 f"| {o['total']:.2%} ({t:.2%}) |")  # fmt: skip
    d = res["dynamic_lengths"]
    L += ["", "## Dynamic lengths, 8xHBM, energy", "",
          f"- Dynamic lengths (GPT3-175B, B=32, 128 iterations, seeded): H2M2 {d['h2m2']:.2f}× "
          f"(paper {PAPER_DYNAMIC['h2m2']}), static LP {d['static-lp']:.2f}× (paper "
          f"{PAPER_DYNAMIC['static-lp']}), Oracle {d['oracle']:.2f}×; H2M2/Oracle "
          f"{d['h2m2'] / d['oracle']:.3f} (paper {PAPER_DYNAMIC['h2m2_over_oracle']}).",
          f"- 8xHBM: {res['hbm8_speedup']:.2f}× (paper {PAPER_HBM8}).",
          f"- Memory energy per token vs LPDDR-only: H2M2 {res['energy_per_token_vs_lpddr']['h2m2']:.2f}× "
          f"(paper {PAPER_ENERGY['h2m2']}), 8xHBM {res['energy_per_token_vs_lpddr']['hbm-8x']:.2f}× "
          f"(paper {PAPER_ENERGY['hbm-8x']}).", "",
          "## Sensitivity (calibrated H2M2 mean speedup)", "", "| HBM | " + " | ".join(MODELS) + " |",
          "|---" * (len(MODELS) + 1) + "|"]  # fmt: skip
    for k, v in res["sensitivity"].items():
        L.append(f"| {k} | " + " | ".join(f"{v[m]:.2f}" for m in MODELS) + " |")
    L += [
        "",
        "Plots: `speedup_<model>.png`, `mapping_over_iterations.png`, `occupancy_over_iterations.png`.",
        "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(L), encoding="utf-8")
    return path


def write_plots(rep: Reproduction, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for m in MODELS:
        fig, ax = plt.subplots(figsize=(6, 4))
        block = rep.results["models"][m]
        for p in ("h2m2", "oracle", "hierarchical", "static-lp", "attention-first", "hbm-only"):
            by = block[p]["speedup_by_seq_len"]
            xs = [int(s) for s, v in by.items() if v is not None]
            ax.plot(xs, [by[str(x)] for x in xs], marker="o", label=p)
        ax.set_xscale("log", base=2)
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set(xlabel="sequence length S", ylabel="speedup over LPDDR-only",
               title=f"{m}, B={MODELS[m].batch} (calibrated)")  # fmt: skip
        ax.legend(fontsize=7)
        fig.tight_layout()
        paths.append(out / f"speedup_{m}.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    recs = rep.dynamic_records["h2m2"]
    it = [r.index for r in recs]
    fig, ax = plt.subplots(figsize=(6, 4))
    for sub in ("attention", "qkv", "fc"):
        ax.step(it, [r.mapping[sub] for r in recs], where="post", label=f"{sub} parts on HBM")
    ax.set(xlabel="decode iteration", ylabel="parts on the HBM side",
           title="H2M2 mapping over iterations (GPT3-175B, B=32)")  # fmt: skip
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / "mapping_over_iterations.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, name in enumerate(("HBM", "LPDDR")):
        ax.plot(it, [r.used_bytes[i] / 1e9 for r in recs], label=f"{name} used")
        ax.axhline(rep.capacity_bytes[i] / 1e9, ls="--", lw=0.8, color=f"C{i}")
    ax.set(xlabel="decode iteration", ylabel="GB", title="Memory occupancy per side (H2M2)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / "occupancy_over_iterations.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths


def write_all(rep: Reproduction, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(rep.results, indent=2, default=str), encoding="utf-8")
    return [out / "results.json", write_report(rep, out), *write_plots(rep, out)]
