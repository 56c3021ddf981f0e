"""The Lambda entry point (``app.handler``): ``/track`` answered without
Chalice or redis-py, everything else by the Chalice app, built on first use.

A cold start on the track path therefore imports only the standard library's
``json``, ``socket`` and ``typing`` besides Lamed's own small modules; the first request
for results, the dashboard or definitions pays for Chalice and redis-py once.
Both paths give the same answers (the Chalice route calls the same
:func:`lamed.web.tracking.track_http`); the tests compare them.
"""

from __future__ import annotations

from collections.abc import Callable

from lamed.core.errors import SettingsError
from lamed.web import runtime
from lamed.web.replies import proxy_response
from lamed.web.tracking import TRACK_METHODS, TRACK_PATH, track_http

WARMUP_KEY = "lamed-warmup"
# A direct invocation (`lamed deploy`, `lamed status`) asking how Redis looks
# from where the function runs: ``{"lamed-health": true}``.
HEALTH_KEY = "lamed-health"
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
            return {"warm": True}
        if is_health_check(event):
            return health_answer()
        request_context = event.get("requestContext") if isinstance(event, dict) else None
        if request_context and request_context.get("resourcePath"):
            request_context["resourcePath"] = resource_path_for(request_context["resourcePath"])
            method = request_context.get("httpMethod")
            if request_context["resourcePath"] == TRACK_PATH and method in TRACK_METHODS:
                return track_event(method, event)
        return chalice_app()(event, context)

    return handler


def track_event(method: str, event: dict) -> dict:
    """/track from an API Gateway proxy event to its proxy response."""
    try:
        query = {name: values[-1] for name, values in (event.get("multiValueQueryStringParameters") or {}).items()}
        return proxy_response(track_http(method, query, event.get("headers") or {}, _body(event)))
    except Exception:
        import logging  # only on a bug: 7 ms of import nobody else should pay

        logging.getLogger("lamed").exception("unexpected error on /track")
        return dict(INTERNAL_ERROR)


def _body(event: dict) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        import base64  # API Gateway encodes only binary media types

        return base64.b64decode(body)
    return body.encode("utf-8", "surrogatepass")  # a lone surrogate is then invalid UTF-8: a 400


def _default_app() -> Callable:
    from lamed.web.application import create_app  # Chalice and redis-py: the first other request

    return create_app()


handler = make_handler(_default_app)
