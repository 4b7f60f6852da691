"""The dashboard's pages, registered by name. A page is a form (its fields) and a function
from the form's values to a :class:`~hetsim.web.view.View`; a new page is a module here that
calls :func:`register`, and the server, the navigation bar and the tests pick it up."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hetsim.errors import UnknownNameError
from hetsim.web.context import Context
from hetsim.web.view import Field, Inputs, View


@dataclass(frozen=True, slots=True)
class Page:
    slug: str  # URL path: /<slug>
    title: str
    intro: str  # one or two sentences under the title
    fields: Callable[[Context], list[Field]]
    build: Callable[[Inputs, Context], View]
    order: int = 50
    cacheable: bool = True  # False: the view depends on files that may change (a growing sweep store)
    heavy: bool = False  # seconds of work per view (simulations, stores): a few at once (web/builds.py)


_PAGES: dict[str, Page] = {}


def register(page: Page) -> Page:
    _PAGES[page.slug] = page
    return page


def pages() -> list[Page]:
    _load()
    return sorted(_PAGES.values(), key=lambda p: (p.order, p.slug))


def get_page(slug: str) -> Page:
    _load()
    if slug not in _PAGES:
        raise UnknownNameError("page", slug, _PAGES)
    return _PAGES[slug]


def defaults(page: Page, ctx: Context) -> Inputs:
    return Inputs({f.name: f.default for f in page.fields(ctx) if f.kind != "file"})


def _load() -> None:
    # Importing a page module registers it.
    from hetsim.web.pages import analyze, compare, explore, h2m2, serving, validate  # noqa: F401
