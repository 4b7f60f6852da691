"""Files derived from a :class:`ServingResult`: per-request CSV and a Chrome/Perfetto trace.

The trace is the Trace Event Format JSON that ``chrome://tracing`` and ui.perfetto.dev open:
one "engine" track with an event per priced iteration or closed-form decode run, one track
per request (queued, prefill, decode spans; the first ``max_requests``), and counters for
KV-cache blocks, running and waiting requests. Times are microseconds.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from hetsim.outfiles import atomic_write_text, check_new_file, strict_json
from hetsim.serving.metrics import ServingResult, per_request_metrics

CSV_COLUMNS = (
    "request",
    "arrival_s",
    "input_len",
    "output_len",
    "first_token_s",
    "finish_s",
    "ttft_s",
    "tpot_s",
    "e2e_s",
    "preemptions",
    "energy_j",
)


def writable(path: Path, force: bool) -> Path:
    """``path`` if it may be written (the project's rules, :mod:`hetsim.outfiles`)."""
    return check_new_file(path, force)


def requests_csv(r: ServingResult) -> str:
    """One row per request (seconds; empty where undefined)."""
    per = per_request_metrics(r)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)

    def f(x: float) -> str:
        return "" if not np.isfinite(x) else f"{x:.6f}"

    for i in range(r.n_requests):
        w.writerow(
            [
                i,
                f(r.arrival_s[i]),
                int(r.input_len[i]),
                int(r.output_len[i]),
                f(r.first_token_s[i]),
                f(r.finish_s[i]),
                f(per["ttft"][i]),
                f(per["tpot"][i]),
                f(per["e2e"][i]),
                int(r.request_preemptions[i]),
                f(r.request_energy_j[i]) if i < len(r.request_energy_j) else "",
            ]
        )
    return buf.getvalue()


def perfetto_trace(r: ServingResult, max_requests: int = 200) -> dict[str, Any]:
    """Trace Event Format object (``traceEvents``) of the run."""
    us = 1e6
    ev: list[dict[str, Any]] = [
        {"ph": "M", "pid": 1, "name": "process_name", "args": {"name": f"{r.engine} on {r.hardware}"}},
        {"ph": "M", "pid": 1, "tid": 0, "name": "thread_name", "args": {"name": "engine iterations"}},
        {"ph": "M", "pid": 2, "name": "process_name", "args": {"name": "requests"}},
    ]
    for start, dur, steps, n_dec, pre_tok in r.iterations:
        name = f"prefill {pre_tok} tok + decode {n_dec}" if pre_tok else f"decode {n_dec} x {steps} steps"
        ev.append(
            {
                "ph": "X",
                "pid": 1,
                "tid": 0,
                "name": name,
                "ts": start * us,
                "dur": dur * us,
                "args": {"steps": steps, "decode_seqs": n_dec, "prefill_tokens": pre_tok},
            }
        )
    for t, used, running, waiting, pre in r.timeline:
        ev.append(
            {
                "ph": "C",
                "pid": 1,
                "name": "kv_cache",
                "ts": t * us,
                "args": {"blocks_used": used, "blocks_free": r.kv_blocks_total - used},
            }
        )
        ev.append(
            {
                "ph": "C",
                "pid": 1,
                "name": "requests",
                "ts": t * us,
                "args": {"running": running, "waiting": waiting},
            }
        )
        ev.append({"ph": "C", "pid": 1, "name": "preemptions", "ts": t * us, "args": {"total": pre}})
    for i in range(min(r.n_requests, max_requests)):
        a, f, e = r.arrival_s[i], r.first_token_s[i], r.finish_s[i]
        if not (np.isfinite(a) and np.isfinite(f) and np.isfinite(e)):
            continue
        ev.append({"ph": "M", "pid": 2, "tid": i, "name": "thread_name", "args": {"name": f"request {i}"}})
        ev.append(
            {"ph": "X", "pid": 2, "tid": i, "name": "to first token", "ts": a * us, "dur": (f - a) * us}
        )
        ev.append(
            {
                "ph": "X",
                "pid": 2,
                "tid": i,
                "name": f"decode {int(r.output_len[i]) - 1} tokens",
                "ts": f * us,
                "dur": (e - f) * us,
            }
        )
    return {"traceEvents": ev, "displayTimeUnit": "ms", "otherData": {"hetsim": r.summary()}}


def write_trace(r: ServingResult, path: Path, *, force: bool = False) -> None:
    atomic_write_text(writable(path, force), strict_json(perfetto_trace(r)))


def write_csv(r: ServingResult, path: Path, *, force: bool = False) -> None:
    atomic_write_text(writable(path, force), requests_csv(r))
