"""``lamed serve --workers N``: gunicorn processes, each serving the WSGI adapter with waitress.

Runs the real command as a subprocess, loads it from several client threads
with distinct and duplicate events, and checks Redis counted each distinct
event exactly once. With no Redis configured, the embedded redis-server is
started once by the parent, not once per worker.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from conftest import API_KEY, http

from lamed.cli.embedded import free_port
from lamed.store.redis_client import connect

SERVE = [sys.executable, "-c", "from lamed.cli.main import main; main()", "serve"]


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def _workers(pid: int, expected: int, timeout: float = 15.0) -> list[int]:
    """The gunicorn workers of master ``pid`` once ``expected`` are up (the
    master answers before it has forked them all), or what there is then."""
    deadline = time.monotonic() + timeout
    while True:
        workers = [child for child in _children(pid) if _command_name(child) != "redis-server"]
        if len(workers) >= expected or time.monotonic() > deadline:
            return workers
        time.sleep(0.05)


def _command_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


class Served:
    def __init__(self, env: dict, workers: int, serve: list = SERVE) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = serve + ["--port", str(self.port), "--workers", str(workers)]
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        # Read all along: a line per request would fill the pipe and stall the server.
        self._output: list[str] = []
        self._reader = threading.Thread(target=lambda: self._output.extend(self.process.stdout), daemon=True)
        self._reader.start()
        self._wait_until_healthy()

    def _wait_until_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._reader.join(5)
                pytest.fail(f"lamed serve exited: {''.join(self._output)}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        pytest.fail("lamed serve --workers did not answer /health in time")

    def get(self, path: str, headers: dict | None = None) -> tuple:
        response = http("GET", self.url + path, headers=headers)
        return response.status, response.json()

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            self._reader.join(5)
            pytest.fail(f"lamed serve did not stop on SIGTERM: {''.join(self._output)}")
        self._reader.join(5)
        return "".join(self._output)


@pytest.fixture
def served(redis_url):
    server = Served({**os.environ, "LAMED_REDIS_URL": redis_url, "LAMED_API_KEY": API_KEY}, workers=2)
    yield server
    server.stop()


def test_two_workers_count_each_distinct_event_once(served, redis_url):
    experiment = "workers: a/b"
    distinct = [
        {"experiment": experiment, "variant": variant, "event": event, "uuid": f"user-{n}"}
        for n in range(150)
        for variant, event in ((("red", "blue")[n % 2], "participate"), (("red", "blue")[n % 2], "signup"))
    ]
    sent = distinct * 2  # every event once more: a client resending
    random.Random(6).shuffle(sent)

    def track(params: dict) -> str:
        status, body = served.get("/track?" + urlencode(params))
        assert status == 200
        return body["status"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(track, sent))

    assert statuses.count("counted") == len(distinct)
    assert statuses.count("duplicate") == len(distinct)
    assert len(_workers(served.process.pid, 2)) == 2

    status, detail = served.get("/experiments/" + quote(experiment, safe=""), {"x-api-key": API_KEY})
    assert status == 200
    assert detail["events"]["participate"] == {"blue": 75, "red": 75}
    assert detail["events"]["signup"] == {"blue": 75, "red": 75}
    client = connect(redis_url)
    assert client.dbsize() > 0
    client.close()


def test_embedded_redis_is_started_once_by_the_parent(tmp_path):
    env = {name: value for name, value in os.environ.items() if name != "LAMED_REDIS_URL"}
    env["HOME"] = str(tmp_path)  # the embedded Redis keeps its data in ~/.lamed/redis
    served = Served(env, workers=3)
    try:
        workers = _workers(served.process.pid, 3)
        redis_servers = [pid for pid in _children(served.process.pid) if _command_name(pid) == "redis-server"]
        assert len(redis_servers) == 1
        assert len(workers) == 3
        assert all(not any(_command_name(p) == "redis-server" for p in _children(w)) for w in workers)
        status, body = served.get("/track?experiment=e&variant=a&event=participate&uuid=u")
        assert (status, body["status"]) == (200, "counted")
    finally:
        output = served.stop()
    assert "Workers: 3 gunicorn processes" in output
    assert served.process.returncode == 0, output
    assert all(not Path(f"/proc/{pid}").exists() or _command_name(pid) != "redis-server" for pid in redis_servers)
