"""The PyTorch/CUDA microbenchmark backend. Imported only by ``hetsim calibrate --device
cuda`` after PyTorch was found; ``torch`` is passed in, never imported at module level."""

from __future__ import annotations

import statistics
from typing import Any

from hetsim.calibration.microbench import Thunk

_DT = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32"}


class TorchBackend:
    def __init__(self, torch: Any, repeats: int = 20) -> None:
        self.t = torch
        self.repeats = repeats
        self.dev = torch.device("cuda")

    def info(self) -> dict[str, str]:
        t = self.t
        props = t.cuda.get_device_properties(0)
        driver = "?"
        try:
            import subprocess

            driver = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=10, check=False,
            ).stdout.strip().splitlines()[0]  # fmt: skip
        except (OSError, IndexError, ValueError):
            pass
        return {
            "hardware": t.cuda.get_device_name(0),
            "sms": str(props.multi_processor_count),
            "memory_bytes": str(props.total_memory),
            "torch": t.__version__,
            "cuda": str(t.version.cuda),
            "cudnn": str(t.backends.cudnn.version()),
            "driver": driver,
        }

    def _rand(self, *shape: int, dtype: str = "fp16") -> Any:
        return self.t.randn(*shape, device=self.dev, dtype=getattr(self.t, _DT[dtype]))

    def gemm_op(self, m: int, n: int, k: int, dtype: str) -> Thunk:
        a, b = self._rand(m, k, dtype=dtype), self._rand(k, n, dtype=dtype)
        return lambda: self.t.matmul(a, b)

    def copy_op(self, nbytes: int) -> Thunk:
        src = self.t.empty(nbytes // 2, device=self.dev, dtype=self.t.float16)
        dst = self.t.empty_like(src)
        return lambda: dst.copy_(src)

    def attention_op(self, batch: int, heads: int, kv_heads: int, head_dim: int, context: int) -> Thunk:
        q = self._rand(batch, heads, 1, head_dim)
        k = self._rand(batch, heads, context, head_dim)
        v = self._rand(batch, heads, context, head_dim)
        f = self.t.nn.functional.scaled_dot_product_attention
        return lambda: f(q, k, v)

    def decode_step_op(
        self, batch: int, context: int, layers: int, d: int, heads: int, kv: int, ff: int
    ) -> Thunk:
        t, hd = self.t, d // heads
        w = [
            (self._rand(d, 3 * d), self._rand(d, d), self._rand(d, 2 * ff), self._rand(ff, d))
            for _ in range(layers)
        ]
        cache = [
            (self._rand(batch, heads, context, hd), self._rand(batch, heads, context, hd))
            for _ in range(layers)
        ]
        x0 = self._rand(batch, d)
        f = t.nn.functional

        def step() -> Any:
            x = x0
            for (wqkv, wo, wup, wdown), (kc, vc) in zip(w, cache, strict=True):
                h = f.rms_norm(x, (d,)) if hasattr(f, "rms_norm") else x
                q = (h @ wqkv)[:, :d].view(batch, heads, 1, hd)
                a = f.scaled_dot_product_attention(q, kc, vc).reshape(batch, d)
                x = x + a @ wo
                g, u = (x @ wup).chunk(2, dim=-1)
                x = x + (f.silu(g) * u) @ wdown
            return x

        return step

    def time(self, fn: Thunk) -> float:
        t = self.t
        for _ in range(3):
            fn()
        t.cuda.synchronize()
        times = []
        for _ in range(self.repeats):
            start, end = t.cuda.Event(enable_timing=True), t.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) * 1e-3)
        return float(statistics.median(times))
