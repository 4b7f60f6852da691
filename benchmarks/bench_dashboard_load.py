"""Dashboard under load (issue 25). The dashboard runs as its own process (`hetsim dashboard`);
``CLIENTS`` clients (threads of this process, one connection per request, no pause between
requests) post to the Analyze and Serving APIs for ``DURATION_S`` seconds, with inputs drawn
from the pages' own options (3/4 Analyze over 2,880 designs, 1/4 Serving over 48 runs), so both
cache hits and fresh computations occur as when people explore. Meanwhile a long request (the
Serving page at its largest, 5,000 requests) runs again and again, and a *new* client opens the
Analyze page and asks for a view every second: it must be answered while the long one runs.

Targets: 0 errors (no dropped connection, no 5xx, no timeout), p99 latency <= 2 s on 2 cores;
the new client answered within 2 s during the long request; the server stops within 1 s of
SIGTERM. ``HETSIM_LOAD_CLIENTS`` and ``HETSIM_LOAD_SECONDS`` change the load (defaults 50, 60);
``HETSIM_LOAD_WORKERS`` the dashboard's ``--workers`` (default 0: views built in its threads).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CLIENTS = int(os.environ.get("HETSIM_LOAD_CLIENTS", "50"))
DURATION_S = float(os.environ.get("HETSIM_LOAD_SECONDS", "60"))
TIMEOUT_S = 120.0  # a request not answered by then counts as an error (a hang)
ANALYZE = {"model": ["llama2-7b", "llama2-13b", "mistral-7b", "llama3-8b"],
           "hardware": ["a100-80gb-sxm", "h100-sxm", "h200", "l40s", "mi300x"],
           "batch": ["1", "4", "8", "16", "32", "64"], "tp": ["1", "2"], "input_len": ["512", "2048"],
           "output_len": ["128", "512"], "weight_dtype": ["fp16", "int8", "fp8"]}  # fmt: skip
SERVING = {"model": ["llama2-7b", "llama2-13b"], "hardware": ["a100-80gb-sxm", "h100-sxm"],
           "rate": ["2", "4", "8"], "engine": ["vllm", "sglang"],
           "input_len": ["512", "uniform:128:1024"]}  # fmt: skip
FAILURES: dict[str, int] = {}  # kind of failure -> count (for the report)
LONG = {"requests": "5000", "rate": "16"}  # with a new seed each time, so never from the cache


def _post(host: str, port: int, page: str, values: dict[str, str]) -> tuple[int, float]:
    """(status, seconds) of one request on its own connection; status 0: no answer."""
    body = json.dumps({"values": values}).encode()
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT_S)
    try:
        conn.request("POST", f"/api/{page}", body, {"Content-Type": "application/json"})
        res = conn.getresponse()
        data = res.read()
        status = res.status if data[:1] == b"{" else 0
    except (OSError, http.client.HTTPException) as exc:
        status = 0
        FAILURES[type(exc).__name__] = FAILURES.get(type(exc).__name__, 0) + 1
    finally:
        conn.close()
    return status, time.perf_counter() - t0


def _get(host: str, port: int, path: str) -> tuple[int, float]:
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT_S)
    try:
        conn.request("GET", path)
        res = conn.getresponse()
        res.read()
        status = res.status
    except (OSError, http.client.HTTPException):
        status = 0
    finally:
        conn.close()
    return status, time.perf_counter() - t0


def _draw(rng: random.Random) -> tuple[str, dict[str, str]]:
    if rng.random() < 0.75:
        return "analyze", {k: rng.choice(v) for k, v in ANALYZE.items()}
    return "serving", {k: rng.choice(v) for k, v in SERVING.items()}


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process and its live children (the view workers) have
    used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    kids = [int(c) for t in Path(f"/proc/{pid}/task").iterdir() for c in (t / "children").read_text().split()]
    return own + sum(_cpu_s(k) for k in kids if Path(f"/proc/{k}").exists())


def _summary(xs: list[float]) -> dict[str, float]:
    return {"requests": len(xs), "p50 s": _pct(xs, 0.5), "p99 s": _pct(xs, 0.99)}


def _start() -> tuple[subprocess.Popen[str], str, int]:
    env = {**os.environ, "TMPDIR": tempfile.mkdtemp(prefix="hetsim-load-")}
    cmd = [sys.executable, "-m", "hetsim", "dashboard", "--port", "0"]
    if "HETSIM_LOAD_WORKERS" in os.environ:  # default: the dashboard's own (no worker processes)
        cmd += ["--workers", os.environ["HETSIM_LOAD_WORKERS"]]
    proc = subprocess.Popen(cmd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    url = line.split(" on http://")[1].split()[0]
    host, port = url.rsplit(":", 1)
    return proc, host, int(port)


def run() -> dict[str, float]:
    proc, host, port = _start()
    try:
        assert _get(host, port, "/h2m2")[0] == 200  # wait for the start-up warm of the slow pages
        deadline = time.perf_counter() + DURATION_S
        lat: list[float] = []
        by_page: dict[str, list[float]] = {"analyze": [], "serving": []}
        statuses: dict[int, int] = {}
        lock = threading.Lock()

        def client(i: int) -> None:
            rng = random.Random(i)
            while time.perf_counter() < deadline:
                page, values = _draw(rng)
                status, dt = _post(host, port, page, values)
                with lock:
                    lat.append(dt)
                    by_page[page].append(dt)
                    statuses[status] = statuses.get(status, 0) + 1

        long_s: list[float] = []
        during: list[float] = []
        busy = threading.Event()

        def long_requests() -> None:
            seed = 0
            while time.perf_counter() < deadline:
                busy.set()
                seed += 1
                status, dt = _post(host, port, "serving", {**LONG, "seed": str(seed)})
                busy.clear()
                long_s.append(dt if status == 200 else float("inf"))

        def new_client() -> None:  # a person opening the dashboard while the long request runs
            while time.perf_counter() < deadline:
                time.sleep(1.0)
                if busy.is_set():
                    s1, t1 = _get(host, port, "/analyze")
                    s2, t2 = _post(host, port, "analyze", {"batch": str(random.randint(1, 512))})
                    during.append(t1 + t2 if s1 == 200 and s2 == 200 else float("inf"))

        cpu0 = _cpu_s(proc.pid)
        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        threads += [threading.Thread(target=long_requests), threading.Thread(target=new_client)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        server_cpu = _cpu_s(proc.pid) - cpu0
    finally:
        t_stop = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        stop_s = time.perf_counter() - t_stop
    errors = sum(n for s, n in statuses.items() if s not in (200, 400))
    if errors:
        told = {**{f"HTTP {s}": n for s, n in statuses.items() if s not in (0, 200, 400)}, **FAILURES}
        print("errors:", ", ".join(f"{k} x{v}" for k, v in sorted(told.items())), file=sys.stderr)
    return {
        "clients": CLIENTS,
        "seconds": wall,
        "requests": len(lat),
        "requests/s": len(lat) / wall,
        "errors (no answer, 5xx, timeout) [target 0]": errors,
        "answered 400 (inputs that do not fit or divide)": statuses.get(400, 0),
        "latency p50 s": _pct(lat, 0.50),
        "latency p99 s [target <= 2 on 2 cores]": _pct(lat, 0.99),
        "latency max s": max(lat, default=float("nan")),
        **{f"  analyze {k}": v for k, v in _summary(by_page["analyze"]).items()},
        **{f"  serving {k}": v for k, v in _summary(by_page["serving"]).items()},
        "long request (serving, 5,000 requests) s, median": _pct(long_s, 0.5),
        "new client during the long request: page + view, max s [target <= 2]": max(
            during, default=float("nan")
        ),
        "new client probes during the long request": len(during),
        "server CPU s per request (its threads and worker processes)": server_cpu / max(len(lat), 1),
        "server CPU use (cores busy on average)": server_cpu / wall,
        "stop on SIGTERM s [target <= 1]": stop_s,
        "load average (1 min) at the end": os.getloadavg()[0],
    }


if __name__ == "__main__":
    for k, v in run().items():
        print(f"{k:<75s} {v:>12,.4g}")
