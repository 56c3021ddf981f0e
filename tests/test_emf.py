"""CloudWatch metrics from the Lambda function: the handler, invoked in
process over a simulated few minutes, writes Embedded Metric Format lines
that follow the format's rules (the ``_aws`` block, namespace, dimensions,
units), whose counts equal what was sent, at most one a minute."""

from __future__ import annotations

import json
import signal
import sys
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest

from lamed.cli.embedded import RedisServer
from lamed.core import observe
from lamed.core.settings import Settings
from lamed.web import emf, runtime
from lamed.web.gateway import function_url_event, proxy_event
from lamed.web.lambda_handler import _default_app, make_handler, with_cloudwatch_metrics

UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes", "Bits",
    "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second",
    "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
    "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
}  # fmt: skip


def check_emf(line: str) -> dict:
    """One log line as CloudWatch's EMF specification reads it: a JSON object
    with an ``_aws`` metadata object (an integer Timestamp in milliseconds,
    CloudWatchMetrics directives with a namespace, dimension sets of at most
    9 keys naming string members, at most 100 metrics naming numeric members
    or arrays of at most 100 numbers, with valid units)."""
    document = json.loads(line)
    assert isinstance(document, dict)
    meta = document["_aws"]
    assert isinstance(meta, dict) and isinstance(meta["Timestamp"], int) and meta["Timestamp"] > 1_500_000_000_000
    assert isinstance(meta["CloudWatchMetrics"], list) and meta["CloudWatchMetrics"]
    for directive in meta["CloudWatchMetrics"]:
        assert set(directive) == {"Namespace", "Dimensions", "Metrics"}
        assert isinstance(directive["Namespace"], str) and 1 <= len(directive["Namespace"]) <= 255
        assert directive["Dimensions"] and all(len(keys) <= 9 for keys in directive["Dimensions"])
        for keys in directive["Dimensions"]:
            assert all(isinstance(document[key], str) for key in keys)
        assert 1 <= len(directive["Metrics"]) <= 100
        for metric in directive["Metrics"]:
            assert set(metric) <= {"Name", "Unit"} and metric.get("Unit", "None") in UNITS
            target = document[metric["Name"]]
            if isinstance(target, list):
                assert 1 <= len(target) <= 100 and all(isinstance(value, (int, float)) for value in target)
            else:
                assert isinstance(target, (int, float)) and not isinstance(target, bool)
    return document


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def time(self) -> float:
        return self.now


@pytest.fixture
def own_redis():
    with RedisServer() as server:
        yield server


@pytest.fixture
def environment(own_redis, monkeypatch):
    """One execution environment of version 7 on a simulated clock."""
    runtime.install(Settings(redis_url=own_redis.url, allowed_namespaces=("shop",), redis_timeout_seconds=0.2))
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")  # as on Lambda: the SIGTERM handler is set
    clock = Clock()
    monkeypatch.setattr(emf, "time", clock)
    previous_observer = observe.watching
    previous_sigterm = signal.getsignal(signal.SIGTERM)
    lines: list[str] = []
    monkeypatch.setattr(emf, "_print", lines.append)
    handler = with_cloudwatch_metrics(make_handler(_default_app))
    context = SimpleNamespace(function_name="lamed-api", function_version="7")
    yield SimpleNamespace(invoke=lambda event: handler(event, context), clock=clock, lines=lines)
    signal.signal(signal.SIGTERM, previous_sigterm)
    observe.install(previous_observer)
    runtime.install(Settings())


def rest(n: int, namespace: str = "shop", **changes) -> dict:
    query = {"namespace": namespace, "experiment": "e", "variant": "ab"[n % 2], "event": "participate", "uuid": f"u{n}"}
    return proxy_event("GET", "/track", query={**query, **changes})


def url(n: int, namespace: str = "shop") -> dict:
    query = {"namespace": namespace, "experiment": "e", "variant": "a", "event": "buy", "uuid": f"v{n}"}
    return function_url_event("GET", "/track", urlencode(query))


def test_a_line_a_minute_whose_counts_equal_what_was_sent(environment, own_redis):
    invoke, clock, lines = environment.invoke, environment.clock, environment.lines
    sent = {"EventsCounted": 0, "EventsDuplicate": 0, "EventsRefused": 0, "EventsInvalid": 0, "Unavailable503": 0}
    statuses = []
    for second in range(0, 150, 3):  # 50 invocations of each kind over two and a half minutes
        clock.now += 3
        n = second // 3
        statuses.append(invoke(rest(n))["statusCode"])  # counted
        statuses.append(invoke(url(n))["statusCode"])  # counted, on the function URL
        statuses.append(invoke(rest(n))["statusCode"])  # duplicate
        sent["EventsCounted"] += 2
        sent["EventsDuplicate"] += 1
        if n % 5 == 0:
            statuses.append(invoke(rest(n, "elsewhere"))["statusCode"])  # refused: not an allowed namespace
            statuses.append(invoke(rest(n, uuid=""))["statusCode"])  # invalid
            sent["EventsRefused"] += 1
            sent["EventsInvalid"] += 1
        assert len(lines) == int((clock.now - 1_800_000_003.0) // 60)  # a line once each minute has gone
    own_redis.process.send_signal(signal.SIGSTOP)
    try:
        clock.now += 1
        statuses.append(invoke(rest(999))["statusCode"])
        sent["Unavailable503"] += 1
    finally:
        own_redis.process.send_signal(signal.SIGCONT)
    invoke({"lamed-warmup": True})  # a warm-up is an invocation too: no line before the minute
    assert len(lines) == 2
    assert statuses.count(503) == 1 and statuses.count(400) == 10 and statuses.count(200) == 160

    with pytest.raises(SystemExit):  # Lambda's SIGTERM, where an extension makes it send one
        signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)
    documents = [check_emf(line) for line in lines]
    assert len(documents) == 3
    stamps = [document["_aws"]["Timestamp"] for document in documents]
    assert [later - earlier for earlier, later in zip(stamps, stamps[1:])] == [60_000, 28_000]  # the last at SIGTERM
    for document in documents:
        directive = document["_aws"]["CloudWatchMetrics"][0]
        assert directive["Namespace"] == "Lamed" and directive["Dimensions"] == [["FunctionName", "Version"]]
        assert (document["FunctionName"], document["Version"]) == ("lamed-api", "7")
        assert document["level"] == "WARN"  # kept by the function's application log level (WARN)
        units = {metric["Name"]: metric["Unit"] for metric in directive["Metrics"]}
        assert units["EventsCounted"] == "Count" and units["TrackDuration"] == units["RedisRoundTrip"] == "Milliseconds"
        assert len(document["TrackDuration"]) == min(document["Requests"], 100)
    totals = {name: sum(document[name] for document in documents) for name in sent}
    assert totals == sent
    assert sum(document["Requests"] for document in documents) == len(statuses)
    assert sum(document["Errors5xx"] for document in documents) == 1
    assert sum(document["EventsUnavailable"] for document in documents) == 1
    assert sum(document["RedisErrors"]["timeout"] for document in documents) == 2  # the attempt and its retry


def test_switched_off_the_function_writes_no_line(own_redis, monkeypatch):
    runtime.install(Settings(redis_url=own_redis.url, cloudwatch_metrics=False))
    lines: list[str] = []
    monkeypatch.setattr(emf, "_print", lines.append)
    clock = Clock()
    monkeypatch.setattr(emf, "time", clock)
    previous = observe.watching
    handler = with_cloudwatch_metrics(make_handler(_default_app))
    try:
        for n in range(3):
            clock.now += 61
            assert handler(rest(n), None)["statusCode"] == 200
    finally:
        runtime.install(Settings())
    assert lines == [] and observe.watching is previous


def test_a_busy_minute_sends_its_percentiles():
    """More than 100 requests in a minute: the 100 values sent are the
    minute's percentiles, so CloudWatch's p99 of them is the minute's."""
    clock = Clock()
    lines: list[str] = []
    metrics = emf.CloudWatchMetrics("lamed-api", "8", write=lines.append, clock=clock.time)
    durations = [0.001] * 900 + [0.050] * 90 + [0.900] * 10  # seconds: p99 is 50 ms, the slowest 1% 900 ms
    for seconds in durations:
        metrics.request(200, seconds)
    clock.now += 60
    metrics.invoked()
    document = check_emf(lines[0])
    values = document["TrackDuration"]
    assert len(values) == 100 and document["Requests"] == 1000 and document["Version"] == "8"
    assert values.count(1.0) == 90 and values.count(50.0) == 9 and values.count(900.0) == 1


def test_the_line_is_kept_by_the_functions_log_level():
    """Lambda drops application lines below ApplicationLogLevel, and reads a
    line without a level as INFO: the metrics line says its level."""
    from lamed.deploy.plan import LOGGING_CONFIG

    order = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
    assert order.index(emf.LINE_LEVEL) >= order.index(LOGGING_CONFIG["ApplicationLogLevel"])


def test_the_functions_errors_reach_lambdas_own_log_handler():
    """Chalice left alone would give the "lamed" logger a plain-text stdout
    handler, which Lambda's JSON log format reads as INFO and drops."""
    import logging

    from lamed.web.application import create_app

    app = create_app()
    lamed_logger = logging.getLogger("lamed")
    assert app.configure_logs is False  # lamed serve configures its own JSON lines (lamed.web.observed)
    assert not [h for h in lamed_logger.handlers if getattr(h, "stream", None) is sys.stdout]
