"""Writing results without losing anything the user has.

Rules every command follows:

- an existing file is never replaced unless the user said ``--force``;
- a missing parent folder is an error, never created silently;
- an output folder that holds files hetsim would not write there is refused;
- every file is written atomically (a temporary file in the same folder, then a rename), so an
  interrupted run leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from hetsim.errors import ConfigError


def _parent_ok(path: Path, what: str) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise ConfigError(f"{what} {path}: folder {parent} does not exist; create it first")
    if not parent.is_dir():
        raise ConfigError(f"{what} {path}: {parent} is a file, not a folder")


def check_new_file(path: Path, force: bool, what: str = "output") -> Path:
    """Refuse ``path`` if it is a folder, lies under a missing folder, or exists (without ``force``)."""
    _parent_ok(path, what)
    if path.is_dir():
        raise ConfigError(f"{what} {path} is a folder; give a file name")
    if path.exists() and not force:
        raise ConfigError(f"{what} {path} already exists; pass --force to replace it, or choose another name")
    return path


def check_out_dir(
    out: Path, force: bool, names: Iterable[str], *, create_parents: bool = False, what: str = "--out"
) -> Path:
    """Make sure ``out`` can receive the files ``names`` (base names, or one folder level
    like ``h2m2/``): created if missing (its parent must exist unless ``create_parents``),
    refused if it holds anything else, and refused if it holds one of ``names`` without ``force``."""
    owned = {n.rstrip("/") for n in names}
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{what} {out} is a file; give a folder")
    if not out.exists():
        if not create_parents:
            _parent_ok(out, what)
        try:
            out.mkdir(parents=create_parents)
        except OSError as exc:
            raise ConfigError(f"{what} {out}: cannot create the folder ({exc.strerror})") from None
        return out
    present = {p.name for p in out.iterdir()}
    foreign = sorted(present - owned)
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise ConfigError(
            f"{what} {out} holds files hetsim does not write there ({shown}); choose an empty or new folder"
        )
    if present and not force:
        raise ConfigError(
            f"{what} {out} already holds results ({', '.join(sorted(present)[:3])}); "
            "pass --force to replace them, or choose another folder"
        )
    return out


def _mode_for(path: Path) -> int:
    """Permission bits the written file gets: those of the file it replaces, else what the
    umask leaves of 0o666 (as any tool's new file), never mkstemp's private 0o600."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~current_umask()


def current_umask() -> int:
    """The process's umask (read from /proc where it can be, so no thread sees it changed)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it onto ``path``
    (with the permission bits of :func:`_mode_for`)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def strict_json_value(obj: Any) -> Any:
    """``obj`` with NumPy scalars unwrapped and non-finite floats as ``None``, so that
    ``json.dumps(..., allow_nan=False)`` writes strict JSON (no ``NaN``/``Infinity``)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): strict_json_value(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [strict_json_value(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # NumPy scalar
        return strict_json_value(obj.item())
    return obj


def strict_json(obj: Any, **kwargs: Any) -> str:
    """Strict JSON text of ``obj`` (see :func:`strict_json_value`); ``default=str`` for the rest."""
    kwargs.setdefault("default", str)
    return json.dumps(strict_json_value(obj), allow_nan=False, **kwargs)
