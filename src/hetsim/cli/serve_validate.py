"""`hetsim validate --serving`: every serving row through serve-sim, never aborting on a row.

A row the loader cannot read (a GPU, model or data type hetsim does not model, a framework with
no engine record, lengths from a dataset without a request mix) and a configuration the
simulator refuses (a prompt over the engine's token budget, weights that leave no KV cache, an
MLPerf benchmark without limits for the model) are skipped with their reason and counted.
``--json`` carries, per file, the rows scored, the rows skipped by reason, and the MAPE per
metric overall, per engine and per hardware; with ``--serving-fit`` also the fitted and
held-out MAPE of each fold.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from hetsim.cli.common import console, err_console, print_json
from hetsim.errors import ConfigError


def _by(scores: list[Any], key: str) -> dict[str, dict[str, float]]:
    from hetsim.api.serving import mape_by_metric

    groups = sorted({str(getattr(s.row, key)) for s in scores})
    return {g: mape_by_metric([s for s in scores if str(getattr(s.row, key)) == g]) for g in groups}


def _fold(cv: Any) -> dict[str, Any]:
    return {
        "by": cv.by, "fit": cv.fit_on, "score": cv.scored_on, "step_overhead_s": cv.step_overhead_s,
        "seq_overhead_s": cv.seq_overhead_s, "max_num_seqs": cv.max_num_seqs,
        "allreduce_latency_s": cv.allreduce_latency_s,
        "output_length_cv": {f"{k[1]}/{k[2]}": v for k, v in cv.length_spread.items()},
        "fit_mape": cv.fit_mape, "held_out_mape": cv.held_out_mape,
    }  # fmt: skip


def file_report(path: Path, *, fit: bool, by: str) -> dict[str, Any]:
    """One file's scores (see the module docstring)."""
    from hetsim.api.serving import cross_validate, load_serving_rows, mape_by_metric, score_rows

    rows, skipped = load_serving_rows(path)
    scores, refused = score_rows(rows)
    skipped = Counter(skipped) + refused
    out: dict[str, Any] = {
        "rows_read": len(rows), "rows_scored": len(scores), "rows_skipped": dict(skipped),
        "mape": mape_by_metric(scores), "by_engine": _by(scores, "engine"),
        "by_hardware": _by(scores, "hardware"),
    }  # fmt: skip
    if fit and scores:
        engines = sorted({s.row.engine for s in scores})
        out["folds"] = [_fold(cv) for e in engines for cv in cross_validate(path, engine=e, by=by)]
    return out


def serving_validate(files: list[Path], *, fit: bool, as_json: bool, by: str = "hardware") -> None:
    """`hetsim validate --serving`: MAPE per metric of the serving rows, per engine and hardware;
    with ``fit`` the engine overheads are fitted on one GPU's (``by="model"``: one model's) rows
    and scored on the other's."""
    from rich.table import Table

    from hetsim.api.serving import FOLDS

    if fit and by not in FOLDS:
        raise ConfigError(f"serving cross-validation by {by!r}: choose hardware or model")
    out = {f.name: file_report(f, fit=fit, by=by) for f in files}
    total = sum(v["rows_scored"] for v in out.values())
    skipped: Counter[str] = Counter()
    for v in out.values():
        skipped.update(v["rows_skipped"])
    if as_json:
        print_json({"files": out, "rows_scored": total, "rows_skipped": dict(skipped)})
        return
    for name, rep in out.items():
        for why, n in rep["rows_skipped"].items():
            err_console.print(f"{name}: {n} serving rows skipped: {why}")
    if not total:
        console.print("no serving row could be scored (the reasons are listed above)")
        return
    for name, rep in out.items():
        if not rep["rows_scored"]:
            continue
        t = Table("engine", "hardware", "metric", "MAPE", title=f"{name}: {rep['rows_scored']} rows scored")
        for hw, per in rep["by_hardware"].items():
            for metric, v in per.items():
                t.add_row(", ".join(rep["by_engine"]), hw, metric, f"{v:.1%}")
        console.print(t)
        for cv in rep.get("folds", []):
            held = ", ".join(f"{m} {v:.1%}" for m, v in cv["held_out_mape"].items())
            fitted = ", ".join(f"{m} {v:.1%}" for m, v in cv["fit_mape"].items())
            console.print(
                f"fitted on {cv['fit']} ({fitted}); held out {cv['score']}: {held}. Knobs: "
                f"{cv['step_overhead_s'] * 1e3:g} ms per iteration, {cv['seq_overhead_s'] * 1e6:g} us per "
                f"sequence, max_num_seqs {cv['max_num_seqs']}, output-length CV "
                f"{cv['output_length_cv'] or 'none (fixed lengths)'}"
            )
