"""The published vocabulary of measurement files (``data/measurements/published/README.md``, "The
vocabulary a reader must handle"): units, hardware names, precision strings, batch /
concurrency forms and length fields, each normalised to what the cost model can price, or to
a reason it cannot. Pure tables and parsers; no pricing.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from hetsim.errors import HetsimError
from hetsim.hardware.names import normalise_hardware as normalise_hardware
from hetsim.workload.dtypes import Precision

# unit as the source wrote it (lower-cased, spaces collapsed) -> (SI factor, SI unit)
UNITS: dict[str, tuple[float, str]] = {
    "s": (1.0, "s"),
    "ms": (1e-3, "s"),
    "us": (1e-6, "s"),
    "µs": (1e-6, "s"),
    "ns": (1e-9, "s"),
    "s per token": (1.0, "s"),
    "s/token": (1.0, "s"),
    "ms/token": (1e-3, "s"),
    "tokens/s": (1.0, "tokens/s"),
    "tok/s": (1.0, "tokens/s"),
    "t/s": (1.0, "tokens/s"),
    "token/s": (1.0, "tokens/s"),
    "tokens/sec": (1.0, "tokens/s"),
    "tokens/second": (1.0, "tokens/s"),
    "output tok/s": (1.0, "tokens/s"),
    "total tok/s": (1.0, "tokens/s"),
    "tokens/s/gpu": (1.0, "tokens/s"),  # per GPU: times the devices -> total
    "tok/s/gpu": (1.0, "tokens/s"),
    "req/s": (1.0, "requests/s"),
    "samples/s": (1.0, "samples/s"),
    "sentences/s": (1.0, "samples/s"),
    "tflops": (1e12, "flop/s"),
    "gflops": (1e9, "flop/s"),
    "gb/s": (1e9, "bytes/s"),
    "tb/s": (1e12, "bytes/s"),
    "g elements/s": (1e9, "elements/s"),
    "j": (1.0, "J"),
    "j/token": (1.0, "J/token"),
    "mj/token": (1e-3, "J/token"),
    "w": (1.0, "W"),
}


def unit_key(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def is_per_gpu(unit: str, metric: str) -> bool:
    """Whether a throughput row is per GPU (its value times the devices is the total)."""
    return unit_key(unit).endswith("/gpu") or metric.endswith("_per_gpu")


# free-text hardware names: the one vocabulary is hetsim.hardware.names (serving reads it too);
# normalise_hardware and resolve_hardware are imported from it above


# precision as written -> key; the first match wins (weight-only and KV forms first)
PRECISION_RULES: tuple[tuple[str, str], ...] = (
    (r"\b(q[2-8]_[0-9a-z]+(?:_[a-z0-9]+)?|iq[1-4]_[a-z]+)\b", "gguf:{}"),  # a GGUF tensor type
    (r"\bgguf\b", "gguf"),
    (r"2:4|sparse-marlin", "sparse-2:4"),  # 2:4 structured sparsity: not priced
    (r"codebook", "codebook"),
    (r"autoquant|mixed per layer", "mixed"),
    (r"\bfp6\b", "fp6"),
    (r"int8 weights?.*int8 kv", "int8-wo-kv8"),
    (r"\bw4a8", "w4a8"),  # 4-bit weights with 8-bit activations (W4A8 AWQ, QServe): not priced
    (r"int8 weight-only|w8a16|(gptq|awq)[-_ ]?int8", "int8-wo"),
    *((rf"(int4 weight-only|w4a16|awq|gptq|int4 weights).*\bg{g}\b", f"int4-wo-g{g}") for g in (32, 64, 256)),
    (r"int4 weight-only|w4a16|awq|gptq|int4 weights", "int4-wo"),
    (r"mxfp4", "mxfp4"),
    (r"nvfp4|\bfp4\b", "fp4"),
    (r"fp8|float8", "fp8"),
    (r"int8|w8a8", "int8"),
    (r"bf16/fp16|fp16/bf16", "fp16"),  # "BF16/FP16 (Base; dtype not stated)": both 16-bit
    (r"bf16|bfloat16", "bf16"),
    (r"fp16|float16|half", "fp16"),
    (r"fp32|float32|tf32", "fp32"),
    (r"fp64|double", "fp64"),
)


def normalise_precision(text: str) -> str:
    """Precision key ('fp16', 'fp8', 'int4-wo', 'gguf:q4_k_m', ...; '' when not stated)."""
    low = text.lower()
    for pattern, name in PRECISION_RULES:
        m = re.search(pattern, low)
        if m:
            return name.format(m.group(1)) if "{}" in name else name
    return ""


# precision key -> the data types an engine running it uses. FP8 engines (TensorRT-LLM,
# vLLM) quantise GEMM inputs to FP8 and keep 16-bit activations, all-reduces and KV cache
# unless the row says otherwise; weight-only engines dequantise to 16-bit GEMMs.
PRECISIONS: dict[str, Precision] = {
    "fp16": Precision(),
    "bf16": Precision.of("bf16"),
    "fp8": Precision.of("fp8"),
    "fp4": Precision.of("fp4"),
    "mxfp4": Precision.of("mxfp4"),  # OCP MX: E2M1 + an E8M0 scale per 32 (4.25 bits), dequantised
    "int8-wo": Precision.of("int8", "fp16"),
    "int4-wo": Precision.of("int4", "fp16"),  # group of 128 (AWQ / GPTQ / TensorRT-LLM default)
    **{f"int4-wo-g{g}": Precision.of("int4", "fp16", weight_group=g) for g in (32, 64, 256)},
    "int8-wo-kv8": Precision.of("int8", "fp16", "int8"),
    "int8": Precision.of("int8", "int8", "fp16"),
}


def precision_of(key: str) -> Precision | None:
    """The data types of a precision key (a GGUF tensor type through its format), or None."""
    if key.startswith("gguf:"):
        try:
            return Precision.of(key.split(":", 1)[1])
        except HetsimError:
            return None
    return PRECISIONS.get(key)


@dataclass(frozen=True, slots=True)
class BatchForm:
    """``batch_or_concurrency`` parsed: a static batch, op sizes, or a serving load."""

    batch: int | None = None
    num_tokens: int | None = None
    size_bytes: float | None = None
    occupancy: float | None = None
    serving: str = ""  # 'qps', 'rps', 'concurrency', 'max-load', 'mlperf' (needs the serving simulator)
    running_batch: float | None = None  # a concurrency row's stated steady-state running batch


SERVING_FORMS: tuple[tuple[str, str], ...] = (
    (r"\bqps\s*=", "qps"),
    (r"\brps\s*=", "rps"),
    (r"concurrency\s*=", "concurrency"),
    (r"max-load", "max-load"),
    (r"mlperf", "mlperf"),
)


def parse_batch(text: str) -> BatchForm:
    """'16', 'num_tokens=4096', 'size=2048 elements (4096 bytes)', 'blockSize=32, ...,
    occupancy=3%', 'QPS=2', 'QPS=INF', 'RPS=4, num_prompts=500', 'concurrency=8',
    'max-load (...)', 'MLPerf Server'."""
    t = text.strip()
    if re.fullmatch(r"[0-9]+", t):
        return BatchForm(batch=int(t))
    low = t.lower()
    for pattern, form in SERVING_FORMS:
        if re.search(pattern, low):
            m = re.search(r"(?:average|mean) running batch\s*([0-9.]+)", low)
            return BatchForm(serving=form, running_batch=float(m.group(1)) if m else None)
    m = re.search(r"num_tokens\s*=\s*([0-9]+)", t)
    num_tokens = int(m.group(1)) if m else None
    m = re.search(r"\(([0-9]+)\s*bytes\)", t)
    size = float(m.group(1)) if m else _size_label(t)
    m = re.search(r"occupancy\s*=\s*([0-9.]+)\s*%", t)
    occ = float(m.group(1)) / 100 if m else None
    return BatchForm(num_tokens=num_tokens, size_bytes=size, occupancy=occ)


def _size_label(text: str) -> float | None:
    """A message size written as a rounded label (``size=132K``, ``size=1G``: nccl-tests tables)
    read as the nearest power of two (nccl-tests doubles its sizes from 1,024 bytes)."""
    m = re.search(r"size\s*=\s*([0-9.]+)\s*([KMG])\b", text, re.IGNORECASE)
    if m is None:
        return None
    scale = {"K": 1e3, "M": 1e6, "G": 1e9}[m.group(2).upper()]
    return float(2.0 ** round(math.log2(float(m.group(1)) * scale)))


def parse_length(text: str) -> tuple[int | None, str]:
    """(tokens, form) of ``input_len`` / ``output_len``: '128' -> (128, ''), '1 (first
    token)' -> (1, 'first_token'), '-' or '' -> (None, 'absent'), 'dataset' -> (None,
    'dataset'). A value that is none of these raises ValueError."""
    t = text.strip().lower()
    if not t or t in ("-", "n/a", "na"):
        return None, "absent"
    if t.startswith("dataset"):
        return None, "dataset"
    m = re.match(r"([0-9]+(?:\.0*)?)\s*(\(first token\))?$", t)
    if not m:
        raise ValueError(f"length {text!r}")
    return int(float(m.group(1))), "first_token" if m.group(2) else ""
