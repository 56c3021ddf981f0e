"""CloudWatch metrics from the Lambda function at no cost per event: the
core's observer (:mod:`lamed.core.observe`) aggregating in memory, written
as one CloudWatch Embedded Metric Format (EMF) line at most once a minute
per execution environment.

A line goes to stdout (Lambda sends it to the function's log group, where
CloudWatch extracts the metrics) at the end of the first invocation that
finds a minute gone since this environment's last line. An environment
that got no invocation for a while writes its pending counts with the next
one: the scheduled warm-up (every 5 minutes) is one. Lambda tells a
function it is about to be shut down (SIGTERM) only where an extension is
registered; where one is (Lambda Insights, any layer with an extension),
the SIGTERM handler writes what is pending. Without one, what an
environment counted in its last minute before being shut down is not
written: about a minute's counts of the environments Lambda retires.

Dimensions: ``FunctionName`` and ``Version`` (the published version that
ran, so a canary's figures stand apart from ``live``'s). Metrics (each a
CloudWatch custom metric per version): the events by outcome, 503 answers,
/track's duration and Redis round trips (milliseconds). The duration of a
minute with more than 100 requests is sent as its 100 percentiles (the
format allows 100 values a metric), so CloudWatch's p99 is exact up to 100
requests per environment-minute and an estimate beyond. Requests, 5xx
answers, Redis errors by kind, WATCH retries and connections opened ride
in the same line as plain fields (no metric charge; CloudWatch Logs
Insights reads them).

Imports only the standard library's ``json``, ``os``, ``signal`` and
``time``, all already on the track path but ``signal`` (0.2 ms).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping

from lamed.core.observe import ERROR_KINDS, Observer

NAMESPACE = "Lamed"
INTERVAL_SECONDS = 60.0
MAX_VALUES = 100  # per metric in one EMF document
MAX_KEPT = 65_536  # durations kept per metric between two lines
DIMENSIONS = ("FunctionName", "Version")
# The function logs in JSON at application level WARN (lamed.deploy.plan's
# LOGGING_CONFIG, so an event that went well writes nothing); Lambda gives a
# line without a "level" INFO and drops it. The metrics line says WARN to be
# kept: a line a minute, not a warning.
LINE_LEVEL = "WARN"
OUTCOME_METRICS = {
    "counted": "EventsCounted",
    "duplicate": "EventsDuplicate",
    "refused": "EventsRefused",
    "not_counted": "EventsNotCounted",
    "invalid": "EventsInvalid",
    "unavailable": "EventsUnavailable",
}
# Declared as metrics: each is a CloudWatch custom metric per version
# ($0.30 a month each while published; docs/deploy.md).
COUNT_METRICS = (*OUTCOME_METRICS.values(), "Unavailable503")
# Plain fields of the line: Lambda's own Invocations and Errors (by
# ExecutedVersion) already count requests and failures at no charge.
PLAIN_COUNTS = ("Requests", "Errors5xx")
DURATION_METRICS = ("TrackDuration", "RedisRoundTrip")  # milliseconds


class CloudWatchMetrics(Observer):
    """One execution environment's counts since its last line."""

    def __init__(
        self,
        function_name: str,
        version: str,
        write: Callable[[str], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.dimensions = {"FunctionName": function_name, "Version": version}
        self.write = write or _print
        self.clock = clock or time.time
        self.last_line = self.clock()
        self._reset()

    def _reset(self) -> None:
        self.counts = dict.fromkeys(COUNT_METRICS + PLAIN_COUNTS, 0)
        self.durations: dict[str, list[float]] = {name: [] for name in DURATION_METRICS}
        self.errors = dict.fromkeys(ERROR_KINDS, 0)
        self.watch_retries = 0
        self.connections_opened = 0

    # -- the core's facts ----------------------------------------------------

    def connection_opened(self) -> None:
        self.connections_opened += 1

    def round_trip(self, seconds: float) -> None:
        _add(self.durations["RedisRoundTrip"], seconds)

    def redis_error(self, kind: str) -> None:
        self.errors[kind] += 1

    def watch_retry(self) -> None:
        self.watch_retries += 1

    def events(self, outcomes: Mapping[str, int]) -> None:
        for outcome, count in outcomes.items():
            self.counts[OUTCOME_METRICS[outcome]] += count

    # -- the handler's -------------------------------------------------------

    def request(self, status: int, seconds: float) -> None:
        """One /track request answered."""
        self.counts["Requests"] += 1
        if status >= 500:
            self.counts["Errors5xx"] += 1
            if status == 503:
                self.counts["Unavailable503"] += 1
        _add(self.durations["TrackDuration"], seconds)

    def invoked(self) -> None:
        """The end of an invocation: a line if a minute has gone since the last."""
        if self.clock() - self.last_line >= INTERVAL_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Writes what is pending (nothing if nothing happened)."""
        now = self.clock()
        pending = any(self.counts.values()) or any(self.errors.values()) or self.connections_opened
        if pending or any(self.durations.values()):
            self.write(json.dumps(self.document(now), separators=(",", ":")))
        self.last_line = now
        self._reset()

    def document(self, now: float) -> dict:
        """The EMF document of the counts so far."""
        metrics = [{"Name": name, "Unit": "Count"} for name in COUNT_METRICS]
        values: dict[str, object] = dict(self.counts)
        for name, durations in self.durations.items():
            if durations:
                metrics.append({"Name": name, "Unit": "Milliseconds"})
                values[name] = _summary(durations)
        return {
            "_aws": {
                "Timestamp": int(now * 1000),
                "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [list(DIMENSIONS)], "Metrics": metrics}],
            },
            "level": LINE_LEVEL,
            **self.dimensions,
            **values,
            "RedisErrors": dict(self.errors),
            "WatchRetries": self.watch_retries,
            "ConnectionsOpened": self.connections_opened,
        }


def _add(values: list[float], seconds: float) -> None:
    """Kept as they come (an append: formatting or bucketing here would
    cost more than the rest of the observer); summarised once a minute. One
    environment answers one request at a time, so a minute holds at most a
    few tens of thousands; past MAX_KEPT every other is dropped, which keeps
    the percentiles."""
    values.append(seconds)
    if len(values) >= MAX_KEPT:
        del values[::2]


def _summary(values: list[float]) -> list[float]:
    """In milliseconds to three significant digits: every value when there
    are at most MAX_VALUES, else the 100 values at the 0.5th, 1.5th, ...
    99.5th percentiles."""
    ordered = sorted(values)
    if len(ordered) > MAX_VALUES:
        ordered = [ordered[int((step + 0.5) * len(ordered) / MAX_VALUES)] for step in range(MAX_VALUES)]
    return [float(f"{seconds * 1000:.3g}") for seconds in ordered]


def _print(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def for_this_environment(context: object) -> CloudWatchMetrics:
    """The environment's metrics, named after the function and version that
    runs (the context's, else Lambda's environment variables)."""
    name = getattr(context, "function_name", None) or os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "lamed")
    version = getattr(context, "function_version", None) or os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    metrics = CloudWatchMetrics(str(name), str(version))
    if os.environ.get("AWS_LAMBDA_RUNTIME_API"):  # on Lambda, not in a test or a local run
        _flush_on_sigterm(metrics)
    return metrics


def _flush_on_sigterm(metrics: CloudWatchMetrics) -> None:
    """Lambda sends SIGTERM before shutting an environment down only where an
    extension is registered; the pending counts are written then."""
    import signal

    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(number: int, frame: object) -> None:
        metrics.flush()
        if callable(previous):
            previous(number, frame)
        else:
            raise SystemExit(0)

    try:
        signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:  # not the main thread (a test's server): no handler
        pass
