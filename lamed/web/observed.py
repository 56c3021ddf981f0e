"""What ``lamed serve`` tells its operator about each request: one JSON log
line, and the request metrics (:mod:`lamed.web.prometheus`).

:class:`ObservedApp` wraps the WSGI app. Per request it notes the route
(the app's template, e.g. ``/experiments/{name}``, set by the adapter;
``other`` for anything else, so no label or log field holds a path a client
typed), the status, the duration, the events by outcome that the track
route reported (:data:`lamed.core.observe.watching`), and a request id (the
client's ``X-Request-Id`` when it is a short token, else a fresh one; sent
back in the answer's ``X-Request-Id``). The line never holds an event's
uuid, a name from the event, the query, the API key or a cookie: only the
fields above, and for a 5xx the error the answer gave (its cause).

``/metrics`` on the public port answers only with the API key
(``X-API-Key``), never anonymously; ``--metrics-port`` serves it on
loopback without one (:func:`lamed.web.prometheus.metrics_app`).
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Optional

from lamed.core import observe
from lamed.core.observe import Observer

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client when it is imported
ROUTE_KEY = "lamed.route"  # the environ entry where the adapter names the matched route
METRICS_PATH = "/metrics"
REQUEST_ID_HEADER = "X-Request-Id"
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_CAUSE_CHARS = 300
LOGGER = "lamed.request"


class _Tally(threading.local):
    outcomes: Optional[Counter] = None
    cause: Optional[str] = None


class TallyingObserver(Observer):
    """Passes every fact on to ``inner`` and keeps the current request's
    outcomes (one request per thread at a time) for its log line."""

    def __init__(self, inner: Observer) -> None:
        self.inner = inner
        self.tally = _Tally()

    def connection_opened(self) -> None:
        self.inner.connection_opened()

    def round_trip(self, seconds: float) -> None:
        self.inner.round_trip(seconds)

    def redis_error(self, kind: str) -> None:
        self.inner.redis_error(kind)

    def watch_retry(self) -> None:
        self.inner.watch_retry()

    def events(self, outcomes: Mapping[str, int]) -> None:
        self.inner.events(outcomes)
        if self.tally.outcomes is None:
            self.tally.outcomes = Counter()
        self.tally.outcomes.update(outcomes)

    def unavailable(self, cause: str) -> None:
        self.inner.unavailable(cause)
        self.tally.cause = cause

    def take(self) -> tuple[Optional[dict], Optional[str]]:
        """The current request's outcomes and the cause of its 503, if any."""
        outcomes, cause = self.tally.outcomes, self.tally.cause
        self.tally.outcomes = self.tally.cause = None
        return ({name: count for name, count in outcomes.items() if count} if outcomes else None), cause


class ObservedApp:
    """``app`` with a log line and request metrics per request (see the module's doc).

    ``metrics`` is the PrometheusObserver (None: no metrics, logs only);
    ``api_key`` opens ``/metrics`` on this port."""

    def __init__(self, app: Callable, metrics: Any = None, api_key: Optional[str] = None) -> None:
        self.app = app
        self.metrics = metrics
        self.api_key = api_key
        self.observer = TallyingObserver(metrics if metrics is not None else Observer())
        observe.install(self.observer)
        self.log = logging.getLogger(LOGGER)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = time.perf_counter()
        request_id = _request_id(environ)
        if environ.get("PATH_INFO") == METRICS_PATH and self.metrics is not None:
            environ[ROUTE_KEY] = METRICS_PATH
            status, headers, body = self._metrics(environ)
        else:
            self.observer.take()  # nothing left from a request that failed before its line
            status, headers, body = _collect(self.app, environ)
        headers.append((REQUEST_ID_HEADER, request_id))
        start_response(status, headers)
        code = int(status.split(" ", 1)[0])
        seconds = time.perf_counter() - started
        route = environ.get(ROUTE_KEY) or "other"
        if self.metrics is not None:
            self.metrics.request(route, code, seconds)
        self._log_line(environ, route, code, seconds, request_id, body)
        return body

    def _metrics(self, environ: dict) -> tuple[str, list, list[bytes]]:
        given = environ.get("HTTP_X_API_KEY", "")
        if not self.api_key or not hmac.compare_digest(given.encode("utf-8", "replace"), self.api_key.encode()):
            body = json.dumps({"error": "/metrics needs the API key (X-API-Key)", "field": "x-api-key"}).encode()
            headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            return "401 Unauthorized", headers, [body]
        from lamed.web.prometheus import exposition

        text, content_type = exposition()
        return "200 OK", [("Content-Type", content_type), ("Content-Length", str(len(text)))], [text]

    def _log_line(
        self, environ: dict, route: str, status: int, seconds: float, request_id: str, body: list[bytes]
    ) -> None:
        level = logging.ERROR if status >= 500 else logging.INFO
        outcomes, cause = self.observer.take()
        if not self.log.isEnabledFor(level):
            return
        line: dict[str, Any] = {
            "time": _utc(time.time()),
            "level": logging.getLevelName(level).lower(),
            "request_id": request_id,
            "method": environ.get("REQUEST_METHOD", ""),
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
        }
        if outcomes:
            line["events"] = outcomes
        if status >= 500:
            line["cause"] = cause or _cause(body)
        self.log.log(level, json.dumps(line, ensure_ascii=False))


def _collect(app: Callable, environ: dict) -> tuple[str, list, list[bytes]]:
    """Runs ``app`` and keeps its answer: the adapter answers in one piece."""
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list, exc_info: Any = None) -> Callable:
        answer["status"], answer["headers"] = status, list(headers)
        return lambda data: None

    chunks = app(environ, start_response)
    try:
        body = [b"".join(chunks)]
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return answer["status"], answer["headers"], body


def _request_id(environ: dict) -> str:
    given = environ.get("HTTP_X_REQUEST_ID", "")
    return given if _CLIENT_REQUEST_ID.fullmatch(given) else secrets.token_hex(8)


def _cause(body: list[bytes]) -> str:
    """A 5xx answer's error message (Redis's, or Lamed's "server misconfigured")."""
    try:
        answer = json.loads(b"".join(body))
        error = answer.get("error") or answer.get("Message")  # Chalice's own 500 says "Message"
    except (ValueError, AttributeError):
        error = None
    return str(error or "unknown")[:_CAUSE_CHARS]


def _utc(now: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


class JsonLines(logging.Formatter):
    """One JSON object per line: the request lines as they are, any other
    record (an unexpected error and its traceback) as time, level, logger,
    message and cause."""

    def format(self, record: logging.LogRecord) -> str:
        if record.name == LOGGER:
            return record.getMessage()
        line = {
            "time": _utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["cause"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: str) -> None:
    """Lamed's log lines on stderr at ``level``, one JSON object each."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines())
    lamed = logging.getLogger("lamed")
    lamed.handlers[:] = [handler]
    lamed.setLevel(level.upper())
    lamed.propagate = False


def observed_application(api_key: Optional[str], log_level: str, wsgi_app: Optional[Callable] = None) -> ObservedApp:
    """The app of ``lamed serve`` (``wsgi_app``, default the process's) with
    logs and Prometheus metrics (where MULTIPROC_ENV names the run's directory)."""
    from lamed.web.wsgi import application

    app = wsgi_app or application()
    configure_logging(log_level)
    if not os.environ.get(MULTIPROC_ENV):  # an app served in process by a test: logs only
        return ObservedApp(app)
    from lamed.web.prometheus import PrometheusObserver  # after MULTIPROC_ENV is set: prometheus_client reads it

    routes = [*getattr(app, "resources", ()), METRICS_PATH]
    return ObservedApp(app, PrometheusObserver(routes), api_key)
