"""What a running dashboard may read: the folders it was started with, and the files the
user uploads (saved under a private temporary folder). Every path from the page goes through
:func:`confine`; an upload goes through :meth:`Context.save_upload`, which checks its size
and keeps only a safe base name."""

from __future__ import annotations

import re
import secrets
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from hetsim.errors import ConfigError
from hetsim.units import MB
from hetsim.web.view import Upload

DEFAULT_MAX_UPLOAD_BYTES = 2 * MB  # a hardware YAML or config.json is a few kB
T = TypeVar("T")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def confine(root: Path, name: str, what: str) -> Path:
    """``root / name`` when it stays inside ``root``; absolute names, ``..`` escapes and
    links pointing out are refused with a one-line :class:`ConfigError`."""
    if not name:
        raise ConfigError(f"{what}: no file name given")
    if Path(name).is_absolute() or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise ConfigError(
            f"{what} {name!r}: give a name inside the {root.name}/ folder, not an absolute path"
        )
    base = root.resolve()
    path = (base / name).resolve()
    if not path.is_relative_to(base):
        raise ConfigError(
            f"{what} {name!r} is outside the {root.name}/ folder the dashboard was started with"
        )
    return path


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
    _cache: dict[Any, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _key_locks: dict[Any, threading.Lock] = field(default_factory=dict)

    def save_upload(self, up: Upload, suffixes: tuple[str, ...], hf_model: bool = False) -> Path:
        """Write an upload to a fresh folder under :attr:`upload_root`; returns its path.
        ``hf_model``: the folder is named after the file, as the config.json loader names a
        model after its folder."""
        size = len(up.text.encode("utf-8"))
        if size > self.max_upload_bytes:
            raise ConfigError(
                f"uploaded file {up.name!r} is {size / MB:.1f} MB; the limit is "
                f"{self.max_upload_bytes / MB:.1f} MB (--max-upload-mb)"
            )
        name = safe_name(up.name, suffixes)
        folder = self.upload_root / secrets.token_hex(8)
        if hf_model:
            stem = Path(name).stem
            folder = folder / (stem if stem != "config" else "uploaded-model")
        folder.mkdir(parents=True)
        path = folder / name
        path.write_text(up.text, encoding="utf-8")
        return path

    def scrub(self, message: str) -> str:
        """An error message with the private upload folders removed, so it names the file as
        the user sent it (``bad.yaml is not valid YAML: ...``)."""
        root = re.escape(str(self.upload_root))
        return re.sub(root + r"/[0-9a-f]{16}/(?:[A-Za-z0-9._-]+/(?=[^/\s]+\.json))?", "", message)

    def cached(self, key: Any, make: Callable[[], T]) -> T:
        """``make()`` computed once per key (concurrent callers of one key wait for it)."""
        with self._lock:
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:
            if key in self._cache:
                return self._cache[key]  # type: ignore[no-any-return]
            value = make()
            with self._lock:
                if len(self._cache) > 128:  # views of large pages hold a few MB each
                    self._cache.clear()
                    self._key_locks = {key: lock}
                self._cache[key] = value
            return value
