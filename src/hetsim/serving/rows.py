"""Reading serving measurements in the shared schema: the vocabulary of rates, metrics, units,
GPUs, models, data types and frameworks that serving sources write (``data/measurements/published``
README). A row becomes a :class:`ServingRow` (SI value, preset names, arrival process) or is
counted as skipped with its reason.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from hetsim.engines import match
from hetsim.errors import MeasurementError
from hetsim.hardware.names import resolve as resolve_hardware

# metric -> result field (see hetsim.serving.validate.predicted)
METRICS: dict[str, str] = {
    "request_throughput": "request_throughput",
    "completed_samples_per_second": "request_throughput",
    "samples_per_second": "request_throughput",
    "scheduled_samples_per_second": "request_throughput",
    "total_token_throughput": "total_throughput",
    "output_throughput_total": "output_throughput",
    "output_throughput": "output_throughput",
    "output_throughput_per_gpu": "output_throughput_per_gpu",
    "completed_tokens_per_second": "output_throughput",
    "tokens_per_second": "output_throughput",
    "ttft": "ttft_mean",
    "ttft_mean": "ttft_mean",
    "ftl_mean": "ttft_mean",
    "ttft_first_token_latency": "ttft_mean",
    "ttft_median": "ttft_p50",
    "ttft_p50": "ttft_p50",
    "tpot_mean": "tpot_mean",
    "tpot_median": "tpot_p50",
    "tpot_p50": "tpot_p50",
    "tpot_p99": "tpot_p99",
    "itl": "itl_mean",
    "itl_mean": "itl_mean",
    "itl_median": "itl_p50",
    "e2e_latency_avg": "e2e_mean",
    "e2e_latency_median": "e2e_p50",
    "latency_p99": "e2e_p99",
}
TIME_UNITS = {"ms": 1e-3, "s": 1.0, "ns": 1e-9, "us": 1e-6}
RATE_UNITS = ("req/s", "samples/s", "sentences/s", "requests/s")
MODELS = (
    (r"llama[\s-]*3\.1[\s-]*405", "llama3.1-405b"),
    (r"llama[\s-]*3(\.\d)?[\s-]*70", "llama3-70b"),
    (r"llama[\s-]*3(\.\d)?[\s-]*8b", "llama3-8b"),
    (r"llama[\s-]*2[\s-]*70", "llama2-70b"),
    (r"llama[\s-]*2[\s-]*13", "llama2-13b"),
    (r"llama[\s-]*2[\s-]*7b", "llama2-7b"),
    (r"mixtral[\s-]*8x7", "mixtral-8x7b"),
    (r"mistral[\s-]*7", "mistral-7b"),
    (r"gpt-?j", "gpt-j-6b"),
    (r"falcon[\s-]*180", "falcon-180b"),
    (r"qwen[\s-]*2\.5[\s-]*72", "qwen2.5-72b"),
)
PRECISIONS = (
    (r"fp4|mxfp4|nvfp4|gguf|q4_|iq2", ""),  # not modelled
    (r"int4|awq", "int4"),
    (r"int8", "int8"),
    (r"fp8", "fp8"),
    (r"bf16|fp16|float16|not stated|default", "bf16"),
)
# dataset names a row may give for its lengths -> the named request mix (serving/mixes.py)
DATASETS = (
    (r"sharegpt", "sharegpt"),
    (r"open\s*orca", "openorca-mlperf"),
    (r"cnn|dailymail|daily\s*mail", "cnn-dailymail-mlperf"),
    (r"arxiv", "arxiv-summarization"),
    (r"longbench", "longbench"),
)


@dataclass(frozen=True, slots=True)
class ServingRow:
    hardware: str  # preset name
    model: str  # preset name
    tp: int
    n_devices: int
    arrival: str  # poisson, offline or closed
    rate: float  # req/s for poisson; inf for offline
    concurrency: int  # users of a closed loop (0 otherwise)
    n_requests: int
    input_len: int
    output_len: int
    precision: str  # weight dtype
    engine: str  # engine record name (hetsim.engines)
    metric: str  # the source's
    field: str  # result field it is compared with
    value: float  # SI (s, req/s, tok/s, total of all devices unless ``field`` says per GPU)
    source: str = ""  # the row's source_id
    mix: str = ""  # named request mix when the lengths come from a dataset ("" : fixed lengths)


def _first(patterns: tuple[tuple[str, str], ...], text: str) -> str | None:
    low = text.lower()
    return next((name for pat, name in patterns if re.search(pat, low)), None)


def _lengths(row: dict[str, str]) -> tuple[int, int, str]:
    """(prompt, output, mix) of a row: whole numbers, or a dataset's mix (0, 0, name); (-1, -1, "")
    when neither."""
    try:
        return int(row["input_len"]), int(row["output_len"]), ""
    except (TypeError, ValueError, KeyError):
        pass
    text = " ".join(str(row.get(k) or "") for k in ("input_len", "output_len", "notes"))
    mix = _first(DATASETS, text)
    return (0, 0, mix) if mix else (-1, -1, "")


def _arrival(text: str, notes: str) -> tuple[str, float, int, int | None] | None:
    t = text.strip()
    m = re.fullmatch(r"(?:QPS|RPS)\s*=\s*(\d+(?:\.\d+)?|INF)(?:\s*,\s*num_prompts\s*=\s*(\d+))?", t, re.I)
    if m:
        n = int(m.group(2)) if m.group(2) else None
        if m.group(1).upper() == "INF":
            return "offline", float("inf"), 0, n
        return "poisson", float(m.group(1)), 0, n
    m = re.fullmatch(r"concurrency\s*=\s*(\d+)", t, re.I)
    if m:
        return "closed", float("nan"), int(m.group(1)), None
    if re.match(r"max-load|mlperf offline", t, re.I):
        return "offline", float("inf"), 0, None
    if re.match(r"mlperf server", t, re.I):  # the highest rate within the benchmark's limits
        return "mlperf-server", float("nan"), 0, None
    return None


def load_serving_rows(path: Path) -> tuple[list[ServingRow], Counter[str]]:
    """The serving rows of a measurement CSV the simulator can predict, and a count of the
    skipped ones by reason."""
    if not path.is_file():
        raise MeasurementError(f"{path}: no such measurement file")
    out: list[ServingRow] = []
    skipped: Counter[str] = Counter()
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            metric = (row.get("metric") or "").strip()
            arr = _arrival(row.get("batch_or_concurrency") or "", row.get("notes") or "")
            if arr is None or metric not in METRICS:
                continue  # not a serving row
            hw = resolve_hardware(row.get("hardware") or "").system  # the one hardware vocabulary
            model = _first(MODELS, row.get("model") or "")
            prec = _first(PRECISIONS, row.get("precision") or "not stated")
            if not hw or not model or not prec:
                skipped["hardware, model or data type not modelled"] += 1
                continue
            p, g, mix = _lengths(row)
            if p < 0:
                skipped["lengths from a dataset hetsim has no request mix for"] += 1
                continue
            try:
                raw = float(row["value"])
            except (TypeError, ValueError, KeyError):
                skipped["a value that is not a number"] += 1
                continue
            unit = (row.get("unit") or "").strip().lower()
            field = METRICS[metric]
            if field.startswith(("ttft", "tpot", "itl", "e2e")):
                if unit not in TIME_UNITS:
                    skipped[f"unit {unit!r} for a latency"] += 1
                    continue
                value = raw * TIME_UNITS[unit]
            else:
                value = raw
                if field == "request_throughput" and unit not in RATE_UNITS:
                    skipped[f"unit {unit!r} for a request rate"] += 1
                    continue
                if "/gpu" in unit.replace(" ", ""):
                    field = "output_throughput_per_gpu"
            nd = int(float(row.get("n_devices") or 1))
            tp = int(float(row.get("tp") or nd or 1))
            m = re.search(r"(\d+)\s+(?:requests|prompts)", row.get("notes") or "")
            n = arr[3] or (int(m.group(1)) if m else 500)
            engine = match(row.get("framework") or "").name
            if engine == "default":
                skipped["framework not one of the engine records (hetsim engines)"] += 1
                continue
            out.append(
                ServingRow(
                    hw,
                    model,
                    tp,
                    nd,
                    arr[0],
                    arr[1],
                    arr[2],
                    min(n, 5000),
                    p,
                    g,
                    prec,
                    engine,
                    metric,
                    field,
                    value,
                    (row.get("source_id") or "").strip(),
                    mix,
                )
            )
    return out, skipped
