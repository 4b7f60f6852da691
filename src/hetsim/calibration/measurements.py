"""Reading measurement CSVs (the schema of ``data/measurements/published/README.md``) into normalised
records: preset hardware names, data types, integer sizes, SI values, total (not per-GPU)
throughput. Rows that cannot be normalised are counted by reason, never silently dropped.

A missing file or a missing column is invalid input (:class:`MeasurementError`); a row with
an unreadable value is skipped with the reason ``unparsable_row``.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hetsim.calibration.vocabulary import (
    UNITS,
    is_per_gpu,
    normalise_hardware,
    normalise_precision,
    parse_batch,
    parse_length,
    unit_key,
)
from hetsim.errors import MeasurementError

__all__ = ["COLUMNS", "Measurement", "normalise_hardware", "normalise_precision", "read_measurements"]

COLUMNS = (
    "source_id", "source_url", "hardware", "n_devices", "model", "precision", "framework",
    "batch_or_concurrency", "input_len", "output_len", "tp", "pp", "metric", "value", "unit",
    "gemm_m", "gemm_n", "gemm_k", "ambiguous", "notes",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Measurement:
    """One normalised row. ``value`` is SI (``unit``); throughput is the total of all devices."""

    file: str  # base name of the CSV
    line: int  # 1-based line in the file (header is line 1)
    source_id: str
    hardware_raw: str
    hardware: str  # preset-style name ('' when not recognised)
    n_devices: int
    model: str
    precision: str  # precision key of vocabulary.PRECISIONS, e.g. 'fp16', 'fp8', 'int4-wo' ('' unknown)
    framework: str
    metric: str
    value: float
    unit: str
    tp: int = 1
    pp: int = 1
    batch: int | None = None  # sequences in a static batch
    num_tokens: int | None = None  # tokens of one op call
    size_bytes: float | None = None  # message size (collectives)
    elements: float | None = None  # elements of an elementwise op
    occupancy: float | None = None  # fraction (stream kernels)
    devices_per_node: int | None = None
    input_len: int | None = None
    output_len: int | None = None
    gemm_m: float | None = None
    gemm_n: float | None = None
    gemm_k: float | None = None
    dims: dict[str, float] = field(default_factory=dict)  # H=, KV=, E=, F=, gated= from notes
    tags: frozenset[str] = frozenset()
    serving: str = ""  # load form of a serving row ('qps', 'concurrency', 'mlperf', ...)
    running_batch: float | None = None  # a concurrency row's stated steady-state running batch
    length_form: str = ""  # 'first_token', 'dataset' or 'absent' when a length is not a plain number
    precision_raw: str = ""
    notes: str = ""

    @property
    def key(self) -> str:
        return f"{self.file}:{self.line}"


def _int(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    return int(float(text))


def _float(text: str) -> float | None:
    text = text.strip()
    return float(text) if text else None


_KV = re.compile(r"\b([A-Za-z_]+)\s*=\s*([0-9.eE+-]+|True|False)\b")


def _dims(notes: str, model: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in _KV.findall(notes):
        if k in ("H", "KV", "E", "F", "gated", "devices_per_node"):
            out[k] = 1.0 if v == "True" else 0.0 if v == "False" else float(v)
    for k, v in re.findall(r"\b(M|N|elements)\s*=\s*([0-9]+)", model):
        out[f"op_{k}"] = float(v)
    return out


def read_measurements(
    paths: Sequence[str | Path], metrics: frozenset[str] | None = None
) -> tuple[list[Measurement], Counter[str]]:
    """Read and normalise every row of ``paths`` (only rows whose metric is in ``metrics``,
    when given: the others are not read, nor counted). Returns (rows, skipped-by-reason)."""
    rows: list[Measurement] = []
    skipped: Counter[str] = Counter()
    if not paths:
        raise MeasurementError("give at least one measurement CSV")
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise MeasurementError(f"measurement file {path} does not exist")
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [
                c for c in ("hardware", "metric", "value", "unit") if c not in (reader.fieldnames or ())
            ]
            if missing:
                raise MeasurementError(
                    f"{path}: not a measurement CSV (missing column(s) {', '.join(missing)}; "
                    f"expected the header {','.join(COLUMNS)})"
                )
            for i, raw in enumerate(reader, start=2):
                if metrics is not None and (raw.get("metric") or "").strip() not in metrics:
                    continue
                try:
                    row = _row(raw, path.name, i)
                except (ValueError, TypeError, KeyError):
                    skipped["unparsable_row"] += 1
                    continue
                if isinstance(row, str):
                    skipped[row] += 1
                    continue
                rows.append(row)
    return rows, skipped


def _number(text: str) -> float | None:
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return None
    return value if value == value else None  # NaN is not a measurement


def _row(raw: dict[str, str], file: str, line: int) -> Measurement | str:
    """The normalised row, or the reason it cannot be read ('unknown_unit',
    'non_numeric_value'). A malformed integer field raises ValueError (unparsable_row)."""

    def get(k: str) -> str:
        return (raw.get(k) or "").strip()

    unit_raw = get("unit")
    unit = UNITS.get(unit_key(unit_raw))
    if unit is None:
        return "unknown_unit"
    number = _number(get("value"))
    if number is None:
        return "non_numeric_value"
    n_dev = _int(get("n_devices")) or 1
    value = number * unit[0]
    metric = get("metric")
    if unit[1] == "tokens/s" and is_per_gpu(unit_raw, metric):
        value *= n_dev  # per-GPU throughput -> total
    b = parse_batch(get("batch_or_concurrency"))
    dims = _dims(get("notes"), get("model"))
    tags = frozenset(t.strip() for t in get("ambiguous").split(";") if t.strip())
    dpn = dims.pop("devices_per_node", None)
    elements = dims.get("op_elements")
    if elements is None and "op_M" in dims and "op_N" in dims:
        elements = dims["op_M"] * dims["op_N"]
    input_len, in_form = parse_length(get("input_len"))
    output_len, out_form = parse_length(get("output_len"))
    form = "dataset" if "dataset" in (in_form, out_form) else out_form or ("absent" if in_form else "")
    return Measurement(
        file=file, line=line, source_id=get("source_id"), hardware_raw=get("hardware"),
        hardware=normalise_hardware(get("hardware")), n_devices=n_dev, model=get("model"),
        precision=normalise_precision(get("precision")), framework=get("framework"),
        metric=metric, value=value, unit=unit[1], tp=_int(get("tp")) or 1, pp=_int(get("pp")) or 1,
        batch=b.batch, num_tokens=b.num_tokens,
        size_bytes=b.size_bytes, elements=elements, occupancy=b.occupancy,
        devices_per_node=int(dpn) if dpn else None,
        input_len=input_len, output_len=output_len,
        gemm_m=_float(get("gemm_m")), gemm_n=_float(get("gemm_n")), gemm_k=_float(get("gemm_k")),
        dims=dims, tags=tags, serving=b.serving, running_batch=b.running_batch, length_form=form,
        precision_raw=get("precision"), notes=get("notes"),
    )  # fmt: skip


# The published measurements the project carries: ``data/measurements/published/`` of the source
# checkout this package runs from (``make install`` installs it in editable mode). A wheel
# installed elsewhere carries no data: pass ``--measurements`` or set ``$HETSIM_REALDATA``.
PUBLISHED_DIR = Path(__file__).resolve().parents[3] / "data" / "measurements" / "published"


def published(name: str) -> Path:
    """One committed file of ``data/measurements/published/`` (its path, whether or not it exists)."""
    return PUBLISHED_DIR / name


def find_realdata(explicit: str | Path | None = None) -> Path | None:
    """The measurement folder: ``explicit``, else ``$HETSIM_REALDATA``, else the repository's
    ``data/measurements/published/``; None when that does not exist (an installed copy without
    its source checkout). A folder that was named but is not one is an error, never skipped."""
    import os

    named = explicit or os.environ.get("HETSIM_REALDATA")
    if named:
        if not Path(named).is_dir():
            how = "" if explicit else " ($HETSIM_REALDATA)"
            raise MeasurementError(f"measurement folder {named}{how} is not a folder")
        return Path(named)
    return PUBLISHED_DIR if PUBLISHED_DIR.is_dir() else None
