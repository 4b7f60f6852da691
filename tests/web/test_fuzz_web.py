"""Fuzz the dashboard's HTTP API on a real server (a thread of this process, raw sockets): every
page's form with valid, hostile and missing values, uploads inline and by id, raw bodies that
are not the API's JSON, bodies shorter than their Content-Length, forged Host and Origin
headers, odd paths and methods. Oracles (tests/fuzzing.py): every request is answered (no
dropped connection, no hang) with 200 or a 4xx and, on /api, JSON with a one-line error; never
500; the decoy secret never appears; a 200 view holds only possible figures; nothing is written
outside the dashboard's upload folder."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hetsim.web.context import Context
from hetsim.web.pages import pages
from hetsim.web.server import Dashboard
from hetsim.web.view import Upload
from tests.fuzzing import (
    COUNTS,
    SECRET,
    assert_confined,
    check_physics,
    fuzz_settings,
    make_sandbox,
    snapshot,
)

HW_YAML = (Path(__file__).parents[2] / "src/hetsim/hardware/presets/h100-sxm.yaml").read_text()
CONFIG = json.dumps(
    {
        "model_type": "llama",
        "hidden_size": 512,
        "num_hidden_layers": 2,
        "num_attention_heads": 8,
        "num_key_value_heads": 8,
        "intermediate_size": 1024,
        "vocab_size": 1000,
    }
)
CSV = "hardware,model,metric,value\nh100-sxm,llama2-7b,tpot,0.01\n"
HOSTILE = [
    "",
    "0",
    "-1",
    "1e400",
    "1e308",
    "nan",
    "inf",
    "9" * 5000,
    "1.5",
    "2147483649",
    "../secret.yaml",
    "/etc/passwd",
    "secret.yaml",
    "in",
    ".",
    "..",
    "[bold]x[/]",
    "<script>",
    "x" * 300,
    "llama2-7b",
    "h100-sxm",
    "h2m2",
    "fp8",
    "int4",
    "uniform:1:1e30",
    "normal:512:10:nan:100",
    "ttft=inf",
    "tpot_s <= 0.05",
    "nope <= 1",
    "small",
    "model",
    True,
    False,
    None,
    3,
    1e300,
    -7,
]
READ_TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, sweep_dir: Path) -> Iterator[tuple[Dashboard, Path]]:
    from hetsim.calibration.measurements import find_realdata

    root = make_sandbox(tmp_path_factory.mktemp("webfuzz") / "box")
    ctx = Context(sweep_dir=sweep_dir, realdata_dir=find_realdata(), max_upload_bytes=64 * 1024,
                  upload_root=root / "uploads")  # fmt: skip
    dash = Dashboard(ctx, "127.0.0.1", 0, read_timeout_s=READ_TIMEOUT_S).start()
    yield dash, root
    dash.stop()


def _forms(ctx: Context) -> dict[str, list[tuple[str, str, tuple[Any, ...]]]]:
    return {p.slug: [(f.name, f.kind, (f.default, *f.options)) for f in p.fields(ctx)] for p in pages()}


@st.composite
def requests(
    draw: st.DrawFn, forms: dict[str, list[tuple[str, str, tuple[Any, ...]]]], uid: str
) -> dict[str, Any]:
    kind = draw(st.sampled_from(["form"] * 8 + ["raw", "short", "headers", "get"]))
    page = draw(st.sampled_from([*sorted(forms), "upload"]))
    req: dict[str, Any] = {"method": "POST", "path": f"/api/{page}", "host": "own", "origin": None}
    if kind == "get":
        req.update(
            method=draw(st.sampled_from(["GET", "GET", "PUT", "DELETE", "HEAD"])),
            path=draw(
                st.sampled_from(
                    [
                        f"/{page}",
                        "/",
                        "/static/dashboard.js",
                        "/static/../x",
                        "/%00",
                        "/api/analyze",
                        "/" + "a" * 3000,
                        "/analyze?x=1#y",
                    ]
                )
            ),
        )
        req["body"] = b""
        return req
    if page == "upload":
        up = draw(
            st.sampled_from(
                [
                    {"name": "h.yaml", "text": HW_YAML},
                    {"name": "c.json", "text": CONFIG},
                    {"name": "../../x.yaml", "text": "a: 1"},
                    {"name": "a\u0000", "text": ""},
                    {"name": 3, "text": "x"},
                    {"name": "big.yaml", "text": "x" * 70_000},
                    [],
                ]
            )
        )
        req["body"] = json.dumps(up).encode()
    elif kind == "raw":
        req["body"] = draw(
            st.sampled_from(
                [
                    b"",
                    b"{",
                    b"[]",
                    b"null",
                    b"\xff\xfe",
                    b'{"values": NaN}',
                    b'{"values": {"batch": 1e999}}',
                    b'{"values": ' + b"[" * 3000,
                    b'{"values": {"batch": ' + b"9" * 6000 + b"}}",
                    b'{"uploads": {"hardware_file": "u-' + b"0" * 32 + b'"}}',
                ]
            )
        )
    else:
        values: dict[str, Any] = {}
        uploads: dict[str, Any] = {}
        for name, fkind, options in forms[page]:
            how = draw(st.integers(0, 9))
            if fkind == "file":
                if how == 0:
                    uploads[name] = draw(
                        st.sampled_from(
                            [
                                uid,
                                "u-" + "f" * 32,
                                "/etc/passwd",
                                {"name": "h.yaml", "text": HW_YAML},
                                {"name": "config.json", "text": CONFIG},
                                {"name": "m.csv", "text": CSV},
                                {"name": "bad.yaml", "text": "a: [\n"},
                            ]
                        )
                    )
                continue
            if how <= 5:
                values[name] = draw(st.sampled_from(options))
            elif how <= 8:
                values[name] = draw(st.sampled_from(HOSTILE))
        req["body"] = json.dumps({"values": values, "uploads": uploads}).encode()
    if kind == "short":
        req["declared"] = len(req["body"]) + draw(st.integers(1, 100))  # more than will arrive
    if kind == "headers":
        req["host"] = draw(st.sampled_from(["own", "evil.example", "", "localhost:1"]))
        req["origin"] = draw(st.sampled_from([None, "null", "http://evil.example", "own"]))
    return req


def _send(dash: Dashboard, req: dict[str, Any]) -> tuple[int, bytes]:
    """One request on its own connection; raises if no answer comes (dropped or hung)."""
    host, port = dash.httpd.server_address[:2]
    own = f"127.0.0.1:{port}"
    sock = socket.create_connection((str(host), int(port)), timeout=120)
    try:
        head = [f"{req['method']} {req['path']} HTTP/1.1"]
        if req["host"]:
            head.append(f"Host: {own if req['host'] == 'own' else req['host']}")
        if req["origin"]:
            head.append(f"Origin: {'http://' + own if req['origin'] == 'own' else req['origin']}")
        body: bytes = req["body"]
        head.append(f"Content-Length: {req.get('declared', len(body))}")
        head.append("Connection: close")
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        if "declared" in req:
            sock.shutdown(socket.SHUT_WR)  # the rest never comes
        res = http.client.HTTPResponse(sock, method=req["method"])
        res.begin()
        return res.status, res.read()
    finally:
        sock.close()


def _check(req: dict[str, Any], status: int, body: bytes) -> None:
    where = {k: (v[:200] if isinstance(v, bytes) else v) for k, v in req.items()}
    assert status != 500 and status < 500, (where, status, body[:300])
    assert SECRET.encode() not in body, (where, "the secret was echoed")
    if req["host"] not in ("own",) or req["origin"] not in (None, "own"):
        assert status == 403, (where, status)
        return
    if req["method"] != "POST" or not req["path"].startswith("/api/"):
        return
    reply = json.loads(body)
    err = reply.get("error") or (reply.get("view") or {}).get("error", "")
    assert "\n" not in err, (where, err)
    if status == 200 and "view" in reply:
        cards = {c["key"]: c["value"] for c in reply["view"]["cards"]}
        check_physics(
            {k: v for k, v in cards.items() if isinstance(v, int | float) and not isinstance(v, bool)}, where
        )
    elif status != 200:
        assert err, (where, status, reply)


def test_fuzz_http_api(request: pytest.FixtureRequest, served: tuple[Dashboard, Path]) -> None:
    dash, root = served
    forms = _forms(dash.ctx)
    uid = dash.ctx.hold(Upload("hw.yaml", HW_YAML))

    @fuzz_settings(request, 40, 20_000)
    @given(requests(forms, uid))
    def case(req: dict[str, Any]) -> None:
        COUNTS["dashboard requests"] += 1
        before = snapshot(root)
        status, body = _send(dash, req)
        _check(req, status, body)
        assert_confined(before, snapshot(root), ["uploads"], req["path"])

    case()
