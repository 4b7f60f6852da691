"""What a running dashboard may read: the shipped presets, the files listed in the folders it
was started with (chosen by exact name from the listing, :func:`pick`), and the files the user
uploads. No request names a path: an upload is held by the dashboard under an opaque id
(:meth:`Context.hold`) and saved under a private temporary folder by
:meth:`Context.save_upload`, which checks its size and keeps only a safe base name."""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from hetsim.errors import ConfigError, UnknownNameError
from hetsim.units import MB
from hetsim.web.view import Upload

DEFAULT_MAX_UPLOAD_BYTES = 2 * MB  # a hardware YAML or config.json is a few kB
MAX_CACHED = 256  # views (and other results) kept, least recently used out first
MAX_HELD_BYTES = 64 * MB  # uploads held at once; the oldest are let go beyond this
UPLOAD_ID = re.compile(r"^u-[0-9a-f]{32}$")
T = TypeVar("T")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def pick(name: str, options: Iterable[str], what: str) -> str:
    """``name`` when it is exactly one of ``options`` (a folder's own listing); anything else,
    a path included, is an unknown name. Nothing is ever opened by the name a request gives."""
    listed = list(options)
    if name not in listed:
        raise UnknownNameError(what, name[:200], listed)
    return name


def listing(root: Path | None, pattern: str) -> list[str]:
    """Names of the files matching ``pattern`` directly in ``root`` that really lie there (a
    link pointing out of the folder is left out)."""
    if root is None or not root.is_dir():
        return []
    base = root.resolve()
    return sorted(p.name for p in root.glob(pattern) if p.resolve().is_relative_to(base))


def safe_name(name: str, suffixes: tuple[str, ...]) -> str:
    """The base name of an uploaded file reduced to ``[A-Za-z0-9._-]``, with a checked suffix."""
    base = _SAFE.sub("_", Path(name.replace("\\", "/")).name).strip("._") or "upload"
    suffix = Path(base).suffix.lower()
    if suffix not in suffixes:
        raise ConfigError(f"uploaded file {name!r}: expected a {' or '.join(suffixes)} file")
    return base


@dataclass
class Context:
    """Settings of one running dashboard, shared by its pages (thread-safe cache)."""

    sweep_dir: Path | None = None
    realdata_dir: Path | None = None
    max_upload_bytes: int = int(DEFAULT_MAX_UPLOAD_BYTES)
    verbose: bool = False  # log every request on stderr
    upload_root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hetsim-web-")))
    _cache: OrderedDict[Any, Any] = field(default_factory=OrderedDict)  # least recently used first
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _key_locks: dict[Any, threading.Lock] = field(default_factory=dict)

    _held: OrderedDict[str, Upload] = field(default_factory=OrderedDict)  # id -> upload, oldest first
    _ids: dict[str, str] = field(default_factory=dict)  # digest of (name, text) -> id
    _saved: dict[tuple[str, tuple[str, ...], bool], Path] = field(default_factory=dict)

    def _check_size(self, up: Upload) -> None:
        size = len(up.text.encode("utf-8"))
        if size > self.max_upload_bytes:
            raise ConfigError(
                f"uploaded file {up.name[:80]!r} is {size / MB:.1f} MB; the limit is "
                f"{self.max_upload_bytes / MB:.1f} MB (--max-upload-mb)"
            )

    def hold(self, up: Upload) -> str:
        """Keep an upload and return its opaque id (``u-`` and 32 hex digits); the same file
        sent twice gets the same id. Beyond :data:`MAX_HELD_BYTES` the oldest are let go."""
        self._check_size(up)
        digest = hashlib.sha256(f"{len(up.name)}:{up.name}{up.text}".encode()).hexdigest()
        with self._lock:
            uid = self._ids.get(digest)
            if uid is None:
                uid = "u-" + secrets.token_hex(16)
                self._ids[digest] = uid
            self._held[uid] = up
            self._held.move_to_end(uid)
            total = sum(len(u.text) for u in self._held.values())
            while total > MAX_HELD_BYTES and len(self._held) > 1:
                old_id, old = self._held.popitem(last=False)
                total -= len(old.text)
                self._forget(old_id)
        return uid

    def _forget(self, uid: str) -> None:
        for digest in [d for d, i in self._ids.items() if i == uid]:
            del self._ids[digest]
        for key in [k for k in self._saved if k[0] == uid]:
            path = self._saved.pop(key)
            with contextlib.suppress(OSError, ValueError):
                shutil.rmtree(self.upload_root / path.relative_to(self.upload_root).parts[0])

    def held(self, ref: str) -> Upload:
        """The upload of id ``ref`` (never a path: an unknown id is a one-line error)."""
        with self._lock:
            up = self._held.get(ref) if UPLOAD_ID.match(ref) else None
        if up is None:
            raise ConfigError(
                f"upload {ref[:40]!r} is not held by this dashboard (restarted, or an id it never gave); "
                "choose the file again"
            )
        return up

    def save_upload(self, up: Upload, suffixes: tuple[str, ...], hf_model: bool = False) -> Path:
        """The upload written to a fresh folder under :attr:`upload_root` (once per upload and
        use); returns its path. ``hf_model``: the folder is named after the file, as the
        config.json loader names a model after its folder."""
        name = safe_name(up.name, suffixes)
        uid = self.hold(up)
        key = (uid, suffixes, hf_model)
        with self._lock:
            if key in self._saved and self._saved[key].exists():
                return self._saved[key]
        folder = self.upload_root / secrets.token_hex(8)
        if hf_model:
            stem = Path(name).stem
            folder = folder / (stem if stem != "config" else "uploaded-model")
        folder.mkdir(parents=True)
        path = folder / name
        path.write_text(up.text, encoding="utf-8")
        with self._lock:
            self._saved[key] = path
        return path

    def scrub(self, message: str) -> str:
        """An error message with the private upload folders removed, so it names the file as
        the user sent it (``bad.yaml is not valid YAML: ...``)."""
        root = re.escape(str(self.upload_root))
        return re.sub(root + r"/[0-9a-f]{16}/(?:[A-Za-z0-9._-]+/(?=[^/\s]+\.json))?", "", message)

    def cached(self, key: Any, make: Callable[[], T]) -> T:
        """``make()`` computed once per key (concurrent callers of one key wait for it); the
        :data:`MAX_CACHED` most recently used are kept."""
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]  # type: ignore[no-any-return]
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                if key in self._cache:
                    return self._cache[key]  # type: ignore[no-any-return]
            value = make()
            with self._lock:
                self._cache[key] = value
                while len(self._cache) > MAX_CACHED:  # views of large pages hold a few MB each
                    old, _ = self._cache.popitem(last=False)
                    self._key_locks.pop(old, None)
                self._key_locks.pop(key, None)
            return value
