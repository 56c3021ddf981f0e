"""The Lambda entry point (``app.handler``): ``/track`` answered without
Chalice or redis-py, everything else by the Chalice app, built on first use.
/track comes as the REST API's events or as the function URL's (payload
format 2.0, read by :mod:`lamed.web.payload`), both answered by one call of
:func:`lamed.web.tracking.track_http`; the function URL serves nothing else.

A cold start on the track path therefore imports only the standard library's
``json``, ``socket`` and ``typing`` besides Lamed's own small modules; the first request
for results, the dashboard or definitions pays for Chalice and redis-py once.
Both paths give the same answers (the Chalice route calls the same
:func:`lamed.web.tracking.track_http`); the tests compare them.
"""

from __future__ import annotations

from collections.abc import Callable

from lamed.core.errors import SettingsError, StoreUnavailable
from lamed.web import runtime
from lamed.web.payload import is_http_v2, plain_request, request_body, v2_response
from lamed.web.replies import error_reply, proxy_response
from lamed.web.tracking import TRACK_METHODS, TRACK_PATH, track_http

WARMUP_KEY = "lamed-warmup"
# The scheduled notification check (lamed.web.notify): ``{"lamed-notify": true}``.
NOTIFY_KEY = "lamed-notify"
NOTIFY_EVENT = {NOTIFY_KEY: True}
# A direct invocation (`lamed deploy`, `lamed status`) asking how Redis looks
# from where the function runs: ``{"lamed-health": true}``.
HEALTH_KEY = "lamed-health"
NOT_ON_FUNCTION_URL = "not found: the function URL serves /track (and the extra track paths) only"
# Chalice's own answer to an unexpected exception, kept for the fast path.
INTERNAL_ERROR = {
    "headers": {"Content-Type": "application/json"},
    "multiValueHeaders": {},
    "statusCode": 500,
    "body": '{"Code":"InternalServerError","Message":"An internal server error occurred."}',
}


def is_warmup(event: object) -> bool:
    """The scheduled keep-warm invocation: ``{"lamed-warmup": true}``."""
    return isinstance(event, dict) and event.get(WARMUP_KEY) is True


def warm_answer() -> dict:
    """The warm-up's answer. Where a request has opened the Redis connection,
    a PING on it keeps its flow alive (a NAT gateway forgets a flow idle for
    350 s; the warm-up comes every 5 minutes) and replaces it if it was
    dropped meanwhile, so the next visitor's event does not pay for that."""
    kept = runtime.kept_tracker()
    if kept is None:
        return {"warm": True}
    try:
        kept.ping()
    except StoreUnavailable:
        return {"warm": True, "redis": "unavailable"}
    return {"warm": True, "redis": "ok"}


def is_health_check(event: object) -> bool:
    return isinstance(event, dict) and event.get(HEALTH_KEY) is True


def health_answer() -> dict:
    """``{"lamed-health": report}``, the report of :func:`lamed.core.health.check_redis`."""
    from lamed.core.health import check_redis, config_failure

    try:
        settings = runtime.settings()
    except SettingsError as error:
        return {HEALTH_KEY: config_failure(str(error))}
    return {HEALTH_KEY: check_redis(settings)}


def resource_path_for(path: str) -> str:
    """Extra track paths (``track_paths`` setting) are served by /track."""
    try:
        extra_paths = runtime.settings().track_paths
    except SettingsError:
        return path  # the route itself answers 503 "server misconfigured"
    return TRACK_PATH if path in extra_paths else path


def make_handler(chalice_app: Callable[[], Callable]) -> Callable:
    """A Lambda handler; ``chalice_app()`` gives the app for other routes."""

    def handler(event: object, context: object) -> object:
        if is_warmup(event):
            return warm_answer()
        if is_health_check(event):
            return health_answer()
        if isinstance(event, dict) and event.get(NOTIFY_KEY) is True:
            from lamed.web.notify import scheduled_notify  # the dashboard and redis-py: never on the track path

            return scheduled_notify(context)
        if is_http_v2(event):
            return v2_response(function_url_answer(event))
        request_context = event.get("requestContext") if isinstance(event, dict) else None
        if request_context and request_context.get("resourcePath"):
            request_context["resourcePath"] = resource_path_for(request_context["resourcePath"])
            method = request_context.get("httpMethod")
            if request_context["resourcePath"] == TRACK_PATH and method in TRACK_METHODS:
                return track_event(method, event)
        return chalice_app()(event, context)

    return handler


def function_url_answer(event: dict) -> dict:
    """A payload format 2.0 event (the function URL): /track and the extra
    track paths only. Everything else lives on the REST API, behind its key."""
    try:
        request = plain_request(event)
        if resource_path_for(request.path) != TRACK_PATH or request.method not in TRACK_METHODS:
            return proxy_response(error_reply(NOT_ON_FUNCTION_URL, 404, "path"))
        return proxy_response(track_http(request.method, request.query, request.headers, request.body))
    except Exception:
        return internal_error()


def track_event(method: str, event: dict) -> dict:
    """/track from an API Gateway proxy event to its proxy response."""
    try:
        query = {name: values[-1] for name, values in (event.get("multiValueQueryStringParameters") or {}).items()}
        return proxy_response(track_http(method, query, event.get("headers") or {}, request_body(event)))
    except Exception:
        return internal_error()


def internal_error() -> dict:
    import logging  # only on a bug: 7 ms of import nobody else should pay

    logging.getLogger("lamed").exception("unexpected error on /track")
    return dict(INTERNAL_ERROR)


def _default_app() -> Callable:
    from lamed.web.application import create_app  # Chalice and redis-py: the first other request

    return create_app()


def with_cloudwatch_metrics(inner: Callable) -> Callable:
    """``inner`` reporting to the environment's CloudWatch metrics
    (:mod:`lamed.web.emf`; the ``cloudwatch_metrics`` setting): /track's
    status and duration per request, a line at most once a minute. A 503's
    cause is logged where it is answered (:func:`lamed.web.replies.reply_for`)."""
    from time import perf_counter

    from lamed.core import observe
    from lamed.web import emf

    metrics: list = []  # the environment's CloudWatchMetrics, or None when off

    def handler(event: object, context: object) -> object:
        if not metrics:
            metrics.append(emf.for_this_environment(context) if _metrics_wanted() else None)
            if metrics[0] is not None:
                observe.install(metrics[0])
        recorder = metrics[0]
        if recorder is None:
            return inner(event, context)
        started = perf_counter()
        response = inner(event, context)
        if _is_track(event) and isinstance(response, dict):
            recorder.request(int(response.get("statusCode") or 500), perf_counter() - started)
        recorder.invoked()
        return response

    return handler


def _metrics_wanted() -> bool:
    try:
        return runtime.settings().cloudwatch_metrics
    except SettingsError:
        return True  # its 503s are worth counting


def _is_track(event: object) -> bool:
    """A /track request (the handler has mapped extra track paths to it);
    the function URL serves nothing else."""
    if is_http_v2(event):
        return True
    context = event.get("requestContext") if isinstance(event, dict) else None
    return isinstance(context, dict) and context.get("resourcePath") == TRACK_PATH


handler = with_cloudwatch_metrics(make_handler(_default_app))
