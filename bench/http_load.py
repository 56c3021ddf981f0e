"""HTTP ingest: ``wrk`` on loopback against ``lamed serve``.

Every request carries a new uuid (a Lua script numbers them per wrk thread),
so every request is a counted event; afterwards the counters in Redis are
compared with the 200s wrk saw.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Optional

from lamed.cli.embedded import free_port

ROOT = Path(__file__).resolve().parent.parent
LAMED = ROOT / ".venv" / "bin" / "lamed"

WRK_SCRIPT = """
local counter = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
function request()
  counter = counter + 1
  return wrk.format("GET", "/track?experiment=%s&variant=" .. (counter %% 2) ..
    "&event=participate&uuid=t" .. id .. "-" .. counter)
end
"""


def wrk_missing() -> Optional[str]:
    return None if shutil.which("wrk") else "wrk not installed (apt-get install wrk): HTTP ingest skipped"


def _wait_until_serving(url: str, process: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"lamed serve exited: {process.stdout.read()}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("lamed serve did not answer in time")


def parse_wrk(output: str) -> dict:
    def number(pattern: str, default: float = 0.0) -> float:
        found = re.search(pattern, output)
        return float(found.group(1)) if found else default

    def milliseconds(percentile: str) -> float:
        found = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        if not found:
            return float("nan")
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]
        return float(found.group(1)) * scale

    requests = number(r"(\d+) requests in")
    return {
        "requests_per_second": number(r"Requests/sec:\s+([\d.]+)"),
        "requests": requests,
        "ok": requests - number(r"Non-2xx or 3xx responses: (\d+)"),
        "p50_ms": milliseconds("50"),
        "p99_ms": milliseconds("99"),
    }


def run(redis_url: str, store, workers: int, seconds: int = 10, connections: int = 32) -> dict:
    """Load for ``seconds``; ``store`` (a lamed Store on the same Redis)
    reads the counts back."""
    port = free_port()
    experiment = f"wrk-{workers}-{time.time_ns()}"  # new uuids: every request is a new event
    env = {**os.environ, "LAMED_REDIS_URL": redis_url, "LAMED_API_KEY": "bench-api-key-0123456789"}
    server = subprocess.Popen(
        [str(LAMED), "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(url, server)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(WRK_SCRIPT % experiment)
        command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name, url]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        os.unlink(script.name)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(15)
    result = parse_wrk(output)
    result["counted"] = sum(store.experiment("alephbet", experiment).totals.values())
    result["workers"] = workers
    return result
