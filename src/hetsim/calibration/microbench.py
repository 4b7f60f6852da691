"""GPU microbenchmarks written as measurement CSV rows (the shared schema).

``run_microbenchmarks(backend, out)`` sweeps GEMMs over M/N/K and data types, decode
attention over context lengths, copy (stream) bandwidth, and one decode step of a small
transformer. The backend owns the device and the clock: :func:`torch_backend` uses PyTorch
on CUDA (imported lazily; PyTorch is not a dependency of hetsim), tests pass a fake one with
a fake timer, so nothing here needs a GPU to be tested.
"""

from __future__ import annotations

import csv
import io
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from hetsim.calibration.measurements import COLUMNS
from hetsim.errors import MeasurementError
from hetsim.outfiles import atomic_write_text

Thunk = Callable[[], Any]

GEMM_SIZES = (1, 16, 64, 256, 1024, 4096)
GEMM_NK = ((4096, 4096), (12288, 4096), (4096, 11008), (22016, 4096))
DTYPES = ("fp16", "bf16")
CONTEXTS = (128, 512, 2048, 8192)
COPY_BYTES = (2**24, 2**28, 2**30)
# a small Llama-like layer stack for the decode-step benchmark: (layers, d, heads, kv, ff)
SMALL_MODEL = (4, 2048, 16, 16, 5504)


class Backend(Protocol):
    """What the sweep needs from a device. Each ``*_op`` returns a thunk running the op once;
    ``time`` returns the median seconds of a thunk (warm-up and synchronisation included)."""

    def info(self) -> dict[str, str]: ...
    def gemm_op(self, m: int, n: int, k: int, dtype: str) -> Thunk: ...
    def copy_op(self, nbytes: int) -> Thunk: ...
    def attention_op(self, batch: int, heads: int, kv_heads: int, head_dim: int, context: int) -> Thunk: ...
    def decode_step_op(
        self, batch: int, context: int, layers: int, d: int, heads: int, kv: int, ff: int
    ) -> Thunk: ...
    def time(self, fn: Thunk) -> float: ...


def _row(info: dict[str, str], **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {c: "" for c in COLUMNS}
    base.update(
        source_id=f"hetsim_microbench_{info.get('hardware', 'gpu').replace(' ', '_')}",
        source_url="hetsim calibrate --device cuda",
        hardware=info.get("hardware", ""),
        n_devices=1,
        framework=(
            f"PyTorch {info.get('torch', '?')}, CUDA {info.get('cuda', '?')}, "
            f"driver {info.get('driver', '?')}"
        ),
        tp=1,
        pp=1,
        ambiguous="",
    )
    base.update(kw)
    return base


def run_microbenchmarks(backend: Backend, out: Path, *, quick: bool = False) -> Path:
    """Run the sweep on ``backend`` and write the CSV ``out``. Returns ``out``."""
    info = backend.info()
    notes_env = f"host {platform.node() or '?'}; " + "; ".join(f"{k}={v}" for k, v in sorted(info.items()))
    rows: list[dict[str, Any]] = []
    sizes = GEMM_SIZES[::2] if quick else GEMM_SIZES
    for dtype in DTYPES[:1] if quick else DTYPES:
        for n, k in GEMM_NK[:2] if quick else GEMM_NK:
            for m in sizes:
                t = backend.time(backend.gemm_op(m, n, k, dtype))
                rows.append(_row(info, model="GEMM (torch.matmul)", precision=dtype.upper(),
                                 metric="gemm_latency", value=f"{t * 1e3:.6g}", unit="ms",
                                 gemm_m=m, gemm_n=n, gemm_k=k, notes=notes_env))  # fmt: skip
    for nbytes in COPY_BYTES[-1:] if quick else COPY_BYTES:
        t = backend.time(backend.copy_op(nbytes))
        rows.append(_row(info, model="stream kernel copy (tensor.copy_)", precision="FP16",
                         batch_or_concurrency=f"size={nbytes} bytes, occupancy=100%",
                         metric="stream_bandwidth:copy", value=f"{2 * nbytes / t / 1e9:.6g}", unit="GB/s",
                         notes=f"bytes moved = 2 x size (read + write); {notes_env}"))  # fmt: skip
    layers, d, heads, kv, ff = SMALL_MODEL
    hd = d // heads
    for ctx in CONTEXTS[:2] if quick else CONTEXTS:
        t = backend.time(backend.attention_op(8, heads, kv, hd, ctx))
        rows.append(_row(info, model="decode attention (scaled_dot_product_attention)", precision="FP16",
                         batch_or_concurrency=f"batch=8, context={ctx}", input_len=ctx, output_len=1,
                         metric="op_time_median:decode_attention", value=f"{t * 1e3:.6g}", unit="ms",
                         notes=f"H={heads},KV={kv},E={d},F={ff},gated=True; {notes_env}"))  # fmt: skip
        t = backend.time(backend.decode_step_op(8, ctx, layers, d, heads, kv, ff))
        rows.append(_row(info, model=f"small llama ({layers} layers, d={d})", precision="FP16",
                         batch_or_concurrency="8", input_len=ctx, output_len=1,
                         metric="decode_step_latency", value=f"{t * 1e3:.6g}", unit="ms",
                         notes=f"one decode step, eager PyTorch; H={heads},KV={kv},E={d},F={ff},"
                               f"gated=True; {notes_env}"))  # fmt: skip
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=list(COLUMNS))
    w.writeheader()
    w.writerows(rows)
    return atomic_write_text(out, buf.getvalue())  # the caller checked the path (no overwrite)


def torch_backend(repeats: int = 20) -> Backend:
    """A PyTorch/CUDA backend timed with CUDA events (median of ``repeats``)."""
    try:
        import torch
    except ImportError:
        raise MeasurementError("--device cuda needs PyTorch: pip install 'hetsim[gpu]'") from None
    if not torch.cuda.is_available():
        raise MeasurementError("--device cuda: PyTorch sees no CUDA GPU on this machine")
    from hetsim.calibration.torch_backend import TorchBackend

    return TorchBackend(torch, repeats)
