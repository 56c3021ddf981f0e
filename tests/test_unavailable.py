"""Redis down or hanging: a 503 the client retries, fast, and never a 200 for
an event that was not stored. After Redis is back, a retry counts once."""

import socket
import threading
import time

import pytest
from conftest import API_KEY, http

from lamed.cli.embedded import RedisServer
from lamed.core.settings import Settings
from lamed.web import runtime

TRACK = "/track?experiment=e&variant=a&event=participate&uuid=u1"


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(tmp_path / "redis", persistent=True).start()
    yield server
    server.stop()


@pytest.fixture
def server_on(own_redis):
    """A live server whose Redis the test may stop and restart."""
    from lamed.cli.serve import make_wsgi_server

    def start(redis_url):
        settings = Settings(redis_url=redis_url, api_key=API_KEY)
        runtime.install(settings, runtime.build_store(settings))
        server = make_wsgi_server("127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        started.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    started = []
    yield start
    for server in started:
        server.shutdown()
        server.server_close()
    runtime.install(Settings())


def timed(method, url, body=None):
    began = time.monotonic()
    response = http(method, url, body)
    return response, time.monotonic() - began


def test_redis_down_gives_503_then_a_retry_counts_once(own_redis, server_on):
    base = server_on(own_redis.url)
    assert http("GET", base + TRACK).json() == {"status": "counted"}
    own_redis.stop()

    for method, path, body in [
        ("GET", "/track?experiment=e&variant=a&event=participate&uuid=u2", None),
        ("POST", "/track", {"experiment": "e", "variant": "a", "event": "participate", "uuid": "u2"}),
        ("GET", "/health", None),
    ]:
        response, seconds = timed(method, base + path, body)
        assert response.status == 503
        assert response.json()["error"]
        assert seconds < 1.5

    own_redis.start()  # same port, same AOF data
    assert http("GET", base + "/track?experiment=e&variant=a&event=participate&uuid=u2").json() == {"status": "counted"}
    assert http("GET", base + TRACK).json() == {"status": "duplicate"}
    assert runtime.store().experiment("alephbet", "e").count("participate", "a") == 2


def test_hanging_redis_gives_503_within_two_timeouts(server_on):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted = []
    threading.Thread(target=lambda: [accepted.append(listener.accept()) for _ in range(16)], daemon=True).start()
    try:
        base = server_on(f"redis://127.0.0.1:{listener.getsockname()[1]}/0")
        response, seconds = timed("GET", base + TRACK)
        assert response.status == 503
        assert seconds < 2 * Settings().redis_timeout_seconds + 1.0  # a timeout, the retry's timeout, slack
        # The server itself stays responsive meanwhile.
        assert http("GET", base + "/nope").status == 404
    finally:
        listener.close()
        for connection, _ in accepted:
            connection.close()


def test_no_redis_configured_is_a_503_not_a_crash(server_on, monkeypatch):
    from lamed.cli.serve import make_wsgi_server

    runtime.install(Settings(api_key=API_KEY))
    server = make_wsgi_server("127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        response = http("GET", f"http://127.0.0.1:{server.server_port}{TRACK}")
        assert response.status == 503
    finally:
        server.shutdown()
        server.server_close()
