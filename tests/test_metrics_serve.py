"""What the operator of ``lamed serve --workers 2`` sees: Prometheus metrics
that add up across workers and equal what was sent, never shown on the
public port without the API key, and one JSON log line per request that
holds no uuid, API key or cookie.

Drives the real command (a subprocess) with a known mix: counted events,
duplicates, events refused by a limit, invalid ones, and a Redis stopped
(SIGSTOP) for a moment, which turns requests into 503s.
"""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path
from urllib.parse import urlencode

import pytest
from conftest import API_KEY, http
from prometheus_client.parser import text_string_to_metric_families
from test_serve_workers import SERVE, Served, _workers

from lamed.cli.embedded import RedisServer, free_port

GRAFANA = Path(__file__).resolve().parent.parent / "docs" / "grafana-dashboard.json"
TIMEOUT = 0.3  # redis_timeout_seconds: a stopped Redis costs two of them per request


def samples(text: str) -> dict:
    """``{(sample name, (label, value), ...): value}`` of an exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, *sorted(sample.labels.items()))] = sample.value
    return found


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, *sorted(labels.items())), 0.0)


@pytest.fixture
def redis_alone():
    """A redis-server of this test's own: it is stopped for a moment."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def served(redis_alone):
    metrics_port = free_port()
    env = {
        **os.environ,
        "LAMED_REDIS_URL": redis_alone.url,
        "LAMED_API_KEY": API_KEY,
        "LAMED_ALLOWED_NAMESPACES": "shop",
        "LAMED_REDIS_TIMEOUT_SECONDS": str(TIMEOUT),
    }
    server = Served(env, workers=2, serve=[*SERVE, "--metrics-port", str(metrics_port)])
    server.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    yield server
    server.stop()


def track(served, **params) -> int:
    return http("GET", served.url + "/track?" + urlencode(params)).status


def event(n: int, namespace: str = "shop") -> dict:
    return {"namespace": namespace, "experiment": "checkout", "variant": "ab"[n % 2], "event": "buy", "uuid": f"u-{n}"}


def test_every_counter_equals_what_was_sent(served, redis_alone):
    assert len(_workers(served.process.pid, 2)) == 2
    statuses = [track(served, **event(n)) for n in range(40)]  # 40 counted
    statuses += [track(served, **event(n)) for n in range(15)]  # 15 duplicates
    statuses += [track(served, **event(n, "elsewhere")) for n in range(5)]  # 5 refused: not an allowed namespace
    statuses += [track(served, experiment="checkout", variant="a", event="buy") for _ in range(4)]  # 4 invalid
    assert statuses == [200] * 60 + [400] * 4
    batch = [event(n) for n in range(100, 106)] + [event(0), event(1), {"experiment": "x"}, event(7, "elsewhere")]
    answer = http("POST", served.url + "/track", body=batch)  # 6 counted, 2 duplicates, 1 invalid, 1 refused
    assert answer.status == 400
    assert {key: answer.json()[key] for key in ("counted", "duplicate", "invalid", "refused")} == {
        "counted": 6, "duplicate": 2, "invalid": 1, "refused": 1,
    }  # fmt: skip

    redis_alone.process.send_signal(signal.SIGSTOP)
    try:
        stopped = [track(served, **event(n)) for n in range(200, 203)]  # 3 answered 503
    finally:
        redis_alone.process.send_signal(signal.SIGCONT)
    assert stopped == [503] * 3
    assert [track(served, **event(n)) for n in range(300, 302)] == [200, 200]  # 2 counted once Redis is back

    public = http("GET", served.url + "/metrics")
    wrong = http("GET", served.url + "/metrics", headers={"X-API-Key": "not-the-key-0123456789"})
    for refused in (public, wrong):
        assert refused.status == 401 and b"lamed_" not in refused.body
    keyed = http("GET", served.url + "/metrics", headers={"X-API-Key": API_KEY})
    private = http("GET", served.metrics_url)
    assert keyed.status == private.status == 200

    found = samples(private.body.decode())
    events = {outcome: value(found, "lamed_events_total", outcome=outcome) for outcome in (
        "counted", "duplicate", "refused", "not_counted", "invalid", "unavailable")}  # fmt: skip
    assert events == {"counted": 48, "duplicate": 17, "refused": 6, "not_counted": 0, "invalid": 5, "unavailable": 3}
    requests = {status: value(found, "lamed_requests_total", route="/track", status=status) for status in (
        "2xx", "3xx", "4xx", "5xx")}  # fmt: skip
    assert requests == {"2xx": 62, "3xx": 0, "4xx": 5, "5xx": 3}
    assert value(found, "lamed_request_duration_seconds_count", route="/track") == 70
    assert value(found, "lamed_redis_errors_total", kind="timeout") == 6  # each 503: an attempt and its retry
    for kind in ("connection", "oom", "contention", "replica", "reply"):
        assert value(found, "lamed_redis_errors_total", kind=kind) == 0
    assert value(found, "lamed_watch_retries_total") == 0
    # Two kept connections (one a worker) plus one for each retry in the outage
    # and each discarded after it: at least 2, at most 2 + 2 * 3 + 2.
    assert 2 <= value(found, "lamed_redis_connections_opened_total") <= 10
    assert value(found, "lamed_redis_round_trip_seconds_count") >= 48
    assert samples(keyed.body.decode())[("lamed_events_total", ("outcome", "counted"))] == 48
    exposed = {name for name, *_ in found}
    assert set(re.findall(r"lamed_\w+", GRAFANA.read_text())) <= exposed  # the dashboard reads what is there

    output = served.stop()
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    tracked = [line for line in lines if line.get("route") == "/track"]
    assert len(tracked) == 70
    assert {line["status"] for line in tracked} == {200, 400, 503}
    for line in tracked:
        assert set(line) >= {"time", "level", "request_id", "method", "route", "status", "duration_ms"}
    batch_line = next(line for line in tracked if line["method"] == "POST")
    assert batch_line["events"] == {"counted": 6, "duplicate": 2, "invalid": 1, "refused": 1}
    failed = [line for line in tracked if line["status"] == 503]
    assert [(line["level"], line["cause"]) for line in failed] == [("error", "StoreUnavailable: timed out")] * 3
    assert "u-1" not in output and API_KEY not in output and "checkout" not in output
