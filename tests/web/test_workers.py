"""Views built in worker processes (hetsim.web.workers): the same answer as a view built in
the request's thread, a bad input still one line (400), a page with uploads kept in the server,
and the workers stopped at once with the server."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from hetsim.web.builds import Builder
from hetsim.web.context import Context
from hetsim.web.pages import get_page
from hetsim.web.server import Dashboard
from hetsim.web.view import Inputs


def _post(url: str, values: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, json.dumps({"values": values}).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=120) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_a_worker_builds_the_same_view_as_the_request_thread() -> None:
    ctx = Context()
    dash = Dashboard(ctx, "127.0.0.1", 0, workers=1).start()
    try:
        assert dash.builder.pool is not None
        values = {"model": "llama2-13b", "hardware": "h100-sxm", "batch": "8", "act_dtype": "fp8"}
        status, got = _post(f"{dash.url}/api/analyze", values)
        assert status == 200, got
        here = Builder(Context()).build(get_page("analyze"), Inputs(values, {}))
        assert got == json.loads(here.body)
        status, bad = _post(f"{dash.url}/api/analyze", {**values, "tp": "0"})
        assert status == 400 and bad["view"]["error"].startswith("--tp must be a whole number from 1")
        pools = dash.builder.pool._pools.values()
        procs = [p for pool in pools for p in (getattr(pool, "_processes", None) or {}).values()]
        assert procs
        t0 = time.perf_counter()
    finally:
        dash.stop()
    assert time.perf_counter() - t0 < 5  # the workers are terminated, not waited for
    time.sleep(0.5)
    assert not any(p.is_alive() for p in procs)
