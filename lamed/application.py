"""The Chalice application object and the Lambda entry point."""

from __future__ import annotations

import functools
import threading
from typing import Any

from chalice import Chalice

from lamed import runtime
from lamed.routes import register_all
from lamed.routes.tracking import TRACK_PATH, track_query
from lamed.settings import SettingsError

WARMUP_KEY = "lamed-warmup"


class _PerThread:
    """A data descriptor that keeps an attribute per thread.

    Chalice stores the current request on the app object; Lambda runs one
    request per process, but ``lamed serve`` runs requests on threads, so the
    attribute must not be shared between them."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type) -> Any:
        if instance is None:
            return self
        return getattr(instance._per_thread, self.name, None)

    def __set__(self, instance: Any, value: Any) -> None:
        instance._per_thread.__dict__[self.name] = value


class LamedChalice(Chalice):
    current_request = _PerThread()
    lambda_context = _PerThread()

    def __init__(self, app_name: str) -> None:
        self._per_thread = threading.local()
        super().__init__(app_name=app_name)


@functools.cache
def create_app() -> LamedChalice:
    """The process's one app. Cached: Lamed's blueprints are module-level
    objects that Chalice can bind to one app only."""
    app = LamedChalice(app_name="lamed")
    register_all(app)
    return app


def is_warmup(event: Any) -> bool:
    """The scheduled keep-warm invocation: ``{"lamed-warmup": true}``."""
    return isinstance(event, dict) and event.get(WARMUP_KEY) is True


def resource_path_for(path: str) -> str:
    """Extra track paths (``track_paths`` setting) are served by /track."""
    try:
        extra_paths = runtime.settings().track_paths
    except SettingsError:
        return path  # the route itself answers 503 "server misconfigured"
    return TRACK_PATH if path in extra_paths else path


def make_handler(app: Chalice):
    """The Lambda handler: warm-ups are answered at once, without Redis."""

    def handler(event: Any, context: Any) -> Any:
        if is_warmup(event):
            return {"warm": True}
        request_context = event.get("requestContext") if isinstance(event, dict) else None
        if request_context and request_context.get("resourcePath"):
            request_context["resourcePath"] = resource_path_for(request_context["resourcePath"])
            if request_context["resourcePath"] == TRACK_PATH and request_context.get("httpMethod") == "GET":
                return _track_get(app, event, context)
        return app(event, context)

    return handler


def _track_get(app: Chalice, event: dict, context: Any) -> dict:
    """GET /track, the hot path, without Chalice's per-request machinery
    (request object, route and content-type checks): the same view and the
    same response for a third less CPU. Anything unexpected goes through
    Chalice instead, for its usual error response; tracking an event twice
    is safe (the second is a duplicate)."""
    query = event.get("multiValueQueryStringParameters") or {}
    try:
        response = track_query({name: values[-1] for name, values in query.items()})
        return response.to_dict(app.api.binary_types)
    except Exception:
        return app(event, context)
