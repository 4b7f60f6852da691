"""The result store: one Parquet file per chunk plus a manifest, safe to kill at any moment.

    DIR/manifest.json        spec, its digest, point and chunk counts (written once)
    DIR/chunks/c-000123.parquet   rows of chunk 123 (written to a temporary name, then renamed)
    DIR/done.jsonl           one line per finished chunk, appended after its file is in place

A chunk counts as done only when its line is in ``done.jsonl`` (a torn last line is ignored)
and its file is a regular file of the recorded size; resume deletes chunk files without a line
and redoes those chunks, so a kill at any point loses and duplicates nothing.

Resume trusts nothing it has not checked (:func:`open_for_resume`, :meth:`Store.verify`): the
manifest must be a mapping whose spec hashes to its digest; a done line must name a chunk of
this store with its exact index range, the spec's digest, the file's size and SHA-256; the
file must be a regular file (not a link) whose Parquet schema is the spec's, whose row count is
the line's and whose ``index`` column lies in the chunk's range without repeats. Anything else
(a torn or foreign line, a truncated or altered chunk, a chunk of another store) is dropped and
redone. Files in ``chunks/`` that are not named like a chunk are left alone and never read.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
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
_CHUNK_NAME = re.compile(r"^c-(\d{6})\.parquet$")
_TMP_NAME = re.compile(r"^\.c-\d{6}\.tmp$")
_SHA = re.compile(r"^[0-9a-f]{64}$")


class StoreError(HetsimError):
    """An output directory cannot be used as asked."""


def _pa() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - dev install has it
        raise ConfigError(
            "the explore store needs pyarrow (a hetsim dependency): pip install pyarrow"
        ) from None
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


def _count(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


@dataclass(frozen=True, slots=True)
class Store:
    root: Path

    @property
    def chunk_dir(self) -> Path:
        return self.root / CHUNKS

    def chunk_path(self, k: int) -> Path:
        return self.chunk_dir / f"c-{k:06d}.parquet"

    def manifest(self) -> dict[str, Any]:
        """The manifest, checked for the keys a store needs (one-line :class:`StoreError`)."""
        path = self.root / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # missing, unreadable, not UTF-8, not JSON
            raise StoreError(f"{self.root} is not an explore store (no readable {MANIFEST})") from None
        if not isinstance(data, dict) or not isinstance(data.get("spec"), dict):
            raise StoreError(f"{self.root}/{MANIFEST} is not a store manifest (a mapping with the spec)")
        if not all(_count(data.get(k)) for k in ("n_points", "chunk_size")) or data["chunk_size"] < 1:
            raise StoreError(f"{self.root}/{MANIFEST} lacks whole-number n_points and chunk_size")
        return data

    def chunk_range(self, k: int, man: Mapping[str, Any]) -> tuple[int, int] | None:
        """``(start, stop)`` of chunk ``k`` of this store, None when there is no chunk ``k``."""
        n, c = int(man["n_points"]), int(man["chunk_size"])
        if not 0 <= k < -(-n // c):
            return None
        return k * c, min((k + 1) * c, n)

    def _line(self, rec: Any, man: Mapping[str, Any]) -> dict[str, Any] | None:
        """A done line as a record, or None when it does not describe a chunk of this store."""
        if not isinstance(rec, dict) or not _count(rec.get("chunk")):
            return None
        span = self.chunk_range(rec["chunk"], man)
        removed = rec.get("removed")
        if (
            span is None
            or (rec.get("start"), rec.get("stop")) != span
            or not _count(rec.get("rows"))
            or rec["rows"] > span[1] - span[0]
            or not isinstance(removed, dict)
            or not all(isinstance(f, str) and _count(v) for f, v in removed.items())
        ):
            return None
        if ("bytes" in rec and not _count(rec["bytes"])) or rec.get("spec", man.get("digest")) != man.get(
            "digest"
        ):
            return None  # a line of another store's spec
        return rec

    def lines(self, man: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
        """Chunk id -> its done line, for the lines that describe a chunk of this store
        (later lines for one chunk replace earlier ones; torn and foreign lines are skipped)."""
        out: dict[int, dict[str, Any]] = {}
        path = self.root / DONE
        if not path.exists():
            return out
        for line in path.read_bytes().decode("utf-8", "replace").splitlines():
            try:
                rec = self._line(json.loads(line), man)
            except ValueError:
                continue  # a line torn by a kill, or not JSON at all
            if rec is not None:
                out[int(rec["chunk"])] = rec
        return out

    def done(self, man: Mapping[str, Any] | None = None) -> dict[int, dict[str, Any]]:
        """Finished chunks: id -> its line (rows kept, filter counts), for lines whose file is
        a regular file of the recorded size."""
        lines = self.lines(self.manifest() if man is None else man)
        return {k: rec for k, rec in lines.items() if self._file_ok(rec)}

    def _file_ok(self, rec: Mapping[str, Any]) -> bool:
        path = self.chunk_path(int(rec["chunk"]))
        try:
            st = path.lstat()
        except OSError:
            return False
        return stat.S_ISREG(st.st_mode) and ("bytes" not in rec or st.st_size == rec["bytes"])

    def verify(self, schema: Any, digest: str) -> dict[int, dict[str, Any]]:
        """The finished chunks that pass every check against ``schema`` (the spec's Parquet
        schema) and the spec's ``digest``: checksum, size, schema, row count, index range."""
        man = self.manifest()
        return {k: rec for k, rec in self.done(man).items() if self._verified(rec, schema, digest)}

    def _verified(self, rec: Mapping[str, Any], schema: Any, digest: str) -> bool:
        _, pq = _pa()
        if (
            rec.get("spec") != digest
            or not isinstance(rec.get("sha256"), str)
            or not _SHA.match(rec["sha256"])
        ):
            return False
        path = self.chunk_path(int(rec["chunk"]))
        try:
            data = path.read_bytes()
            if len(data) != rec.get("bytes") or hashlib.sha256(data).hexdigest() != rec["sha256"]:
                return False
            table = pq.read_table(io.BytesIO(data))
        except (OSError, ValueError):  # pyarrow's ArrowInvalid is a ValueError
            return False
        if not table.schema.equals(schema, check_metadata=False) or table.num_rows != rec["rows"]:
            return False
        index = table.column("index").to_numpy() if "index" in table.column_names else None
        if index is None:
            return False
        return bool(
            index.size == 0
            or (
                index.min() >= rec["start"]
                and index.max() < rec["stop"]
                and np.unique(index).size == index.size
            )
        )

    def write_chunk(self, k: int, payload: bytes, record: Mapping[str, Any], digest: str = "") -> None:
        tmp = self.chunk_dir / f".c-{k:06d}.tmp"
        with open(tmp, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.chunk_path(k))
        line = {"chunk": k, **record, "bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
        if digest:
            line["spec"] = digest
        with open(self.root / DONE, "a") as f:
            f.write(json.dumps(line) + "\n")
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
    """An existing store whose manifest is readable; tidy it with :func:`keep_verified`."""
    if not root.is_dir():
        raise StoreError(f"--resume {root}: no such directory")
    if not (root / CHUNKS).is_dir() or (root / CHUNKS).is_symlink():
        raise StoreError(f"{root} is not an explore store (no {CHUNKS}/ folder)")
    store = Store(root)
    store.manifest()
    return store


def keep_verified(store: Store, schema: Any, digest: str) -> dict[int, dict[str, Any]]:
    """Keep the chunks that pass :meth:`Store.verify`; rewrite ``done.jsonl`` with their lines
    only, and delete every other chunk-named file (damaged, foreign, links: the link, never
    its target) and temporary, so those chunks are redone. Returns the kept chunks."""
    done = store.verify(schema, digest)
    root = store.root
    tmp = root / f".{DONE}.tmp"  # rewrite the log whole: an append after a torn line would join it
    tmp.write_text("".join(json.dumps(rec) + "\n" for _, rec in sorted(done.items())))
    os.replace(tmp, root / DONE)
    for path in store.chunk_dir.iterdir():
        m = _CHUNK_NAME.match(path.name)
        if _TMP_NAME.match(path.name) or (m and int(m.group(1)) not in done):
            if path.is_dir() and not path.is_symlink():
                continue  # a folder is not ours to remove
            path.unlink()
    return done


def open_existing(root: Path) -> Store:
    """A store to read: every finished chunk's file must be a regular file of the size its
    line records (a damaged store is named, with the command that repairs it)."""
    store = Store(root)
    man = store.manifest()
    done = store.done(man)
    if not done:
        raise StoreError(f"{root} holds no finished chunks yet")
    lines = len(store.lines(man))
    if lines > len(done):
        raise StoreError(
            f"{root}: {lines - len(done)} finished chunk(s) are missing, links or of the wrong size; "
            f"hetsim explore --resume {root} checks and redoes them"
        )
    return store
