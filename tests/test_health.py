"""The Redis check the function runs on its health payload
(:mod:`lamed.core.health`), against a real redis-server: what it reports
when all is well, and the cause it names for each thing an operator can fix."""

from __future__ import annotations

import socket

import redis
from test_resp import _tls_server

from lamed.cli.embedded import free_port
from lamed.core.health import check_redis
from lamed.core.settings import Settings


def test_a_healthy_redis_is_reachable_writable_and_timed(redis_url):
    client = redis.Redis.from_url(redis_url)
    client.config_set("maxmemory-policy", "allkeys-lru")
    report = check_redis(Settings(redis_url=redis_url, key_prefix="shop:"))
    assert report["ok"] is True and report["reachable"] is True and report["writable"] is True
    assert report["maxmemory_policy"] == "allkeys-lru"
    assert 0 < report["round_trip_ms"] < 1000
    assert report["tls"] is False and report["redis"].startswith("127.0.0.1:")
    assert client.dbsize() == 0  # the preflight key is deleted again
    monitor_free = check_redis(Settings(redis_url=redis_url))
    assert monitor_free["ok"] is True
    client.config_set("maxmemory-policy", "noeviction")
    client.close()


def test_the_check_writes_the_prefixs_preflight_key(redis_url):
    """A read-only user that may write only other keys fails as "write": the
    check really writes ``<prefix>preflight``."""
    client = redis.Redis.from_url(redis_url)
    client.acl_setuser("reader", enabled=True, passwords=["+secret-pass"], keys=["other:*"], commands=["+@all"])
    url = redis_url.replace("redis://", "redis://reader:secret-pass@")
    report = check_redis(Settings(redis_url=url, key_prefix="shop:"))
    assert report["reachable"] is True and report["writable"] is False
    assert report["failed"] == "write" and report["cause"] == "error" and "permission" in report["error"].lower()
    assert check_redis(Settings(redis_url=url, key_prefix="other:"))["ok"] is True
    client.acl_deluser("reader")
    client.close()


def test_causes_an_operator_can_fix(redis_url):
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    cases = {
        f"redis://127.0.0.1:{free_port()}/0": ("tcp", "refused"),
        "redis://no-such-host.invalid:6379/0": ("tcp", "dns"),
        f"redis://:wrong-password@127.0.0.1:{port}/0": ("handshake", "auth"),
        f"rediss://127.0.0.1:{port}/0": ("handshake", "timeout"),  # TLS to a plain Redis: no answer
    }
    for url, (step, cause) in cases.items():
        report = check_redis(Settings(redis_url=url), timeout_seconds=0.5)
        assert (report["ok"], report.get("failed"), report.get("cause")) == (False, step, cause), (url, report)
        assert report["error"]
    assert check_redis(Settings())["cause"] == "config"


def test_tls_trouble(tmp_path):
    server, url = _tls_server(tmp_path)
    with server:
        assert check_redis(Settings(redis_url=url))["ok"] is True
        assert check_redis(Settings(redis_url=url))["tls"] is True
        untrusted = check_redis(Settings(redis_url=url.split("?")[0]))  # self-signed, not in the trust store
        assert (untrusted["failed"], untrusted["cause"]) == ("handshake", "tls")
        plain = check_redis(Settings(redis_url=url.split("?")[0].replace("rediss://", "redis://")))
        assert (plain["failed"], plain["cause"]) == ("ping", "closed"), plain  # TLS-only server, plain client


def test_a_server_that_never_answers_is_a_timeout():
    """Like a security group that drops the packets: connected (a listening
    socket that never replies), then no answer within the timeout."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        report = check_redis(Settings(redis_url=url, redis_timeout_seconds=0.2), timeout_seconds=0.2)
    finally:
        silent.close()
    assert report["failed"] == "ping" and report["cause"] == "timeout" and report["reachable"] is False
