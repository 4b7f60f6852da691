"""The dashboard's HTTP server (standard library; one thread per connection, views built and
kept by :class:`~hetsim.web.builds.Builder`).

Routes: ``GET /`` redirects to the first page; ``GET /<page>`` is the page with its default
view; ``GET /static/<asset>`` serves the fixed assets; ``POST /api/upload`` takes
``{"name", "text"}`` and answers ``{"id", "name", "bytes"}`` (the dashboard holds the file);
``POST /api/<page>`` takes ``{"values": {...}, "uploads": {field: id}}`` and answers
``{"view": ...}``, or ``{"error": one line}`` with status 400 (bad input), 403 (a request from
another site or under another host name, :class:`~hetsim.web.request.Origins`) or 413 (request
too large). No request is left without an answer: a failure the pages did not foresee is
answered 500 with one line (and logged), never by dropping the connection.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import traceback
from collections.abc import Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from hetsim.errors import HetsimError
from hetsim.web.builds import Builder
from hetsim.web.context import Context
from hetsim.web.pages import Page, defaults, get_page, pages
from hetsim.web.request import Origins, parse_body, parse_request, parse_upload
from hetsim.web.shell import ASSETS, asset, render_page

JSON_OVERHEAD_BYTES = 64 * 1024  # form values and JSON framing beside the uploads


def page_spec(page: Page, ctx: Context, view: dict[str, Any], static: bool = False) -> dict[str, Any]:
    """What the page's HTML carries: its form and its view (JSON)."""
    return {
        "page": page.slug,
        "title": page.title,
        "intro": page.intro,
        "fields": [] if static else [f.to_json() for f in page.fields(ctx)],
        "view": view,
        "static": static,
    }


def warm(ctx: Context, builder: Builder | None = None) -> None:
    """Build every page's default view once, so the first visit of each is served from the
    cache (the H2M2 reproduction takes seconds). Errors are left for the page to show."""
    builder = builder or Builder(ctx)
    for page in pages():
        builder.build(page, defaults(page, ctx))


class DashboardHandler(BaseHTTPRequestHandler):
    """The dashboard's request handler; :func:`make_handler` binds it to one server's context,
    allowed origins, view builder and limits."""

    ctx: Context
    origins: Origins
    builder: Builder
    limit: int  # bytes of a request body

    server_version = "hetsim"

    def log_message(self, format: str, *args: Any) -> None:
        if self.ctx.verbose:
            sys.stderr.write(f"{self.address_string()} - {format % args}\n")

    def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj, allow_nan=False).encode(), "application/json")

    def _guarded(self, serve: Any, api: bool) -> None:
        """Run ``serve()``; a request from elsewhere is refused first, and an unforeseen
        failure is answered 500 with one line instead of a dropped connection."""
        why = self.origins.refusal(self.headers.get("Host"), self.headers.get("Origin"))
        try:
            if why:
                self.close_connection = True
                if api:
                    self._json(HTTPStatus.FORBIDDEN, {"error": why})
                else:
                    self._send(HTTPStatus.FORBIDDEN, why.encode(), "text/plain; charset=utf-8")
                return
            serve()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away
        except TimeoutError:  # the body stopped short of its Content-Length
            self.close_connection = True
            with contextlib.suppress(OSError):
                self._json(HTTPStatus.REQUEST_TIMEOUT, {"error": "the request body stopped arriving"})
        except Exception as exc:  # a bug: answer, log, keep serving
            sys.stderr.write(traceback.format_exc())
            self.close_connection = True
            msg = f"internal error {type(exc).__name__} - a bug in hetsim; please report the request"
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": msg})

    def do_GET(self) -> None:
        self._guarded(self._get, api=False)

    def do_POST(self) -> None:
        self._guarded(self._post, api=True)

    def _not_allowed(self) -> None:
        self.close_connection = True
        if self.command == "HEAD":  # a HEAD answer has headers only
            self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
            self.send_header("Allow", "GET, POST")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = {"error": f"method {self.command} is not used here: GET a page, POST to /api/<page>"}
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, json.dumps(body).encode(), "application/json",
                   {"Allow": "GET, POST"})  # fmt: skip

    def do_HEAD(self) -> None:
        self._guarded(self._not_allowed, api=False)

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD

    def _get(self) -> None:
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
            self._send(HTTPStatus.NOT_FOUND, ("no page " + repr(slug[:80])).encode(), "text/plain")
            return
        page = get_page(slug)
        built = self.builder.build(page, defaults(page, self.ctx))
        nav = [(p.slug, p.title) for p in all_pages]
        text = render_page(page_spec(page, self.ctx, built.view), nav, inline=False)
        self._send(HTTPStatus.OK, text.encode(), "text/html; charset=utf-8")

    def _body(self) -> bytes | None:
        """The request body, or None after answering 413 for one over the limit."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if 0 <= length <= self.limit:
            return self.rfile.read(length)
        self.close_connection = True
        self._json(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            {
                "error": f"request of {length:,} bytes is over the dashboard's limit of {self.limit:,} "
                f"bytes; uploads may be {self.ctx.max_upload_bytes / 1e6:.1f} MB each (--max-upload-mb)"
            },
        )
        return None

    def _post(self) -> None:
        path = urlsplit(self.path).path
        slug = path.removeprefix("/api/").strip("/")
        if path.startswith("/api/") and slug == "upload":
            self._upload()
            return
        if not path.startswith("/api/") or slug not in {p.slug for p in pages()}:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no page {slug[:80]!r}"})
            return
        raw = self._body()
        if raw is None:
            return
        try:
            inp = parse_request(raw, self.ctx)
        except HetsimError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        built = self.builder.build(get_page(slug), inp)
        status = HTTPStatus.BAD_REQUEST if built.error else HTTPStatus.OK
        self._send(status, built.body, "application/json")

    def _upload(self) -> None:
        raw = self._body()
        if raw is None:
            return
        try:
            up = parse_upload(parse_body(raw))
            uid = self.ctx.hold(up)
        except HetsimError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        self._json(HTTPStatus.OK, {"id": uid, "name": up.name, "bytes": len(up.text.encode())})


def make_handler(
    ctx: Context, origins: Origins, read_timeout_s: float, builder: Builder
) -> type[BaseHTTPRequestHandler]:
    """A handler class for one server: a client that stops sending mid-request is let go after
    ``read_timeout_s``; a request body may carry a few uploads."""
    attrs = {"ctx": ctx, "origins": origins, "builder": builder, "timeout": read_timeout_s,
             "limit": ctx.max_upload_bytes * 4 + JSON_OVERHEAD_BYTES}  # fmt: skip
    return type("Handler", (DashboardHandler,), attrs)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # connections waiting to be accepted: the default 5 resets a crowd's


class Dashboard:
    """A dashboard server on ``host:port`` (port 0: a free one), run in a background thread
    by :meth:`start` or in the foreground by :meth:`serve_forever`."""

    def __init__(
        self,
        ctx: Context,
        host: str = "127.0.0.1",
        port: int = 0,
        allow_hosts: Iterable[str] = (),
        read_timeout_s: float = 30.0,
        workers: int = 0,
    ) -> None:
        """``workers``: processes that build views (:mod:`hetsim.web.workers`; 0: none, the
        request threads build them)."""
        self.ctx = ctx
        self.httpd = _Server((host, port), BaseHTTPRequestHandler)
        self.origins = Origins.of(host, int(self.httpd.server_address[1]), allow_hosts)
        self.builder = Builder(ctx, workers=workers)
        self.httpd.RequestHandlerClass = make_handler(ctx, self.origins, read_timeout_s, self.builder)
        self.httpd.daemon_threads = True
        self.httpd.request_queue_size = (
            256  # connections waiting to be accepted (the default 5 drops a crowd)
        )
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
        self.builder.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
