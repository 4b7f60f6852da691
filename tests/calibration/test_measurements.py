"""Reading and normalising measurement rows; skip reasons; invalid input."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from hetsim.calibration.api import validate
from hetsim.calibration.measurements import (
    COLUMNS,
    normalise_hardware,
    normalise_precision,
    read_measurements,
)
from hetsim.errors import MeasurementError


def write_csv(path: Path, rows: list[dict[str, object]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(COLUMNS))
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in COLUMNS})
    return path


GEMM = {"source_id": "t", "hardware": "A100 (Vidur profiling)", "n_devices": 1, "precision": "FP16",
        "metric": "gemm_latency", "value": 1.0, "unit": "ms", "gemm_m": 4096, "gemm_n": 4096,
        "gemm_k": 4096, "tp": 1}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "name"),
    [("A100 80GB", "a100-80gb-sxm"), ("A100-80G", "a100-80gb-sxm"), ("A100 40GB", "a100-40gb"),
     ("H100 DGX (Vidur network profiling)", "h100-sxm"), ("H100 PCIe", "h100-pcie"), ("A40", "a40"),
     ("L40", "l40"), ("AMD MI210", "mi210"), ("TPU", "")],
)  # fmt: skip
def test_hardware_names_normalise(text: str, name: str) -> None:
    assert normalise_hardware(text) == name


def test_precision_and_units_normalise(tmp_path: Path) -> None:
    assert normalise_precision("FP16 (torch.float16 per ...)") == "fp16"
    rows, skipped = read_measurements([write_csv(tmp_path / "m.csv", [
        GEMM,
        {**GEMM, "metric": "output_throughput", "unit": "tokens/s/GPU", "value": 100, "n_devices": 4},
        {**GEMM, "batch_or_concurrency": "size=2048 elements (4096 bytes)",
         "metric": "allreduce_time_median"},
        {**GEMM, "value": "n/a"},
        {**GEMM, "unit": "furlongs"},
    ])])  # fmt: skip
    assert rows[0].value == pytest.approx(1e-3) and rows[0].unit == "s"
    assert rows[1].value == 400 and rows[1].unit == "tokens/s"  # per-GPU -> total
    assert rows[2].size_bytes == 4096
    assert skipped == {"non_numeric_value": 1, "unknown_unit": 1}  # "n/a" is a value, not a metric


def test_skip_reasons_are_counted(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "m.csv", [
        GEMM,
        {**GEMM, "hardware": "V100"},
        {**GEMM, "metric": "mystery_metric"},
        {**GEMM, "ambiguous": "per_gpu_vs_total", "n_devices": 2},
        {**GEMM, "ambiguous": "per_gpu_vs_total"},  # one device: per GPU is total, the tag is moot
        {**GEMM, "precision": "FP64"},
    ])  # fmt: skip
    rep = validate([path], skip_tags=frozenset({"per_gpu_vs_total"}))
    assert len(rep.scored) == 2
    # the reason names the metric and the precision it could not price (issue 24)
    assert rep.skipped == {"unknown_hardware": 1, "unsupported_metric:mystery_metric": 1,
                           "ambiguous_tag:per_gpu_vs_total": 1, "unsupported_precision:fp64": 1}  # fmt: skip
    j = rep.to_json()
    assert set(j) >= {"rows_scored", "rows_skipped", "mape", "median_ape", "by_metric", "by_hardware"}


def test_invalid_input_raises(tmp_path: Path) -> None:
    with pytest.raises(MeasurementError, match="does not exist"):
        read_measurements([tmp_path / "nope.csv"])
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(MeasurementError, match="missing column"):
        read_measurements([bad])


def test_cli_validate_json_and_errors(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    import json

    path = write_csv(tmp_path / "m.csv", [GEMM, {**GEMM, "hardware": "V100"}])
    res = run_cli("validate", "--measurements", str(path), "--json")
    assert res.code == 0, res.err
    j = json.loads(res.out)
    assert j["rows_scored"] == 1 and j["rows_skipped"] == {"unknown_hardware": 1}
    res = run_cli("validate", "--measurements", str(tmp_path / "missing.csv"))
    assert res.code == 2 and "does not exist" in res.err and "Traceback" not in res.err
