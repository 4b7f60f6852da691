"""Reading measurement CSVs (the schema of ``../shared/realdata/README.md``) into normalised
records: preset hardware names, data types, integer sizes, SI values, total (not per-GPU)
throughput. Rows that cannot be normalised are counted by reason, never silently dropped.

A missing file or a missing column is invalid input (:class:`MeasurementError`); a row with
an unreadable value is skipped with the reason ``unparsable_row``.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hetsim.errors import MeasurementError

COLUMNS = (
    "source_id", "source_url", "hardware", "n_devices", "model", "precision", "framework",
    "batch_or_concurrency", "input_len", "output_len", "tp", "pp", "metric", "value", "unit",
    "gemm_m", "gemm_n", "gemm_k", "ambiguous", "notes",
)  # fmt: skip

# unit as the source wrote it -> (SI factor, SI unit)
UNITS: dict[str, tuple[float, str]] = {
    "s": (1.0, "s"),
    "ms": (1e-3, "s"),
    "us": (1e-6, "s"),
    "µs": (1e-6, "s"),
    "ns": (1e-9, "s"),
    "tokens/s": (1.0, "tokens/s"),
    "tokens/s/gpu": (1.0, "tokens/s"),  # times n_devices -> total
    "tflops": (1e12, "flop/s"),
    "gflops": (1e9, "flop/s"),
    "gb/s": (1e9, "bytes/s"),
    "tb/s": (1e12, "bytes/s"),
    "g elements/s": (1e9, "elements/s"),
}

# free-text hardware -> preset name; first match wins (patterns see a lower-cased name)
HARDWARE_RULES: tuple[tuple[str, str], ...] = (
    (r"a100.*40\s*gb", "a100-40gb"),
    (r"a100", "a100-80gb-sxm"),  # Vidur "A100", lmdeploy "A100-80G", "A100 80GB", "A100 DGX"
    (r"h100.*pcie", "h100-pcie"),
    (r"h100", "h100-sxm"),  # Vidur H100 / H100 DGX: SXM5 boards
    (r"h200", "h200"),
    (r"\bl40s\b", "l40s"),
    (r"\bl40\b", "l40"),
    (r"\ba40\b", "a40"),
    (r"mi300x", "mi300x"),
    (r"mi210", "mi210"),
    (r"\bt4\b.*(dram|ssd)", "flexgen-t4"),  # the FlexGen offload box (T4 + host DRAM + NVMe)
    (r"a6000.*host", "a6000-offload"),  # the ZeRO-Inference offload workstation
    (r"mi100", "mi100"),
    (r"v100", "v100"),
    (r"6900\s*xt", "rx6900xt"),
)

PRECISIONS: tuple[tuple[str, str], ...] = (
    (r"fp16|float16|half", "fp16"),
    (r"bf16|bfloat16", "bf16"),
    (r"fp8", "fp8"),
    (r"int8|w8a8", "int8"),
    (r"int4|w4a16|awq", "int4"),
    (r"fp32|float32|tf32", "fp32"),
    (r"fp64|double", "fp64"),
)


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
    precision: str  # dtype name ('' when not recognised)
    framework: str
    metric: str
    value: float
    unit: str
    tp: int = 1
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

    @property
    def key(self) -> str:
        return f"{self.file}:{self.line}"


def normalise_hardware(text: str) -> str:
    """Preset-style name of a free-text GPU name ('' when none matches)."""
    low = re.sub(r"\(.*?\)", " ", text.lower())
    for pattern, name in HARDWARE_RULES:
        if re.search(pattern, low):
            return name
    return ""


def normalise_precision(text: str) -> str:
    low = text.lower()
    for pattern, name in PRECISIONS:
        if re.search(pattern, low):
            return name
    return ""


def _int(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    return int(float(text))


def _float(text: str) -> float | None:
    text = text.strip()
    return float(text) if text else None


_KV = re.compile(r"\b([A-Za-z_]+)\s*=\s*([0-9.eE+-]+|True|False)\b")


def _batch_fields(text: str) -> dict[str, float]:
    """Parse ``batch_or_concurrency``: '16', 'num_tokens=4096', 'size=2048 elements (4096
    bytes)', 'blockSize=32, threads=3456, occupancy=3%'."""
    out: dict[str, float] = {}
    t = text.strip()
    if re.fullmatch(r"[0-9]+", t):
        out["batch"] = float(t)
        return out
    m = re.search(r"num_tokens\s*=\s*([0-9]+)", t)
    if m:
        out["num_tokens"] = float(m.group(1))
    m = re.search(r"\(([0-9]+)\s*bytes\)", t)
    if m:
        out["size_bytes"] = float(m.group(1))
    m = re.search(r"occupancy\s*=\s*([0-9.]+)\s*%", t)
    if m:
        out["occupancy"] = float(m.group(1)) / 100
    return out


def _dims(notes: str, model: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in _KV.findall(notes):
        if k in ("H", "KV", "E", "F", "gated", "devices_per_node"):
            out[k] = 1.0 if v == "True" else 0.0 if v == "False" else float(v)
    for k, v in re.findall(r"\b(M|N|elements)\s*=\s*([0-9]+)", model):
        out[f"op_{k}"] = float(v)
    return out


def read_measurements(paths: Sequence[str | Path]) -> tuple[list[Measurement], Counter[str]]:
    """Read and normalise every row of ``paths``. Returns (rows, skipped-by-reason)."""
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
                try:
                    row = _row(raw, path.name, i)
                except (ValueError, TypeError, KeyError):
                    skipped["unparsable_row"] += 1
                    continue
                if row is None:
                    skipped["unknown_unit"] += 1
                    continue
                rows.append(row)
    return rows, skipped


def _row(raw: dict[str, str], file: str, line: int) -> Measurement | None:
    def get(k: str) -> str:
        return (raw.get(k) or "").strip()

    unit_raw = get("unit")
    unit = UNITS.get(unit_raw.lower())
    if unit is None:
        return None
    n_dev = _int(get("n_devices")) or 1
    value = float(get("value")) * unit[0]
    if unit_raw.lower().endswith("/gpu"):
        value *= n_dev  # per-GPU throughput -> total
    b = _batch_fields(get("batch_or_concurrency"))
    dims = _dims(get("notes"), get("model"))
    tags = frozenset(t.strip() for t in get("ambiguous").split(";") if t.strip())
    dpn = dims.pop("devices_per_node", None)
    elements = dims.get("op_elements")
    if elements is None and "op_M" in dims and "op_N" in dims:
        elements = dims["op_M"] * dims["op_N"]
    return Measurement(
        file=file, line=line, source_id=get("source_id"), hardware_raw=get("hardware"),
        hardware=normalise_hardware(get("hardware")), n_devices=n_dev, model=get("model"),
        precision=normalise_precision(get("precision")), framework=get("framework"),
        metric=get("metric"), value=value,
        unit=unit[1], tp=_int(get("tp")) or 1,
        batch=int(b["batch"]) if "batch" in b else None,
        num_tokens=int(b["num_tokens"]) if "num_tokens" in b else None,
        size_bytes=b.get("size_bytes"), elements=elements, occupancy=b.get("occupancy"),
        devices_per_node=int(dpn) if dpn else None,
        input_len=_int(get("input_len")), output_len=_int(get("output_len")),
        gemm_m=_float(get("gemm_m")), gemm_n=_float(get("gemm_n")), gemm_k=_float(get("gemm_k")),
        dims=dims, tags=tags,
    )  # fmt: skip


def find_realdata(explicit: str | Path | None = None) -> Path | None:
    """The shared measurement folder: ``explicit``, else ``$HETSIM_REALDATA``, else
    ``../shared/realdata`` from the working directory or from the repository root."""
    import os

    candidates: Iterable[Path] = (
        [Path(explicit)]
        if explicit
        else [
            *([Path(os.environ["HETSIM_REALDATA"])] if os.environ.get("HETSIM_REALDATA") else []),
            Path("../shared/realdata"),
            Path(__file__).resolve().parents[3] / ".." / "shared" / "realdata",
        ]
    )
    for c in candidates:
        if c.is_dir():
            return c
    return None
