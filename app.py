"""Chalice entry point. ``app.handler`` is the Lambda handler: /track without
Chalice, the rest through the Chalice app ``app.app``, which is built when
first asked for (by the handler, ``chalice local`` or ``from app import app``),
so a cold start on the track path does not import Chalice or redis-py."""

from lamed.web.lambda_handler import handler

__all__ = ["handler"]  # and "app", built by __getattr__


def __getattr__(name: str):
    if name == "app":
        from lamed.web.application import create_app

        return create_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
