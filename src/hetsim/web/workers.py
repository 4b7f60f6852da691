"""Worker processes that build the dashboard's views (``hetsim dashboard --workers N``).

The server answers in threads of one interpreter, so views built in those threads share one
core (the GIL): under load, requests queue behind each other's computations. A
:class:`ViewPool` builds the views that depend on their inputs only (cacheable pages, no
uploads) in worker processes instead, so every core computes while the server's threads only
read requests, look up the cache and write answers. Heavy pages (serving simulations, the
H2M2 reproduction) stay in the server's threads (:class:`hetsim.web.builds.Builder` lets a
few run at once), so a long simulation never holds a worker that a light page waits for.

Workers are started with ``spawn`` (the server has threads; a fork could copy a held lock)
and are stopped at once by :meth:`ViewPool.close` (terminated: a computation in flight is of
no use to a server that is stopping).
"""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from hetsim.web.context import Context
from hetsim.web.view import Inputs

_CTX: Context | None = None  # the worker's own context (same folders as the server's)


def _start(settings: dict[str, Any]) -> None:
    global _CTX
    _CTX = Context(**settings)
    from hetsim.web.pages import pages

    pages()  # import every page now, not in the first request


def build_in_worker(slug: str, values: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """The view of page ``slug`` for ``values``, and its encoded API answer."""
    from hetsim.web.builds import view_json
    from hetsim.web.pages import get_page

    if _CTX is None:
        raise RuntimeError("a worker builds views only after _start")
    view = view_json(get_page(slug), Inputs(values, {}), _CTX)
    return view, json.dumps({"view": view}, allow_nan=False).encode()


class ViewPool:
    """``workers`` processes that build views."""

    def __init__(self, ctx: Context, workers: int) -> None:
        settings = {"sweep_dir": ctx.sweep_dir, "realdata_dir": ctx.realdata_dir,
                    "max_upload_bytes": ctx.max_upload_bytes,
                    "upload_root": Path(ctx.upload_root)}  # fmt: skip
        mp = multiprocessing.get_context("spawn")
        self._pools = {"light": ProcessPoolExecutor(workers, mp_context=mp, initializer=_start,
                                                    initargs=(settings,))}  # fmt: skip

    def build(self, slug: str, values: dict[str, Any]) -> tuple[dict[str, Any], bytes] | None:
        """The view built in a worker; None when the pool is broken (a worker died) or closed,
        so that the caller builds it in its own thread instead."""
        try:
            return self._pools["light"].submit(build_in_worker, slug, values).result()
        except (BrokenProcessPool, RuntimeError):
            return None

    def close(self) -> None:
        """Stop every worker now."""
        for pool in self._pools.values():
            procs = list(getattr(pool, "_processes", {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for p in procs:
                p.terminate()
