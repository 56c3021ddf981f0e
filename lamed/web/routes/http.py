"""Response shapes and error mapping shared by the blueprints."""

from __future__ import annotations

import functools
import hmac
import logging
from typing import Any, Callable, Mapping, Optional

from chalice import Blueprint, Response

from lamed.core.errors import SettingsError
from lamed.web import runtime
from lamed.web.replies import (  # noqa: F401  (NO_STORE and PUBLIC_CORS: the routes' vocabulary)
    ANSWERED_ERRORS,
    NO_STORE,
    PUBLIC_CORS,
    Reply,
    error_reply,
    json_reply,
    reply_for,
)

log = logging.getLogger("lamed")


def to_response(reply: Reply) -> Response:
    return Response(body=reply.body, status_code=reply.status, headers=reply.headers)


def json_response(body: Any, status: int = 200, headers: Optional[Mapping[str, str]] = None) -> Response:
    return to_response(json_reply(body, status, headers))


def error_response(message: str, status: int, field: Optional[str] = None, headers=None) -> Response:
    return to_response(error_reply(message, status, field, headers))


def handles_errors(headers: Optional[Mapping[str, str]] = None) -> Callable:
    """Maps core exceptions to HTTP (see lamed.web.replies.reply_for): bad input
    400, Redis trouble 503 (the client retries), bad server config 503."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            try:
                return view(*args, **kwargs)
            except ANSWERED_ERRORS as error:
                return to_response(reply_for(error, headers))

        return wrapper

    return decorate


def api_key_problem(request_headers: Mapping[str, str]) -> Optional[Response]:
    """None when the request carries the configured API key, else a 401/403."""
    return key_problem(request_headers.get("x-api-key"))


def key_problem(given: Optional[str]) -> Optional[Response]:
    """None when ``given`` is the configured API key, else a 401/403 whose
    body says why. Compared in constant time; the key is never logged."""
    try:
        expected = runtime.settings().api_key
    except SettingsError as error:
        log.error("invalid configuration: %s", error)
        return error_response("server misconfigured", 503)
    if not expected:
        return error_response("no API key is configured on this server", 403, "x-api-key")
    if not given:
        return error_response("missing API key: send it in the x-api-key header", 401, "x-api-key")
    if not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
        return error_response("wrong API key", 403, "x-api-key")
    return None


def requires_api_key(blueprint: Blueprint) -> Callable:
    """Refuses the request unless it carries the API key (see api_key_problem)."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            problem = api_key_problem(blueprint.current_request.headers)
            return problem or view(*args, **kwargs)

        wrapper.requires_api_key = True  # onto the route by create_app (mark_api_key_routes); wraps carries it out
        return wrapper

    return decorate
