"""Run a spec into a store (fresh or resumed), estimate a run (dry run), read results back.

>>> from hetsim.explore import explore          # doctest: +SKIP
>>> explore({"axes": {...}}, "out/sweep", workers=2)
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hetsim.datafiles import read_mapping
from hetsim.errors import ConfigError, HetsimError
from hetsim.explore.backends import Chunk, Result, probe_ray, run_chunk, run_inline, run_pool, run_ray
from hetsim.explore.evaluate import Evaluator
from hetsim.explore.spec import Spec, parse_spec
from hetsim.explore.store import Store, StoreError, create, keep_verified, open_for_resume

OnProgress = Callable[[int, int], None]  # (points finished, points in the run)


class EmptyResultError(HetsimError):
    """Every point of a sweep was filtered out."""


@dataclass(frozen=True, slots=True)
class Summary:
    out: Path
    n_points: int
    n_chunks: int
    chunks_run: int  # in this call (fewer than n_chunks after a resume)
    rows: int  # rows in the store
    removed: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def load_spec(source: Mapping[str, Any] | str | Path) -> Spec:
    """A spec from a mapping or a YAML/JSON file."""
    raw = read_mapping(Path(source)) if isinstance(source, str | Path) else source
    return parse_spec(raw)


def chunks(spec: Spec, skip: set[int] | frozenset[int] = frozenset()) -> Iterator[Chunk]:
    n, c = spec.n_points, spec.chunk_size
    for k in range(-(-n // c)):
        if k not in skip:
            yield k, k * c, min((k + 1) * c, n)


def default_workers() -> int:
    return max(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, 1)


def explore(
    source: Mapping[str, Any] | str | Path | None,
    out: str | Path,
    *,
    workers: int | None = None,
    ray: str | None = None,
    resume: bool = False,
    frontier_only: bool = False,
    on_progress: OnProgress | None = None,
) -> Summary:
    """Evaluate every point of a spec into the store ``out``; with ``resume`` continue the
    store's own spec (``source`` may be None). Returns what was done."""
    root = Path(out)
    if ray and ray != "auto":
        probe_ray(ray)  # before anything is written
    if resume:
        store = open_for_resume(root)
        man = store.manifest()
        spec = parse_spec(man["spec"])
        if (man.get("digest"), man["n_points"], man["chunk_size"]) != (
            spec.digest,
            spec.n_points,
            spec.chunk_size,
        ):
            raise StoreError(
                f"{root}/manifest.json does not match the spec it holds (edited?); pick a new --out"
            )
        if source is not None and load_spec(source).digest != spec.digest:
            raise ConfigError(f"{root} holds a different spec; resume it without a spec or pick a new --out")
        keep_verified(store, spec_schema(spec), spec.digest)
    else:
        if source is None:
            raise ConfigError("give a spec file, or --resume DIR")
        spec = load_spec(source)
        if frontier_only:
            spec = parse_spec({**spec.raw, "reduce": {**spec.reduce, "pareto": True}})
        Evaluator(spec).check()
        store = create(root, {"spec": spec.raw, "digest": spec.digest, "n_points": spec.n_points,
                              "chunk_size": spec.chunk_size})  # fmt: skip
    done = store.done()
    todo = list(chunks(spec, set(done)))
    n_chunks = -(-spec.n_points // spec.chunk_size)
    finished = sum(r["stop"] - r["start"] for r in done.values())
    total = spec.n_points
    if on_progress:
        on_progress(finished, total)
    t0 = time.perf_counter()

    def take(res: Result) -> None:
        nonlocal finished
        k, payload, rec = res
        store.write_chunk(k, payload, rec, spec.digest)
        finished += rec["stop"] - rec["start"]
        if on_progress:
            on_progress(finished, total)

    n_workers = workers or default_workers()
    if ray:
        run_ray(spec.raw, todo, ray, take)
    elif n_workers <= 1 or len(todo) <= 1:
        run_inline(spec.raw, todo, take)
    else:
        run_pool(spec.raw, todo, n_workers, take)
    seconds = time.perf_counter() - t0
    final = store.done()
    rows = sum(int(r["rows"]) for r in final.values())
    removed: dict[str, int] = {}
    for r in final.values():
        for f, n in r["removed"].items():
            removed[f] = removed.get(f, 0) + int(n)
    if rows == 0 and len(final) == n_chunks:
        raise EmptyResultError(_empty_reason(removed, spec.n_points))
    return Summary(root, spec.n_points, n_chunks, len(todo), rows, removed, seconds)


def _empty_reason(removed: Mapping[str, int], n: int) -> str:
    hits = [(f, c) for f, c in removed.items() if c]
    if not hits:
        return f"no point of {n} survived the filters"
    last = hits[-1][0]
    told = ", ".join(f"{f!r} removed {c}" for f, c in hits)
    return f"every one of the {n} points was filtered out ({told}); loosen {last!r}"


@dataclass(frozen=True, slots=True)
class DryRun:
    n_points: int
    n_chunks: int
    workers: int
    sample_points: int
    sample_s: float
    est_seconds: float
    est_bytes: float
    sample_kept: int


def dry_run(source: Mapping[str, Any] | str | Path, *, workers: int | None = None) -> DryRun:
    """Count the points and estimate time and disk from a timed sample of the first chunk."""
    spec = load_spec(source)
    ev = Evaluator(spec)
    ev.check()
    n = min(spec.n_points, spec.chunk_size, 4096)
    ev.run(0, min(n, 16))  # warm the caches
    t0 = time.perf_counter()
    _, payload, rec = run_chunk(ev, 0, 0, n)
    dt = time.perf_counter() - t0
    w = workers or default_workers()
    n_chunks = -(-spec.n_points // spec.chunk_size)
    per_point_bytes = len(payload) / n if rec["rows"] else 0.0
    return DryRun(spec.n_points, n_chunks, w, n, dt, dt / n * spec.n_points / w,
                  per_point_bytes * spec.n_points, int(rec["rows"]))  # fmt: skip


def spec_schema(spec: Spec) -> Any:
    """The Parquet schema of the spec's chunks (from its first point, evaluated and encoded)."""
    import io

    import pyarrow.parquet as pq

    _, payload, _ = run_chunk(Evaluator(spec), 0, 0, min(1, spec.n_points))
    return pq.read_schema(io.BytesIO(payload))


def read_results(out: str | Path) -> dict[str, np.ndarray[Any, Any]]:
    """All rows of a store as NumPy columns (for small stores and tests)."""
    import pyarrow.parquet as pq

    store = Store(Path(out))
    files = store.files()
    if not files:
        return {}
    try:
        table = pq.read_table([str(f) for f in files]) if len(files) > 1 else pq.read_table(files[0])
    except (OSError, ValueError) as exc:  # a damaged chunk (ArrowInvalid is a ValueError)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StoreError(
            f"{out}: a chunk cannot be read ({first}); hetsim explore --resume {out} redoes it"
        ) from None
    return {c: table.column(c).to_numpy() for c in table.column_names}
