"""Prometheus metrics for ``lamed serve``: prometheus_client in multiprocess
mode, so the counts of every gunicorn worker add up.

``lamed serve`` makes a directory for the run, names it in
``PROMETHEUS_MULTIPROC_DIR`` before this module is imported (prometheus_client
reads it at import), and removes it when the server stops: counters start at
zero with each run, as a restarted process's do. Each worker writes its
values to memory-mapped files there; :func:`exposition` adds them up.

Every label comes from a fixed set: outcomes (:data:`lamed.web.tracking.OUTCOMES`),
error kinds (:data:`lamed.core.observe.ERROR_KINDS`), the app's route
templates (never a path a client typed: anything else is ``other``) and
status classes. All their combinations are created at start, so a series
exists (at 0) before its first event and a rate over it is defined.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from lamed.core.observe import ERROR_KINDS, Observer
from lamed.web.observed import MULTIPROC_ENV
from lamed.web.tracking import OUTCOMES

STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")
OTHER_ROUTE = "other"
# Request durations: /track takes about a millisecond; a Redis timeout a second.
REQUEST_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
ROUND_TRIP_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 1.0, 2.5)


def status_class(status: int) -> str:
    return f"{min(max(status // 100, 2), 5)}xx"


class PrometheusObserver(Observer):
    """The core's observer (:mod:`lamed.core.observe`) and the request
    metrics of the WSGI shell (:mod:`lamed.web.observed`), in one process's
    prometheus_client values. They are registered nowhere: the exposition
    reads the files of every process (:func:`exposition`).

    Needs MULTIPROC_ENV set: without it, each worker would count alone."""

    def __init__(self, routes: Iterable[str]) -> None:
        if not os.environ.get(MULTIPROC_ENV):
            raise RuntimeError(f"{MULTIPROC_ENV} must name the run's metrics directory (lamed serve sets it)")
        self.routes = frozenset(routes) | {OTHER_ROUTE}
        self.events_total = Counter("lamed_events", "Events by outcome.", ["outcome"], registry=None)
        self.requests_total = Counter(
            "lamed_requests", "HTTP requests by route and status class.", ["route", "status"], registry=None
        )
        self.request_seconds = Histogram(
            "lamed_request_duration_seconds",
            "HTTP request duration by route.",
            ["route"],
            buckets=REQUEST_BUCKETS,
            registry=None,
        )
        self.round_trip_seconds = Histogram(
            "lamed_redis_round_trip_seconds",
            "One request to Redis and its replies.",
            buckets=ROUND_TRIP_BUCKETS,
            registry=None,
        )
        self.redis_errors_total = Counter("lamed_redis_errors", "Redis failures by kind.", ["kind"], registry=None)
        self.watch_retries_total = Counter(
            "lamed_watch_retries", "Transactions started again: another writer set a watched flag.", registry=None
        )
        self.connections_total = Counter(
            "lamed_redis_connections_opened", "Connections opened to Redis.", registry=None
        )
        self._outcomes = {outcome: self.events_total.labels(outcome) for outcome in OUTCOMES}
        self._errors = {kind: self.redis_errors_total.labels(kind) for kind in ERROR_KINDS}
        for route in self.routes:
            self.request_seconds.labels(route)
            for status in STATUS_CLASSES:
                self.requests_total.labels(route, status)

    # -- the core's facts ----------------------------------------------------

    def connection_opened(self) -> None:
        self.connections_total.inc()

    def round_trip(self, seconds: float) -> None:
        self.round_trip_seconds.observe(seconds)

    def redis_error(self, kind: str) -> None:
        self._errors[kind].inc()

    def watch_retry(self) -> None:
        self.watch_retries_total.inc()

    def events(self, outcomes: Mapping[str, int]) -> None:
        for outcome, count in outcomes.items():
            if count:
                self._outcomes[outcome].inc(count)

    # -- the shell's --------------------------------------------------------

    def request(self, route: str, status: int, seconds: float) -> None:
        route = route if route in self.routes else OTHER_ROUTE
        self.requests_total.labels(route, status_class(status)).inc()
        self.request_seconds.labels(route).observe(seconds)


def exposition() -> tuple[bytes, str]:
    """The text format of every process's values (the run's directory), and its content type."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry), CONTENT_TYPE_LATEST


def process_exited(pid: int) -> None:
    """A worker's gauges die with it (its counters stay, as they should)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)


def metrics_app(environ: dict, start_response) -> list[bytes]:  # type: ignore[no-untyped-def]
    """The WSGI app of ``--metrics-port``: ``/metrics`` and nothing else."""
    if environ.get("PATH_INFO", "/") not in ("/metrics", "/"):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: /metrics\n"]
    body, content_type = exposition()
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


def serve_metrics(host: str, port: int) -> int:
    """``/metrics`` of every worker on ``host:port`` (a thread of this
    process, the gunicorn master or the single server); the port it got."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class _Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # a scrape is no news
            pass

    server = make_server(host, port, metrics_app, handler_class=_Quiet)
    import threading

    threading.Thread(target=server.serve_forever, name="lamed-metrics", daemon=True).start()
    return int(server.server_port)
