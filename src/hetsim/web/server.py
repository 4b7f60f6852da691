"""The dashboard's HTTP server (standard library; one thread per request).

Routes: ``GET /`` redirects to the first page; ``GET /<page>`` is the page with its default
view; ``GET /static/<asset>`` serves the fixed assets; ``POST /api/<page>`` takes
``{"values": {...}, "uploads": {field: {"name", "text"}}}`` and answers ``{"view": ...}``, or
``{"error": one line}`` with status 400 (bad input) or 413 (request too large).
"""

from __future__ import annotations

import json
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from hetsim.errors import HetsimError
from hetsim.web.context import Context
from hetsim.web.pages import Page, defaults, get_page, pages
from hetsim.web.shell import ASSETS, asset, render_page
from hetsim.web.view import Inputs, Upload, View

JSON_OVERHEAD_BYTES = 64 * 1024  # form values and JSON framing beside the uploads


def page_spec(page: Page, ctx: Context, view: View, static: bool = False) -> dict[str, Any]:
    return {
        "page": page.slug,
        "title": page.title,
        "intro": page.intro,
        "fields": [] if static else [f.to_json() for f in page.fields(ctx)],
        "view": view.to_json(),
        "static": static,
    }


def build_view(page: Page, inp: Inputs, ctx: Context) -> View:
    """The page's view, or a view holding the one-line error a bad input caused. Views of the
    same inputs (no uploads) are built once: every page is a pure function of its inputs,
    except those that read files that may change (``Page.cacheable = False``)."""
    try:
        if inp.uploads or not page.cacheable:
            return page.build(inp, ctx)
        key = ("view", page.slug, json.dumps(dict(inp.values), sort_keys=True, default=str))
        view: View = ctx.cached(key, lambda: page.build(inp, ctx))
        return view
    except HetsimError as exc:
        return View("", error=ctx.scrub(str(exc)))


def warm(ctx: Context) -> None:
    """Build every page's default view once, so the first visit of each is served from the
    cache (the H2M2 reproduction takes seconds). Errors are left for the page to show."""
    for page in pages():
        build_view(page, defaults(page, ctx), ctx)


def parse_request(raw: bytes) -> Inputs:
    """A POST body -> :class:`Inputs`; malformed bodies raise :class:`HetsimError`."""
    from hetsim.errors import ConfigError

    try:
        data = json.loads(raw or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ConfigError("the request body is not JSON") from None
    if not isinstance(data, dict):
        raise ConfigError("the request body must be a JSON object")
    values = data.get("values") or {}
    ups = data.get("uploads") or {}
    if not isinstance(values, dict) or not isinstance(ups, dict):
        raise ConfigError("values and uploads must be JSON objects")
    uploads = {}
    for field, up in ups.items():
        if (
            not isinstance(up, dict)
            or not isinstance(up.get("name"), str)
            or not isinstance(up.get("text"), str)
        ):
            raise ConfigError(f"upload {field!r} must be {{name, text}}")
        uploads[str(field)] = Upload(up["name"], up["text"])
    return Inputs(values, uploads)


def make_handler(ctx: Context) -> type[BaseHTTPRequestHandler]:
    limit = ctx.max_upload_bytes * 4 + JSON_OVERHEAD_BYTES  # a few uploads per request

    class Handler(BaseHTTPRequestHandler):
        server_version = "hetsim"

        def log_message(self, format: str, *args: Any) -> None:
            if ctx.verbose:
                sys.stderr.write(f"{self.address_string()} - {format % args}\n")

        def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, obj: Any) -> None:
            self._send(status, json.dumps(obj, allow_nan=False).encode(), "application/json")

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            all_pages = pages()
            if path in ("", "/"):
                self._send(HTTPStatus.FOUND, b"", "text/plain", {"Location": f"/{all_pages[0].slug}"})
                return
            if path.startswith("/static/"):
                name = path.removeprefix("/static/")
                if name in ASSETS:
                    self._send(
                        HTTPStatus.OK,
                        asset(name),
                        ASSETS[name] + "; charset=utf-8",
                        {"Cache-Control": "max-age=3600"},
                    )
                else:
                    self._send(HTTPStatus.NOT_FOUND, b"no such asset", "text/plain")
                return
            slug = path.strip("/")
            if slug not in {p.slug for p in all_pages}:
                self._send(HTTPStatus.NOT_FOUND, ("no page " + repr(slug)).encode(), "text/plain")
                return
            page = get_page(slug)
            view = build_view(page, defaults(page, ctx), ctx)
            nav = [(p.slug, p.title) for p in all_pages]
            text = render_page(page_spec(page, ctx, view), nav, inline=False)
            self._send(HTTPStatus.OK, text.encode(), "text/html; charset=utf-8")

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            slug = path.removeprefix("/api/").strip("/")
            if not path.startswith("/api/") or slug not in {p.slug for p in pages()}:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no page {slug!r}"})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > limit:
                self.close_connection = True
                self._json(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                    {
                        "error": f"request of {length:,} bytes is over the dashboard's limit of {limit:,} "
                        f"bytes; uploads may be {ctx.max_upload_bytes / 1e6:.1f} MB each "
                        "(--max-upload-mb)"
                    },
                )
                return
            try:
                inp = parse_request(self.rfile.read(length))
            except HetsimError as exc:
                self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
                return
            view = build_view(get_page(slug), inp, ctx)
            status = HTTPStatus.BAD_REQUEST if view.error else HTTPStatus.OK
            self._json(status, {"view": view.to_json()})

    return Handler


class Dashboard:
    """A dashboard server on ``host:port`` (port 0: a free one), run in a background thread
    by :meth:`start` or in the foreground by :meth:`serve_forever`."""

    def __init__(self, ctx: Context, host: str = "127.0.0.1", port: int = 0) -> None:
        self.ctx = ctx
        self.httpd = ThreadingHTTPServer((host, port), make_handler(ctx))
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Dashboard:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
