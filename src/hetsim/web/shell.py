"""The one HTML shell: the dashboard serves it per page with linked assets; the report writes
it with plotly.min.js, the renderer and the view inlined, so the file opens from disk with no
server and no network."""

from __future__ import annotations

import html
import json
from functools import cache
from importlib import resources
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from hetsim.errors import ConfigError

STATIC = resources.files("hetsim.web") / "static"
ASSETS = {"dashboard.js": "text/javascript", "dashboard.css": "text/css", "plotly.min.js": "text/javascript"}


@cache
def plotly_js_path() -> Path:
    """plotly.min.js as bundled in the plotly Python package (located without importing it)."""
    spec = find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the dashboard and HTML reports need the web extra: pip install 'hetsim[web]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise ConfigError(f"plotly is installed without its bundled plotly.min.js ({path})")
    return path


def asset(name: str) -> bytes:
    """The bytes of one of the fixed :data:`ASSETS` (never a path from a request)."""
    if name not in ASSETS:
        raise KeyError(name)
    if name == "plotly.min.js":
        return plotly_js_path().read_bytes()
    return (STATIC / name).read_bytes()


def _json_script(obj: Any) -> str:
    text = json.dumps(obj, allow_nan=False, separators=(",", ":"))
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def render_page(spec: dict[str, Any], nav: list[tuple[str, str]], *, inline: bool) -> str:
    """HTML of one page. ``spec``: {page, title, intro, fields, view, static}; ``nav``: (slug,
    title) of every page (empty in a report); ``inline``: embed the assets (report)."""
    # The renderer comes first and shows the cards and tables at once; plotly.min.js follows
    # (async when served) and the figures are drawn when it has loaded.
    if inline:
        css = f"<style>{asset('dashboard.css').decode()}</style>"
        js = "".join(
            "<script>" + asset(n).decode().replace("</script", "<\\/script") + "</script>"
            for n in ("dashboard.js", "plotly.min.js")
        )
    else:
        css = '<link rel="stylesheet" href="/static/dashboard.css">'
        js = '<script src="/static/dashboard.js"></script><script async src="/static/plotly.min.js"></script>'
    links = "".join(
        f'<a href="/{slug}"{" class=active" if slug == spec["page"] else ""}>{html.escape(title)}</a>'
        for slug, title in nav
    )
    title = html.escape(spec["title"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hetsim · {title}</title>{css}</head>
<body data-state="loading" data-seq="0">
<header><span class="brand">hetsim</span><nav>{links}</nav></header>
<div class="layout{" static" if spec.get("static") else ""}">
<aside id="form"></aside>
<main><h1>{title}</h1><p class="intro">{html.escape(spec.get("intro", ""))}</p>
<div id="error" role="alert" hidden></div><h2 id="view-title"></h2><ul id="notes"></ul>
<section id="cards"></section><section id="figures"></section><section id="tables"></section></main>
</div>
<script type="application/json" id="hetsim-spec">{_json_script(spec)}</script>
{js}
</body></html>
"""
