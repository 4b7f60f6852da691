"""Where the dashboard's views are built, and how they are kept.

A view is built once per inputs (no uploads; a page that reads files which may change is
never cached) and kept as its JSON and its encoded answer, least recently used out first, so
a cached view costs the server no JSON encoding either. Building runs in a worker process
(:mod:`hetsim.web.workers`, one per core, for cacheable views without uploads) or in the
request's own thread, with one rule for fairness: at most :data:`HEAVY_AT_ONCE` builds of *heavy* pages
(``Page.heavy``: serving simulations, the H2M2 reproduction, a store, the measurements) run at
once, so a few long computations cannot take every share of the interpreter from the light
pages and the cached answers (a new visitor is answered while a long simulation runs).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hetsim.errors import HetsimError
from hetsim.web.context import Context
from hetsim.web.pages import Page
from hetsim.web.view import Inputs, View

if TYPE_CHECKING:
    from hetsim.web.workers import ViewPool

HEAVY_AT_ONCE = 2


@dataclass(frozen=True, slots=True)
class Built:
    """A page's view as JSON and its encoded API answer (``{"view": ...}``)."""

    view: dict[str, Any]
    body: bytes

    @property
    def error(self) -> str:
        return str(self.view.get("error") or "")


def view_json(page: Page, inp: Inputs, ctx: Context) -> dict[str, Any]:
    """The page's view as JSON, or a view holding the one-line error a bad input caused."""
    try:
        view = page.build(inp, ctx)
    except HetsimError as exc:
        view = View("", error=ctx.scrub(str(exc)))
    return view.to_json()


class Builder:
    """Builds (and caches) the views of one dashboard."""

    def __init__(self, ctx: Context, heavy_at_once: int = HEAVY_AT_ONCE, workers: int = 0) -> None:
        """``workers``: processes that build the views of light pages (0: build them in the
        request's thread); heavy pages are built in the request's thread, at most
        ``heavy_at_once`` at a time."""
        self.ctx = ctx
        self._heavy = threading.BoundedSemaphore(heavy_at_once)
        self.pool: ViewPool | None = None
        if workers > 0:
            from hetsim.web.workers import ViewPool

            self.pool = ViewPool(ctx, workers)

    def build(self, page: Page, inp: Inputs) -> Built:
        """The page's view for ``inp``, from the cache when it can be."""
        if inp.uploads or not page.cacheable:
            return self._compute(page, inp)
        key = ("view", page.slug, json.dumps(dict(inp.values), sort_keys=True, default=str))
        built: Built = self.ctx.cached(key, lambda: self._pooled(page, inp))
        return built

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()

    def _pooled(self, page: Page, inp: Inputs) -> Built:
        """A cacheable view without uploads: built by a worker process where there are some
        (light pages: a long simulation never holds a worker a light page waits for)."""
        if self.pool is not None and not page.heavy:
            done = self.pool.build(page.slug, dict(inp.values))
            if done is not None:
                return Built(*done)
        return self._compute(page, inp)

    def _compute(self, page: Page, inp: Inputs) -> Built:
        if page.heavy:
            with self._heavy:
                view = view_json(page, inp, self.ctx)
        else:
            view = view_json(page, inp, self.ctx)
        return Built(view, json.dumps({"view": view}, allow_nan=False).encode())
