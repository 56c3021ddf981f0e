"""Shared fixtures: real redis-server processes on free ports, a fakeredis
store for fast unit tests, and a live ``lamed serve``-style HTTP server."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import fakeredis
import hypothesis
import pytest
import redis

from lamed.cli.embedded import RedisServer
from lamed.core.settings import Settings
from lamed.store.results import Store
from lamed.web import runtime

API_KEY = "test-api-key-0123456789"
ROOT = Path(__file__).resolve().parent.parent

# Shared 2-core machines: a slow first draw (Hypothesis builds its character
# tables once per fresh checkout) or a slow example is the machine, not a bug.
hypothesis.settings.register_profile("lamed", suppress_health_check=[hypothesis.HealthCheck.too_slow], deadline=None)
hypothesis.settings.load_profile("lamed")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """No test reads or writes the developer's ~/.lamed or LAMED_* env."""
    for name in list(os.environ):
        if name.startswith("LAMED_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LAMED_CONFIG", str(tmp_path_factory.mktemp("home") / "config.json"))


@pytest.fixture(scope="session")
def moto():
    """``moto_server`` on loopback for the AWS tests; they reset it as needed."""
    from deploy_support import MotoServer

    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server():
    """A real redis-server for the whole session, on a free port."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server):
    """A clean database of the session's redis-server for each test."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
def settings(redis_url) -> Settings:
    return Settings(redis_url=redis_url, api_key=API_KEY)


@pytest.fixture
def store(settings) -> Store:
    """A Store on real Redis, installed as the process's store."""
    built = runtime.build_store(settings)
    runtime.install(settings, built)
    yield built
    built.client.close()
    runtime.install(Settings())


@pytest.fixture
def fake_store() -> Store:
    """A Store on fakeredis: for fast unit tests of logic, not of Redis."""
    settings = Settings(redis_url="redis://fake", api_key=API_KEY)
    built = Store(fakeredis.FakeRedis(), settings)
    runtime.install(settings, built)
    yield built
    runtime.install(Settings())


class LiveServer:
    def __init__(self, server) -> None:
        self.server = server
        self.url = f"http://127.0.0.1:{server.server_port}"


@pytest.fixture
def live_server(store):
    """The WSGI app on a threaded HTTP server on loopback, backed by ``store``."""
    from lamed.cli.serve import make_wsgi_server

    server = make_wsgi_server("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield LiveServer(server)
    server.shutdown()
    server.server_close()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium, headless, driven by Playwright (no downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Screenshots and other outputs of a test run (git-ignored)."""
    path = ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


class HttpResult:
    def __init__(self, status: int, headers, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        import json

        return json.loads(self.body)


def http(method: str, url: str, body=None, headers=None, timeout: float = 10.0) -> HttpResult:
    """One HTTP request with the stdlib; 4xx/5xx are returned, not raised."""
    import json
    import urllib.error
    import urllib.request

    data = body
    headers = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, str)):
        data = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    if isinstance(data, str):
        data = data.encode("utf-8")
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return HttpResult(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return HttpResult(error.code, error.headers, error.read())


def pytest_sessionfinish(session, exitstatus):
    """In CI every test must run: a skipped real-Redis, cluster or browser test
    would hide a missing install step, so a skip fails the run there."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if os.environ.get("CI") and skipped and exitstatus == 0:
        reporter.write_line(f"CI: {len(skipped)} test(s) skipped; every test must run here", red=True)
        session.exitstatus = 1


def write_through_every_path(settings: Settings) -> None:
    """Tracks (GET, POST batch, lua is another test's), defines, assigns
    with a record, reads results, deletes one experiment and runs
    preflight's write check, all with ``settings``: every writer of Lamed's."""
    import json

    from chalice.test import Client

    from app import app
    from lamed.deploy.preflight import _write_and_read_back

    store = runtime.build_store(settings)
    runtime.install(settings, store)
    headers = {"x-api-key": settings.api_key or "", "content-type": "application/json"}
    batch = [{"experiment": f"e{n}", "variant": "A", "event": "buy", "uuid": "u"} for n in range(5)]
    with Client(app) as client:
        assert client.http.get("/track?experiment=exp&variant=A&event=participate&uuid=u").status_code == 200
        answer = client.http.post("/track", body=json.dumps(batch), headers=headers)
        assert answer.status_code == 200, answer.body
        definition = json.dumps({"variants": {"A": 1, "B": 1}, "status": "running"})
        assert client.http.put("/definitions/defined", body=definition, headers=headers).status_code == 201
        assert client.http.get("/assign?experiment=defined&user_id=u1&record=1").status_code == 200
        assert client.http.get("/experiments", headers=headers).status_code == 200
        assert client.http.delete("/experiments/e0", headers=headers).status_code == 200
    _write_and_read_back(settings)
    runtime.install(Settings())
    store.client.close()


def scanned_keys(port: int) -> list[bytes]:
    """Every key of the redis-server on ``port``, as ``redis-cli --scan`` lists them."""
    import subprocess

    done = subprocess.run(["redis-cli", "-p", str(port), "--scan"], capture_output=True, check=True)
    return done.stdout.splitlines()
