"""report.md, results.json and plots of a reproduced study, derived from its
:class:`~hetsim.experiments.study.Outcome` (the pattern of ``reproduce h2m2``: targets table
with verdicts and causes, assumptions, every knob with its provenance, every hardware number
with its provenance, the study's own tables, plots)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hetsim.api.reproduce import Figure, Outcome
from hetsim.outfiles import atomic_write, atomic_write_text, strict_json


def output_names(outcome: Outcome) -> list[str]:
    return ["report.md", "results.json", *(f"{f.name}.png" for f in outcome.figures)]


def _num(x: float) -> str:
    return f"{x:.3g}"


def _targets(outcome: Outcome) -> list[str]:
    rows = outcome.evaluated()
    met = sum(r["met"] for r in rows)
    out = [
        f"**{met} of {len(rows)} targets met.** Tolerance: ±20% where the paper's ratio is "
        "between simulated systems, ±30% where a real machine was measured.",
        "",
        "| target | published | hetsim | band | basis | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        verdict = "met" if r["met"] else "**missed**"
        out.append(
            f"| {r['target']} | {r['statement']} | {_num(r['value'])} | "
            f"{_num(r['lo'])}–{_num(r['hi'])} | {r['basis']} | {verdict} |"
        )
    misses = [r for r in rows if not r["met"]]
    if misses:
        out += ["", "### Why the misses miss", ""]
        out += [f"- *{r['target']}* ({_num(r['value'])} vs {_num(r['paper'])}): {r['cause']}" for r in misses]
    return out


def _hardware(outcome: Outcome) -> list[str]:
    from hetsim.api.lookup import get_hardware

    out: list[str] = []
    for hw in outcome.hardware:
        dev = get_hardware(hw)
        label = Path(hw).name if isinstance(hw, Path) else str(hw)
        out += [f"**{dev.name}** ({label}): {dev.description}", "", "| number | provenance |", "|---|---|"]
        out += [f"| {k} | {v} |" for k, v in sorted(dev.sources().items())]
        out.append("")
    return out


def report_text(outcome: Outcome) -> str:
    lines = [
        f"# {outcome.title}",
        "",
        f"Reproduction of *{outcome.citation}* by `hetsim reproduce "
        f"{outcome.study}`. Every number below is computed by this run; nothing is fitted to a "
        "headline.",
        "",
        "## Targets",
        "",
        *_targets(outcome),
        "",
    ]
    for heading, body in outcome.sections:
        lines += [f"## {heading}", "", *body, ""]
    lines += [
        "## Assumptions",
        "",
        *(f"- {a}" for a in outcome.assumptions),
        "",
        "## Knobs and their provenance",
        "",
        "| knob | value | provenance |",
        "|---|---|---|",
        *(f"| {k.name} | {k.value} | {k.provenance} |" for k in outcome.knobs),
        "",
    ]
    if outcome.hardware:
        lines += ["## Hardware files: every number and its source", "", *_hardware(outcome)]
    if outcome.figures:
        lines += ["## Plots", "", *(f"![{f.title}]({f.name}.png)" for f in outcome.figures), ""]
    return "\n".join(lines) + "\n"


def _plot(fig: Figure, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f, ax = plt.subplots(figsize=(6.4, 4.0))
    try:
        labels = list(fig.series)
        if fig.kind == "bar":
            xs = [str(x) for x in next(iter(fig.series.values()))[0]] if labels else []
            width = 0.8 / max(1, len(labels) + len(fig.paper))
            for i, (label, (_, ys)) in enumerate([*fig.series.items(), *fig.paper.items()]):
                pos = [j + i * width for j in range(len(xs))]
                ax.bar(pos, list(ys), width, label=label, hatch="//" if label in fig.paper else None)
            ax.set_xticks([j + 0.4 - width / 2 for j in range(len(xs))], xs, rotation=30, ha="right")
        else:
            for label, (x, y) in fig.series.items():
                ax.plot(list(x), list(y), marker="o", label=label)
            for label, (x, y) in fig.paper.items():
                ax.plot(list(x), list(y), linestyle="--", marker="x", label=label)
        if fig.logy:
            ax.set_yscale("log")
        ax.set_title(fig.title)
        ax.set_xlabel(fig.xlabel)
        ax.set_ylabel(fig.ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        f.tight_layout()
        atomic_write(path, lambda p: f.savefig(p, format="png", dpi=110))
    finally:
        plt.close(f)


def write_outcome(outcome: Outcome, out: Path) -> list[Path]:
    """Write results.json, report.md and the plots into ``out`` (checked by the caller)."""
    out.mkdir(exist_ok=True)
    paths = [
        atomic_write_text(out / "results.json", strict_json(outcome.json(), indent=2)),
        atomic_write_text(out / "report.md", report_text(outcome)),
    ]
    for fig in outcome.figures:
        _plot(fig, out / f"{fig.name}.png")
        paths.append(out / f"{fig.name}.png")
    return paths


def summary(outcome: Outcome) -> dict[str, Any]:
    rows = outcome.evaluated()
    return {"met": sum(r["met"] for r in rows), "total": len(rows), "targets": rows}
