"""The Chalice application object (the Lambda entry point that serves it is
:mod:`lamed.web.lambda_handler`)."""

from __future__ import annotations

import functools
import threading
from typing import Any

from chalice import Chalice

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
