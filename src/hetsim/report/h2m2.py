"""report.md, results.json and plots of the H2M2 reproduction, derived from a
:class:`~hetsim.experiments.h2m2_run.Reproduction`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hetsim.api.reproduce import (
    MODELS,
    PAPER_DYNAMIC,
    PAPER_ENERGY,
    PAPER_HBM8,
    PAPER_MAPPING_STUDY,
    PAPER_MEANS,
    PAPER_OVERHEAD,
    POLICIES,
    Reproduction,
)
from hetsim.outfiles import atomic_write, atomic_write_text, strict_json


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


def _hier_bound(rep: Reproduction, model: str, resident: float) -> float:
    """Mean over the averaged S of the hierarchy's bound: all hits where the footprint fits
    (no bound, the calibrated value is used), else 1 / miss fraction (misses are staged from
    LPDDR5X at the baseline's bandwidth)."""
    cap = rep.capacity_bytes[0]
    avg = set(rep.results["averaged_seq_lens"][model])
    vals = []
    for pt in rep.points["calibrated"][model]:
        if pt.seq_len not in avg:
            continue
        if pt.footprint_bytes <= cap:
            vals.append(pt.speedup("hierarchical") or 0.0)
        else:
            vals.append(1.0 / (1.0 - resident * cap / pt.footprint_bytes))
    return sum(vals) / len(vals)


def _other_misses(rep: Reproduction) -> list[str]:
    res = rep.results
    r = float(res["calibration"]["hier_resident"]["value"])
    b = {m: _hier_bound(rep, m, r) for m in MODELS}
    b1 = {m: _hier_bound(rep, m, 0.8) for m in MODELS}
    ea = res["energy_arithmetic"]
    p_h, p_l = ea["per_device_w"]
    cs = ea["capacity_scaled"]
    cs_txt = ", ".join(f"{k} W/GB: {v[0]:.2f}× / {v[1]:.2f}×" for k, v in cs.items())
    return [
        f"- *Llama2 hierarchical*: beyond HBM the staged misses bound the hierarchy at "
        f"1 / (1 − {r} · 96 GB / F) per point; with the all-fits points at their calibrated "
        f"value the mean bound is {b['llama2-70b']:.2f}× for Llama2 (paper 2.75×) and "
        f"{b['gpt3-175b']:.2f}× for GPT3 (paper 1.07×). A resident fraction of 0.8 lifts "
        f"Llama2's bound to {b1['llama2-70b']:.2f}× but GPT3's to {b1['gpt3-175b']:.2f}×: one "
        "global hit model cannot give both.",
        "- *Dynamic H2M2 vs static LP*: the LP is solved once for the worst case (every request "
        "at the longest length, as FlexGen's frozen policy must be sized; Sheng et al. 2023, "
        "arXiv 2303.06865) and its part counts kept. It places weights (their slow-side time per "
        "byte is a hair above the KV cache's), which never outgrow the plan, so sizing for the "
        "worst case leaves no HBM idle, and in the capacity-bound regime every HBM-filling "
        "mapping ties. FlexGen's own compute placement (capacity-side weights streamed to the "
        "HBM chip, attention on the chip holding the KV) was priced too: it changes the "
        "mapping-study LP by < 0.01× at this compute (the LPDDR5X stream, not the chip, is the "
        "bound), so it was not adopted.",
        f"- *H2M2 memory energy 0.76×*: with the presets' per-bit energies (HBM3 3.9, LPDDR5X "
        f"4.0 pJ/b) the static power per device that gives exactly 0.76× and 1.31× is "
        f"{p_h:.1f} W per HBM device and {p_l:.1f} W per LPDDR5X device (2×2 linear solve over "
        "the averaged S): negative, so no physical static term gives both. Background power "
        f"proportional to capacity (one W/GB for both; H2M2 / 8xHBM): {cs_txt} — 8xHBM's 768 GB "
        "run 2.29× shorter than the baseline's 512 GB, so it can never reach 1.31×. Inside the "
        "±15% windows a separate per-HBM-device and LPDDR5X-pool term fits only when static "
        "power dominates memory energy (≈16 W per HBM device with ≈48 W of LPDDR5X background "
        "lands on the windows' edges, 0.86× / 1.15×): two knobs fitted to two numbers, with an "
        "LPDDR5X background far above vendor figures (LPDDR5X standby is up to 80% below "
        "DDR5's), so not adopted.",
        "- *GPT3 and Chinchilla H2M2 means*: the capacity bound above.",
    ]


def _residuals(res: dict[str, Any]) -> list[str]:
    rows = res["residuals"]
    speed = [r["log_residual"] for r in rows
             if "energy" not in r["number"] and "overhead" not in r["number"]
             and "greedy" not in r["number"]]  # fmt: skip
    rms = (sum(x * x for x in speed) / len(speed)) ** 0.5
    out = [f"ln(ours / paper) for every published number. RMS over the {len(speed)} speedup "
           f"numbers the global knobs are fitted on jointly: {rms:.3f}.", "",
           "| published number | paper | ours | ln(ours/paper) |", "|---|---|---|---|"]  # fmt: skip
    for r in rows:
        pct = "overhead" in r["number"] or "greedy" in r["number"]
        spec = ".2%" if pct else ".2f"
        paper, ours = format(r["paper"], spec), format(r["ours"], spec)
        out.append(f"| {r['number']} | {paper} | {ours} | {r['log_residual']:+.3f} |")
    return out


def _scan(res: dict[str, Any]) -> list[str]:
    scan = res["compute_scale_scan"]
    cal = res["calibration"]["compute_scale"]["value"]
    out = ["`compute_scale` and `gemm_overlap` fitted jointly on the 9 published means and the 6 "
           "mapping-study numbers (everything else as calibrated). The mapping study wants the "
           "HBM-side chip compute-bound at B=32 (fc-first 1.12 vs attention-first 1.40: a "
           "weight-stationary 128×128 array fills B/128 of its rows, so GEMMs stream weights at "
           "peak/256 bytes/s whatever B is); Llama2's 2.94× wants the opposite (≥ 312 TOPS).",
           "", "| compute_scale | overlap | rms ln residual | H2M2 + hierarchical mean targets met (of 6) "
           "| GPT3 / Chin / Llama2 H2M2 | naive / qkv- / fc- / attention-first / LP |",
           "|---|---|---|---|---|---|"]  # fmt: skip
    for r in scan:
        h = " / ".join(f"{r['means'][m]['h2m2']:.2f}" for m in MODELS)
        ms = r["mapping_study"]
        mp = " / ".join(f"{ms[p]:.2f}" for p in ("naive-sublayer", "qkv-first", "fc-first",
                                                  "attention-first", "static-lp"))  # fmt: skip
        out.append(f"| {r['compute_scale']} | {'yes' if r['gemm_overlap'] else 'no'} | "
                   f"{r['rms_log_residual']:.3f} | {r['mean_targets_met']} | {h} | {mp} |")  # fmt: skip
    best = min(scan, key=lambda r: r["rms_log_residual"])
    kept = [r for r in scan if r["compute_scale"] == cal and r["gemm_overlap"]]
    out += ["", f"The least-squares optimum ({best['compute_scale']}, overlap "
            f"{'on' if best['gemm_overlap'] else 'off'}, rms {best['rms_log_residual']:.3f}) meets "
            f"{best['mean_targets_met']} of the 6 mean targets; the kept setting ({cal}, overlap on"
            + (f", rms {kept[0]['rms_log_residual']:.3f}" if kept else "")
            + f") meets {kept[0]['mean_targets_met'] if kept else '?'}. The residual surface is "
            "flat (GPT3 is capacity-bound, so its means barely move), a lower compute only trades "
            "Llama2's targets for a better mapping-study spread, and no setting improves the "
            "count, so the calibrated values stay."]  # fmt: skip
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
    L += ["", "Other misses, and why:", "", *_other_misses(rep), ""]
    L += ["## Residuals against every published number", "", *_residuals(res), ""]
    L += ["## Joint fit of the compute knobs", "", *_scan(res), ""]
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
    atomic_write_text(path, "\n".join(L))
    return path


def write_plots(rep: Reproduction, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for m in MODELS:
        fig, ax = plt.subplots(figsize=(7.5, 5))
        block = rep.results["models"][m]
        avg = [int(x) for x in rep.results.get("averaged_seq_lens", {}).get(m, [])]
        for i, p in enumerate(("h2m2", "oracle", "hierarchical", "static-lp", "attention-first", "hbm-only")):
            by = block[p]["speedup_by_seq_len"]
            xs = [int(s) for s, v in by.items() if v is not None]
            missing = " (missing S: does not fit in HBM)" if p == "hbm-only" and len(xs) < len(by) else ""
            ax.plot(xs, [by[str(x)] for x in xs], marker="o", color=f"C{i}", label=f"{p}, ours{missing}")
            paper = PAPER_MEANS.get(m, {}).get(p)
            if paper is not None and avg:  # the paper gives the mean over its S range
                ours = block[p]["mean_speedup"]
                ax.hlines(paper, min(avg), max(avg), colors=f"C{i}", linestyles="--", lw=1.2,
                          label=f"{p}, paper mean {paper:.2f}x (ours {ours:.2f}x)")  # fmt: skip
        ax.set_xscale("log", base=2)
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set(xlabel="sequence length S (tokens of context)",
               ylabel="decode speedup over LPDDR-only (x)",
               title=f"{m}, batch {MODELS[m].batch}: speedup per mapping policy (calibrated)")  # fmt: skip
        ax.title.set_fontsize(9)
        ax.legend(fontsize=6, loc="upper right", framealpha=0.9)
        fig.tight_layout()
        paths.append(out / f"speedup_{m}.png")
        _save(fig, paths[-1])
        plt.close(fig)
    recs = rep.dynamic_records["h2m2"]
    it = [r.index for r in recs]
    fig, ax = plt.subplots(figsize=(6, 4))
    for sub in ("attention", "qkv", "fc"):
        ax.step(it, [r.mapping[sub] for r in recs], where="post", label=f"{sub} parts on HBM")
    ax.set(xlabel="decode iteration (one generated token per sequence)",
           ylabel="parts mapped to the HBM side (count)",
           title="H2M2 run-time mapping, GPT3-175B, batch 32: parts of each sublayer on HBM\n"
                 "(parts: the head / column blocks of a sublayer; the rest sit on LPDDR)")  # fmt: skip
    ax.title.set_fontsize(8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / "mapping_over_iterations.png")
    _save(fig, paths[-1])
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, name in enumerate(("HBM", "LPDDR")):
        ax.plot(it, [r.used_bytes[i] / 1e9 for r in recs], label=f"{name} used", color=f"C{i}")
        cap = rep.capacity_bytes[i] / 1e9
        ax.axhline(cap, ls="--", lw=0.8, color=f"C{i}", label=f"{name} capacity {cap:,.0f} GB")
    ax.set(xlabel="decode iteration (one generated token per sequence)", ylabel="memory in use (GB)",
           title="Memory occupancy per side during the H2M2 run (GPT3-175B, batch 32)")  # fmt: skip
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / "occupancy_over_iterations.png")
    _save(fig, paths[-1])
    plt.close(fig)
    return paths


def _save(fig: Any, path: Path) -> None:
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))


def output_names() -> list[str]:
    """The files :func:`write_all` writes (so a caller can check the folder first)."""
    return ["results.json", "report.md", *(f"speedup_{m}.png" for m in MODELS),
            "mapping_over_iterations.png", "occupancy_over_iterations.png"]  # fmt: skip


def write_all(rep: Reproduction, out: Path) -> list[Path]:
    """Write results.json, report.md and the plots into ``out`` (an existing folder, or one
    whose parent exists)."""
    out.mkdir(exist_ok=True)
    atomic_write_text(out / "results.json", strict_json(rep.results, indent=2))
    return [out / "results.json", write_report(rep, out), *write_plots(rep, out)]
