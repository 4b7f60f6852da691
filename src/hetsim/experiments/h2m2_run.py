"""Run the whole H2M2 reproduction under both readings and assemble the results object
(the ``--json`` output of ``hetsim reproduce h2m2``) plus what the report needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hetsim.experiments.h2m2 import (
    MODELS,
    PointResult,
    dynamic,
    hbm8,
    mean_speedups,
    overheads,
    s_points,
    sensitivity,
    sweep,
    systems,
)
from hetsim.experiments.h2m2_gaps import compute_scale_scan, energy_arithmetic
from hetsim.experiments.h2m2_knobs import CALIBRATED, LITERAL, Reading
from hetsim.experiments.h2m2_targets import evaluate_targets, published_residuals
from hetsim.sim.runtime import IterationRecord


@dataclass(frozen=True, slots=True)
class Reproduction:
    results: dict[str, Any]  # JSON-ready
    points: dict[str, dict[str, list[PointResult]]]  # reading -> model -> points
    dynamic_records: dict[str, list[IterationRecord]]  # policy -> records (calibrated)
    capacity_bytes: tuple[float, float]


def _fits_in_hbm(points: dict[str, list[PointResult]], capacity: float) -> dict[str, dict[str, bool]]:
    out: dict[str, dict[str, bool]] = {}
    for m, pts in points.items():
        out[m] = {}
        for pt in pts:
            if pt.footprint_bytes <= capacity:
                h, s = pt.speedup("hierarchical"), pt.speedup("h2m2")
                out[m][str(pt.seq_len)] = bool(h is not None and s is not None and h > s)
    return out


def _reading_block(r: Reading, with_extras: bool) -> tuple[dict[str, Any], dict[str, list[PointResult]], Any]:
    sys = systems(r)
    pts = sweep(r, sys)
    block: dict[str, Any] = {
        "models": mean_speedups(r, pts),
        "averaged_seq_lens": {m: s_points(r, st) for m, st in MODELS.items()},
        "overheads": overheads(r, pts),
        "fits_in_hbm": _fits_in_hbm(pts, sys.h2m2.sides[0].memory.capacity_bytes),
    }
    e = hbm8(r, sys)
    block["hbm8_speedup"] = e["speedup"]
    block["energy_per_token_vs_lpddr"] = {"h2m2": e["energy_h2m2"], "hbm-8x": e["energy_hbm8"]}
    dyn = None
    if with_extras:
        dyn = dynamic(r, sys)
        block["dynamic_lengths"] = dyn["speedup"]
        block["sensitivity"] = sensitivity(r)
        block["compute_scale_scan"] = compute_scale_scan(r)
        ea = energy_arithmetic(r, sys)
        block["energy_arithmetic"] = {"per_device_w": list(ea["per_device_w"]),
                                      "capacity_scaled": ea["capacity_scaled"]}  # fmt: skip
    return block, pts, (dyn, sys)


def reproduce(calibrated: Reading = CALIBRATED, literal: Reading = LITERAL) -> Reproduction:
    cal, cal_pts, (dyn, sys) = _reading_block(calibrated, with_extras=True)
    lit, lit_pts, _ = _reading_block(literal, with_extras=False)
    results: dict[str, Any] = {
        "models": cal["models"],
        "literal": lit["models"],
        "dynamic_lengths": cal["dynamic_lengths"],
        "hbm8_speedup": cal["hbm8_speedup"],
        "energy_per_token_vs_lpddr": cal["energy_per_token_vs_lpddr"],
        "calibration": {
            k.name: {"value": k.value, "fitted_on": k.fitted_on, "justification": k.justification,
                     "published_numbers_explained": k.explains}
            for k in calibrated.knobs
        },
        "averaged_seq_lens": cal["averaged_seq_lens"],
        "overheads": cal["overheads"],
        "fits_in_hbm": cal["fits_in_hbm"],
        "sensitivity": cal["sensitivity"],
        "compute_scale_scan": cal["compute_scale_scan"],
        "energy_arithmetic": cal["energy_arithmetic"],
        "literal_details": {k: lit[k] for k in ("averaged_seq_lens", "overheads", "hbm8_speedup",
                                                 "energy_per_token_vs_lpddr", "fits_in_hbm")},
    }  # fmt: skip
    results["targets"] = evaluate_targets(results)
    results["residuals"] = published_residuals(results)
    caps = (sys.h2m2.sides[0].memory.capacity_bytes, sys.h2m2.sides[1].memory.capacity_bytes)
    return Reproduction(results, {"calibrated": cal_pts, "literal": lit_pts}, dyn["records"], caps)
