"""Response shapes and error mapping shared by the blueprints."""

from __future__ import annotations

import functools
import hmac
import logging
from typing import Any, Callable, Mapping, Optional

from chalice import Blueprint, Response

from lamed import runtime
from lamed.events import InvalidInput
from lamed.settings import SettingsError
from lamed.store import Contention, StoreUnavailable

log = logging.getLogger("lamed")

NO_STORE = "no-cache, no-store, must-revalidate"
PUBLIC_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
}


def json_response(body: Any, status: int = 200, headers: Optional[Mapping[str, str]] = None) -> Response:
    merged = {"Content-Type": "application/json", "Cache-Control": NO_STORE}
    merged.update(headers or {})
    return Response(body=body, status_code=status, headers=merged)


def error_response(message: str, status: int, field: Optional[str] = None, headers=None) -> Response:
    return json_response({"error": message, "field": field}, status, headers)


def handles_errors(headers: Optional[Mapping[str, str]] = None) -> Callable:
    """Maps core exceptions to HTTP: bad input 400, Redis trouble 503 (the
    client retries), bad server config 503 with the reason."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            try:
                return view(*args, **kwargs)
            except InvalidInput as error:
                return json_response(error.to_dict(), 400, headers)
            except Contention:
                return error_response(
                    "too many concurrent writers, retry", 503, None, {**(headers or {}), "Retry-After": "1"}
                )
            except StoreUnavailable as error:
                log.warning("store unavailable: %s", error)
                return error_response("storage unavailable, retry", 503, None, {**(headers or {}), "Retry-After": "1"})
            except SettingsError as error:
                log.error("invalid configuration: %s", error)
                return error_response("server misconfigured", 503, None, headers)

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

        wrapper.requires_api_key = True  # read by lamed.openapi; functools.wraps carries it outwards
        return wrapper

    return decorate
