"""The result store: one Parquet file per chunk plus a manifest, safe to kill at any moment.

    DIR/manifest.json        spec, its digest, point and chunk counts (written once)
    DIR/chunks/c-000123.parquet   rows of chunk 123 (written to a temporary name, then renamed)
    DIR/done.jsonl           one line per finished chunk, appended after its file is in place

A chunk counts as done only when its line is in ``done.jsonl`` (a torn last line is ignored)
and its file exists; resume deletes chunk files without a line and redoes those chunks, so a
kill at any point loses and duplicates nothing.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hetsim.errors import ConfigError, HetsimError

MANIFEST = "manifest.json"
DONE = "done.jsonl"
CHUNKS = "chunks"
FORMAT = 1


class StoreError(HetsimError):
    """An output directory cannot be used as asked."""


def _pa() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - dev install has it
        raise ConfigError("the explore store needs pyarrow: pip install 'hetsim[explore]'") from None
    return pa, pq


def encode(columns: Mapping[str, np.ndarray[Any, Any]]) -> bytes:
    """Parquet bytes of one chunk's columns (text columns dictionary-encoded)."""
    pa, pq = _pa()
    arrays = {}
    for name, x in columns.items():
        if x.dtype == object or x.dtype.kind == "U":
            # text columns hold a few distinct labels in runs (one per group): encode the runs
            labels, codes = np.unique(x.astype(str), return_inverse=True) if x.size < 64 else _runs(x)
            arrays[name] = pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(labels))
        else:
            arrays[name] = pa.array(x)
    buf = io.BytesIO()
    pq.write_table(pa.table(arrays), buf, compression="snappy")
    return buf.getvalue()


def _runs(x: np.ndarray[Any, Any]) -> tuple[list[str], np.ndarray[Any, Any]]:
    """(labels, codes) of an object array made of long runs of equal values."""
    starts = np.flatnonzero(np.r_[True, x[1:] != x[:-1]])
    labels: list[str] = []
    lengths = np.diff(np.r_[starts, x.size])
    run_codes = np.empty(starts.size, dtype=np.int32)
    index: dict[str, int] = {}
    for j, i in enumerate(starts):
        run_codes[j] = index.setdefault(str(x[i]), len(index))
    labels = list(index)
    return labels, np.repeat(run_codes, lengths)


@dataclass(frozen=True, slots=True)
class Store:
    root: Path

    @property
    def chunk_dir(self) -> Path:
        return self.root / CHUNKS

    def chunk_path(self, k: int) -> Path:
        return self.chunk_dir / f"c-{k:06d}.parquet"

    def manifest(self) -> dict[str, Any]:
        path = self.root / MANIFEST
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            raise StoreError(f"{self.root} is not an explore store (no readable {MANIFEST})") from None
        return data

    def done(self) -> dict[int, dict[str, Any]]:
        """Finished chunks: id -> its line (rows kept, filter counts)."""
        out: dict[int, dict[str, Any]] = {}
        path = self.root / DONE
        if not path.exists():
            return out
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line torn by a kill
            if isinstance(rec, dict) and "chunk" in rec and self.chunk_path(int(rec["chunk"])).exists():
                out[int(rec["chunk"])] = rec
        return out

    def write_chunk(self, k: int, payload: bytes, record: Mapping[str, Any]) -> None:
        tmp = self.chunk_dir / f".c-{k:06d}.tmp"
        with open(tmp, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.chunk_path(k))
        with open(self.root / DONE, "a") as f:
            f.write(json.dumps({"chunk": k, **record}) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def files(self) -> list[Path]:
        return [self.chunk_path(k) for k in sorted(self.done())]


def create(root: Path, manifest: Mapping[str, Any]) -> Store:
    """A new store at ``root``; refuses a directory that already holds anything."""
    if root.exists() and not root.is_dir():
        raise StoreError(f"--out {root} is a file; give a new or empty directory")
    if root.is_dir() and any(root.iterdir()):
        if (root / MANIFEST).exists():
            raise StoreError(
                f"{root} already holds a sweep; continue it with --resume {root} or pick a new --out"
            )
        raise StoreError(
            f"{root} is not empty and not an explore store; refusing to write there (pick a new --out)"
        )
    (root / CHUNKS).mkdir(parents=True, exist_ok=True)
    tmp = root / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps({"format": FORMAT, **manifest}, indent=2, default=str))
    os.replace(tmp, root / MANIFEST)
    return Store(root)


def open_for_resume(root: Path) -> Store:
    """An existing store, tidied: stray chunk files (no done line) and temporaries removed."""
    if not root.is_dir():
        raise StoreError(f"--resume {root}: no such directory")
    store = Store(root)
    store.manifest()
    done = store.done()
    tmp = root / f".{DONE}.tmp"  # rewrite the log whole: an append after a torn line would join it
    tmp.write_text("".join(json.dumps(rec) + "\n" for _, rec in sorted(done.items())))
    os.replace(tmp, root / DONE)
    for path in store.chunk_dir.glob("*"):
        name = path.name
        if name.startswith(".c-") or (name.startswith("c-") and int(name[2:8]) not in done):
            path.unlink()
    return store


def open_existing(root: Path) -> Store:
    store = Store(root)
    store.manifest()
    if not store.files():
        raise StoreError(f"{root} holds no finished chunks yet")
    return store
