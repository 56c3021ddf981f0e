"""The Chalice application object (the Lambda entry point that serves it is
:mod:`lamed.web.lambda_handler`)."""

from __future__ import annotations

import functools
import threading
from typing import Any

from chalice import Chalice, Response

from lamed.web.replies import security_headers
from lamed.web.routes import register_all


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

    def __init__(self, app_name: str, configure_logs: bool = True) -> None:
        self._per_thread = threading.local()
        super().__init__(app_name=app_name, configure_logs=configure_logs)


@functools.cache
def create_app() -> LamedChalice:
    """The process's one app. Cached: Lamed's blueprints are module-level
    objects that Chalice can bind to one app only."""
    # configure_logs=False: Chalice would give the "lamed" logger a plain-text
    # stdout handler at ERROR, which Lambda's JSON log format reads as INFO
    # and drops at level WARN; Lamed's errors go through the runtime's handler.
    app = LamedChalice(app_name="lamed", configure_logs=False)
    register_all(app)
    mark_api_key_routes(app)
    app.register_middleware(_secured, "http")
    return app


def mark_api_key_routes(app: Chalice) -> None:
    """ "Needs the API key" as data on each route, in Chalice's own field
    (``RouteEntry.api_key_required``), from the ``requires_api_key`` check
    its view carries: what OpenAPI documents and ``lamed deploy`` puts
    behind API Gateway's key."""
    for methods in app.routes.values():
        for entry in methods.values():
            entry.api_key_required = bool(getattr(entry.view_function, "requires_api_key", False))


def _secured(event: Any, get_response: Any) -> Response:
    """Every answer of a route carries the security headers."""
    response = get_response(event)
    response.headers = {**security_headers(event.headers), **(response.headers or {})}
    return response
