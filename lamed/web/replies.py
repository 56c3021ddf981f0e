"""HTTP replies as plain data, and how core exceptions become replies.

Shared by the Chalice routes (:mod:`lamed.web.routes.http` turns a reply into a
``chalice.Response``) and the Lambda track path (:mod:`lamed.web.lambda_handler`
turns it into an API Gateway proxy response), which must not import Chalice.
"""

from __future__ import annotations

import json
from collections import namedtuple
from collections.abc import Mapping

from lamed.core.errors import Contention, InvalidInput, SettingsError, StoreUnavailable

NO_STORE = "no-cache, no-store, must-revalidate"
PUBLIC_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
}
RETRY = {"Retry-After": "1"}
# What the core raises and a reply answers; anything else is a bug (a 500).
ANSWERED_ERRORS = (InvalidInput, StoreUnavailable, SettingsError)

# status: int; body: a JSON-able value, or a str sent as it is; headers: dict
Reply = namedtuple("Reply", "status body headers")


def json_reply(body: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
    merged = {"Content-Type": "application/json", "Cache-Control": NO_STORE}
    merged.update(headers or {})
    return Reply(status, body, merged)


def error_reply(message: str, status: int, field: str | None = None, headers: Mapping | None = None) -> Reply:
    return json_reply({"error": message, "field": field}, status, headers)


def reply_for(error: Exception, headers: Mapping[str, str] | None = None) -> Reply:
    """Bad input 400, Redis trouble 503 (the client retries), bad server
    config 503 with the reason logged. ``error`` is one of ANSWERED_ERRORS."""
    headers = headers or {}
    if isinstance(error, InvalidInput):
        return json_reply(error.to_dict(), 400, headers)
    if isinstance(error, Contention):
        return error_reply("too many concurrent writers, retry", 503, None, {**headers, **RETRY})
    if isinstance(error, StoreUnavailable):
        _log().warning("store unavailable: %s", error)
        return error_reply("storage unavailable, retry", 503, None, {**headers, **RETRY})
    if isinstance(error, SettingsError):
        _log().error("invalid configuration: %s", error)
        return error_reply("server misconfigured", 503, None, headers)
    raise TypeError(f"no reply for {type(error).__name__}") from error


# json.dumps with these separators would build an encoder per call (a
# quarter of encoding a batch's answer); replies hold no cycles to check for.
_ENCODE = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def proxy_response(reply: Reply) -> dict:
    """The API Gateway proxy response, exactly as ``chalice.Response.to_dict``
    writes it for these replies (string headers, JSON or text body)."""
    body = reply.body if isinstance(reply.body, str) else _ENCODE(reply.body)
    return {"headers": dict(reply.headers), "multiValueHeaders": {}, "statusCode": reply.status, "body": body}


def _log():
    import logging  # 7 ms at import: only once something goes wrong

    return logging.getLogger("lamed")
