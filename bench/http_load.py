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
            process.stdout.seek(0)
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


def run(
    redis_url: str, store, workers: int, seconds: int = 10, connections: int = 32, source: Optional[Path] = None
) -> dict:
    """Load for ``seconds``; ``store`` (a lamed Store on the same Redis)
    reads the counts back. ``source``: a checkout of other Lamed code to
    serve instead of this one (it goes first on PYTHONPATH)."""
    port = free_port()
    experiment = f"wrk-{workers}-{time.time_ns()}"  # new uuids: every request is a new event
    env = {**os.environ, "LAMED_REDIS_URL": redis_url, "LAMED_API_KEY": "bench-api-key-0123456789"}
    if source is not None:
        env["PYTHONPATH"] = str(source)
    log = tempfile.TemporaryFile("w+")  # read only if the server fails: a pipe nobody reads could fill
    server = subprocess.Popen(
        [str(LAMED), "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=log,
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
        log.close()
    result = parse_wrk(output)
    result["counted"] = sum(store.experiment("alephbet", experiment).totals.values())
    result["workers"] = workers
    return result


def main(argv: Optional[list] = None) -> None:
    """``python -m bench.http_load [--before DIR] [--rounds N] [--seconds S]``:
    requests/s of ``lamed serve`` (1 worker and ``--workers 2``) under wrk,
    this checkout's code against ``--before`` (e.g. an exported older commit),
    alternating the two so load on a shared machine hits both alike."""
    import argparse
    import statistics

    from lamed.cli.embedded import RedisServer
    from lamed.core.settings import Settings
    from lamed.store.results import open_store

    parser = argparse.ArgumentParser(prog="python -m bench.http_load", description=main.__doc__)
    parser.add_argument("--before", type=Path, help="a checkout of the code to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args(argv)
    missing = wrk_missing()
    if missing:
        raise SystemExit(missing)
    sides = {"after (this checkout)": None} if args.before is None else {"before": args.before, "after": None}
    figures: dict = {}
    with RedisServer() as redis_server:
        store = open_store(Settings(redis_url=redis_server.url))
        for _ in range(args.rounds):
            for workers in (1, 2):
                for side, source in sides.items():
                    load = run(redis_server.url, store, workers, args.seconds, source=source)
                    figures.setdefault((workers, side), []).append(load)
                    print(
                        f"workers={workers} {side}: {load['requests_per_second']:,.0f} requests/s, "
                        f"p50 {load['p50_ms']:.2f} ms, p99 {load['p99_ms']:.2f} ms, "
                        f"{load['ok']:,.0f} answered 200, {load['counted']:,} counted",
                        flush=True,
                    )
        store.client.close()
    print(f"median of {args.rounds} rounds, wrk -t2 -c32 -d{args.seconds}s:")
    for (workers, side), loads in sorted(figures.items()):
        rate = statistics.median(load["requests_per_second"] for load in loads)
        print(f"  --workers {workers}, {side}: {rate:,.0f} requests/s")


if __name__ == "__main__":
    main()
