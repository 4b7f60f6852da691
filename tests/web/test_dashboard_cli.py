"""`hetsim dashboard` as a process: it serves, and SIGTERM or Ctrl-C stops it cleanly (one
'stopped' line, exit 0, its upload folder removed) without waiting for pages being computed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import sigint_as_at_a_terminal


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_the_dashboard_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    cmd = [sys.executable, "-m", "hetsim", "dashboard", "--port", "0"]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        preexec_fn=sigint_as_at_a_terminal,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "hetsim dashboard on http://" in line, line
        url = line.split(" on ")[1].split()[0]
        up = json.dumps({"name": "h.yaml", "text": "a: 1\n"}).encode()
        with urllib.request.urlopen(urllib.request.Request(url + "/api/upload", data=up), timeout=60) as res:
            uid = json.loads(res.read())["id"]
        body = json.dumps({"values": {}, "uploads": {"hardware_file": uid}}).encode()
        urllib.request.urlopen(urllib.request.Request(url + "/api/analyze", data=body), timeout=60).close()
    except urllib.error.HTTPError as exc:  # the bad YAML is a 400: the upload was still saved
        assert exc.code == 400
    finally:
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and out.strip().endswith("stopped"), (proc.returncode, out)
    assert not list(tmp_path.glob("hetsim-web-*")), "the upload folder was left behind"
