"""A fingerprint of the op graphs, footprints and weight splits of every model preset, to pin
them across refactors of the graph builder. ``python -m tests.workload.fingerprint`` rewrites
``op_graph_fingerprint.json.gz`` (only when a change of the numbers is intended: say so in the
commit); ``test_fingerprint.py`` compares against it.

Each model is built under a few configurations (precision, tensor parallelism, attention
implementation, GQA-shared KV reads) for both phases, with the workload given as arrays
(three batches x lengths at once), and every op's count, kind, split, parts and numeric
fields are recorded, plus the footprint, the weight split and the model's sizes.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np

from hetsim.sim.config import Options, footprint
from hetsim.sim.placed import split_weights
from hetsim.workload.dtypes import Precision
from hetsim.workload.graph import build_ops, embedding_bytes, kv_bytes_per_token, weight_bytes
from hetsim.workload.registry import get_model

PATH = Path(__file__).with_name("op_graph_fingerprint.json.gz")
NUMERIC = (
    "flop",
    "weight_bytes",
    "kv_read_bytes",
    "kv_write_bytes",
    "act_read_bytes",
    "act_write_bytes",
    "gemm_m",
    "gemm_n",
    "gemm_k",
    "gemm_groups",
    "rows",
)
BATCH = np.array([1.0, 8.0, 64.0])
LENGTH = np.array([128.0, 1000.0, 8192.0])
# the models of the fingerprint: the presets of the day it was taken (new presets are not in it)
MODELS = (
    "bloom-176b", "chinchilla-70b", "falcon-180b", "gpt-j-6b", "gpt3-175b", "llama2-13b",
    "llama2-70b", "llama2-7b", "llama3-70b", "llama3-8b", "llama3.1-405b", "mistral-7b",
    "mixtral-8x7b", "opt-175b", "opt-30b", "opt-6.7b", "opt-66b", "qwen2.5-72b",
)  # fmt: skip


def _configs(n_heads: int, n_kv: int) -> list[dict[str, Any]]:
    tp = 8 if n_heads % 8 == 0 and (n_kv % 8 == 0 or 8 % n_kv == 0) else 1
    return [
        {"prec": ("fp16", None, None, None, 0), "tp": 1, "attention": "fused", "shared": True},
        {"prec": ("int4", None, None, None, 64), "tp": tp, "attention": "unfused", "shared": False},
        {"prec": ("fp8", None, "fp8", None, 0), "tp": 2 if n_heads % 2 == 0 else 1, "attention": "fused",
         "shared": True},
    ]  # fmt: skip


def _num(x: Any) -> list[float]:
    return [float(v) for v in np.broadcast_to(np.asarray(x, dtype=float), (3,))]


def _ops(ops: list[Any]) -> list[dict[str, Any]]:
    out = []
    for o in ops:
        rec: dict[str, Any] = {
            "name": o.name,
            "sublayer": o.sublayer,
            "kind": o.kind,
            "prefers": o.prefers,
            "count": o.count,
            "split": o.split,
            "n_parts": o.n_parts,
        }
        for f in NUMERIC:
            rec[f] = _num(getattr(o, f))
        out.append(rec)
    return out


def model_fingerprint(name: str) -> dict[str, Any]:
    m = get_model(name)
    out: dict[str, Any] = {"params": m.params, "active_params": m.active_params, "configs": []}
    for cfg in _configs(m.n_heads, m.n_kv_heads):
        w, a, kv, g, grp = cfg["prec"]
        prec = Precision.of(w, a, kv, g, grp)
        tp = cfg["tp"]
        opts = Options(tp=tp, attention=cfg["attention"])
        rec: dict[str, Any] = {"config": {**cfg, "prec": list(cfg["prec"])}}
        rec["prefill"] = _ops(
            build_ops(
                m,
                prec,
                phase="prefill",
                batch=BATCH,
                q_len=LENGTH,
                context=LENGTH,
                tp=tp,
                attention=cfg["attention"],
            )
        )
        rec["decode"] = _ops(
            build_ops(
                m,
                prec,
                phase="decode",
                batch=BATCH,
                q_len=1.0,
                context=LENGTH + 17.0,
                tp=tp,
                attention=cfg["attention"],
                shared_kv_reads=cfg["shared"],
            )
        )
        rec["decode_layers"] = _ops(
            build_ops(
                m,
                prec,
                phase="decode",
                batch=BATCH,
                q_len=1.0,
                context=LENGTH,
                tp=tp,
                include_embeddings=False,
            )
        )
        fp = footprint(m, prec, BATCH, LENGTH + 256.0, opts, live_len=LENGTH)
        rec["footprint"] = {k: _num(v) for k, v in fp.items()}
        rec["split_weights"] = {k: float(v) for k, v in split_weights(m, prec, fp, tp).items()}
        rec["weight_bytes"] = weight_bytes(m, prec)
        rec["embedding_bytes"] = embedding_bytes(m, prec)
        rec["kv_bytes_per_token"] = kv_bytes_per_token(m, prec)
        out["configs"].append(rec)
    return out


def fingerprint() -> dict[str, Any]:
    return {name: model_fingerprint(name) for name in MODELS}


def load() -> dict[str, Any]:
    with gzip.open(PATH, "rt") as f:
        data: dict[str, Any] = json.load(f)
    return data


if __name__ == "__main__":
    text = json.dumps(fingerprint(), separators=(",", ":"))
    PATH.write_bytes(gzip.compress(text.encode(), mtime=0))  # reproducible bytes
    print(f"wrote {PATH} ({PATH.stat().st_size} bytes)")
