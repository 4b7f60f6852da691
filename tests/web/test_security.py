"""The dashboard as an attacker sees it: no request parameter names a file (only shipped
presets, the folders' own listings and uploads held server-side by an opaque id), and requests
whose ``Host`` or ``Origin`` is not the dashboard's own are refused (DNS rebinding, a web page
posting cross-site to a localhost server)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hetsim.errors import HetsimError
from hetsim.web.context import Context
from hetsim.web.request import parse_request
from hetsim.web.server import Dashboard
from tests.web.test_server import _post, api

SECRET = "hunter2_secret_key"
HW_YAML = (Path(__file__).parents[2] / "src/hetsim/hardware/presets/h100-sxm.yaml").read_text()


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    """A YAML mapping outside every folder the dashboard may read: were it read, its key would
    come back in the 'unknown key(s)' error."""
    path = tmp_path / "private.yaml"
    path.write_text(f"{SECRET}: 1\n")
    return path


def _file_fields(secret: Path) -> list[tuple[str, dict[str, str]]]:
    names = [str(secret), f"{secret.parent}/../{secret.parent.name}/{secret.name}", "/etc/passwd",
             "../../../../../../etc/passwd", "/etc/hostname", "pyproject.toml", "."]  # fmt: skip
    out: list[tuple[str, dict[str, str]]] = []
    for n in names:
        out += [("analyze", {"hardware": n}), ("analyze", {"model": n}),
                ("compare", {"hw1": n, "hw2": "h100-sxm"}), ("compare", {"hw1": "h100-sxm", "hw2": n}),
                ("serving", {"hardware": n}), ("serving", {"model": n}), ("validate", {"file": n}),
                ("explore", {"store": n})]  # fmt: skip
    return out


def test_no_request_parameter_names_a_file(
    dashboard: Dashboard, secret_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(Path(__file__).parents[2])  # so that relative names would resolve to real files
    for page, values in _file_fields(secret_file):
        status, reply = api(dashboard, page, values)
        text = json.dumps(reply)
        assert status == 400, (page, values, reply)
        assert SECRET not in text and "root:" not in text and "[project]" not in text, (page, values, text)
        err = reply["view"]["error"]
        assert "unknown" in err and "choose from" in err, (page, values, err)  # a name from a list


def test_uploads_are_held_by_id(dashboard: Dashboard, secret_file: Path) -> None:
    status, reply = _post(
        f"{dashboard.url}/api/upload", json.dumps({"name": "mine.yaml", "text": HW_YAML}).encode()
    )
    assert status == 200 and reply["id"].startswith("u-") and reply["name"] == "mine.yaml", reply
    uid = reply["id"]
    status, reply = api(dashboard, "analyze", {"model": "llama2-7b"}, {"hardware_file": uid})
    assert status == 200, reply
    assert "h100" in reply["view"]["title"].lower()
    # an id the dashboard never gave, a path in its place, and an id that is not text
    for ref in ("u-" + "0" * 32, str(secret_file), "../" + uid, {"id": uid}):
        status, reply = api(dashboard, "analyze", {}, {"hardware_file": ref})  # type: ignore[dict-item]
        assert status == 400, (ref, reply)
        text = json.dumps(reply)
        assert SECRET not in text
        assert "upload" in (reply.get("error") or reply["view"]["error"])


def test_upload_endpoint_refuses_bad_bodies(dashboard: Dashboard) -> None:
    big = "x" * (dashboard.ctx.max_upload_bytes + 1)
    for body, needle in (
        (b"[]", "JSON object"),
        (json.dumps({"name": "a.yaml"}).encode(), "{name, text}"),
        (json.dumps({"name": "a.yaml", "text": big}).encode(), "the limit is"),
    ):
        status, reply = _post(f"{dashboard.url}/api/upload", body)
        assert status in (400, 413) and needle in reply["error"], (body[:40], reply)


@pytest.fixture(scope="module")
def lone_dashboard() -> Iterator[Dashboard]:
    dash = Dashboard(Context(), "127.0.0.1", 0).start()
    yield dash
    dash.stop()


def _raw(
    dash: Dashboard, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, Any]:
    """A request with exactly these headers (http.client sends the Host we give)."""
    host, port = dash.httpd.server_address[:2]
    conn = http.client.HTTPConnection(str(host), int(port), timeout=120)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        if body:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        res = conn.getresponse()
        return res.status, res.read()
    finally:
        conn.close()


def test_forged_host_and_origin_are_refused(lone_dashboard: Dashboard) -> None:
    dash = lone_dashboard
    port = dash.httpd.server_address[1]
    body = json.dumps({"values": {"batch": "2"}}).encode()
    own = f"127.0.0.1:{port}"
    for host in (own, f"localhost:{port}", f"LOCALHOST:{port}"):
        assert _raw(dash, "POST", "/api/analyze", {"Host": host}, body)[0] == 200, host
        assert _raw(dash, "GET", "/analyze", {"Host": host})[0] == 200, host
    assert _raw(dash, "POST", "/api/analyze", {"Host": own, "Origin": f"http://{own}"}, body)[0] == 200
    # DNS rebinding: the attacker's name resolves to 127.0.0.1, the browser sends its Host
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1:{port + 1}", ""):
        for method, path, b in (("POST", "/api/analyze", body), ("GET", "/analyze", b""), ("GET", "/", b"")):
            status, reply = _raw(dash, method, path, {"Host": host} if host else {}, b)
            assert status == 403, (host, method, path, status)
            assert b"not this dashboard" in reply and b"batch" not in reply, reply
    # a page on another site posting to the dashboard (the browser adds its Origin)
    for origin in ("http://evil.example", f"http://evil.example:{port}", "null", f"https://{own}",
                   f"http://127.0.0.1:{port + 1}", "file://"):  # fmt: skip
        status, reply = _raw(dash, "POST", "/api/analyze", {"Host": own, "Origin": origin}, body)
        assert status == 403 and b"Origin" in reply, (origin, status, reply)
        status, _ = _raw(
            dash, "POST", "/api/upload", {"Host": own, "Origin": origin}, b'{"name":"a.yaml","text":""}'
        )
        assert status == 403, origin


def test_allowed_host_names_the_network_case() -> None:
    dash = Dashboard(Context(), "127.0.0.1", 0, allow_hosts=("lab-box.local",)).start()
    try:
        port = dash.httpd.server_address[1]
        assert _raw(dash, "GET", "/analyze", {"Host": f"lab-box.local:{port}"})[0] == 200
        status, _ = _raw(dash, "POST", "/api/analyze", {"Host": f"lab-box.local:{port}",
                         "Origin": f"http://lab-box.local:{port}"}, b"{}")  # fmt: skip
        assert status == 200
        assert _raw(dash, "GET", "/analyze", {"Host": f"other.local:{port}"})[0] == 403
    finally:
        dash.stop()


HOSTILE = {
    "batch 1e400": b'{"values": {"batch": 1e400}}',
    "batch '1e400'": b'{"values": {"batch": "1e400"}}',
    "output_len 1e308": b'{"values": {"output_len": 1e308}}',
    "output_len '1e308'": b'{"values": {"output_len": "1e308", "requests": "1e308"}}',
    "deep list": b'{"values": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "deep object": b'{"values": {"a": ' + b'{"a":' * 50 + b"1" + b"}" * 50 + b"}}",
    "5,000-digit int": b'{"values": {"batch": ' + b"9" * 5000 + b"}}",
    "5,000-digit text": b'{"values": {"batch": "' + b"9" * 5000 + b'", "tp": "' + b"9" * 5000 + b'"}}',
    "NaN": b'{"values": {"batch": NaN}}',
    "NUL in a name": json.dumps({"values": {"model": "llama2-7b\u0000", "hardware": "h100\u0000"}}).encode(),
    "NUL in an upload name": json.dumps(
        {"uploads": {"model_file": {"name": "a\u0000.json", "text": "{}"}}}
    ).encode(),
    "lone surrogate": b'{"values": {"model": "\\ud800"}}',
    "values a list": b'{"values": [1, 2]}',
    "value an object": b'{"values": {"batch": {"x": 1}}}',
    "not JSON": b"\xff\xfe{",
}


@pytest.mark.parametrize("what", sorted(HOSTILE))
def test_hostile_bodies_get_a_4xx_json_answer(lone_dashboard: Dashboard, what: str) -> None:
    dash = lone_dashboard
    own = f"127.0.0.1:{dash.httpd.server_address[1]}"
    pages = ["analyze", "compare", "serving", "explore", "validate", "upload"]
    try:
        parse_request(HOSTILE[what], dash.ctx)
    except HetsimError:  # refused before any page is built: the H2M2 page too (it ignores form
        pages.append("h2m2")  # values, so an accepted body would only build its long default view)
    for page in pages:
        status, body = _raw(dash, "POST", f"/api/{page}", {"Host": own}, HOSTILE[what])
        reply = json.loads(body)  # an answer, and JSON (a dropped connection raises here)
        err = reply.get("error") or (reply.get("view") or {}).get("error", "")
        assert status in (200, 400) and "internal error" not in err, (page, status, reply)
        if status == 400:
            assert err and "\n" not in err, (page, reply)


def test_an_uploaded_composition_names_presets_not_files(tmp_path: Path) -> None:
    """A composed hardware upload whose part is a path is refused before any part is read."""
    from hetsim.errors import ConfigError
    from hetsim.web.pages.common import _refuse_composed_files

    secret = tmp_path / "secret.yaml"
    secret.write_text("name: secret\n", encoding="utf-8")
    upload = tmp_path / "up.yaml"
    upload.write_text(f"name: mine\ncompose: {{gpu: {secret}, host: xeon-8480}}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"compose\.gpu names a file"):
        _refuse_composed_files(upload)
    upload.write_text("name: mine\ncompose: {gpu: rtx-4090, host: xeon-8480}\n", encoding="utf-8")
    _refuse_composed_files(upload)  # presets pass
