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
# On every answer: no browser guesses a type other than the one sent.
NOSNIFF = {"X-Content-Type-Options": "nosniff"}
# Over https only (a browser ignores it over http): this host is https-only for a year.
HSTS = {"Strict-Transport-Security": "max-age=31536000"}
# What the core raises and a reply answers; anything else is a bug (a 500).
ANSWERED_ERRORS = (InvalidInput, StoreUnavailable, SettingsError)

# status: int; body: a JSON-able value, or a str sent as it is; headers: dict
Reply = namedtuple("Reply", "status body headers")


def security_headers(request_headers: Mapping[str, str]) -> dict[str, str]:
    """The headers every answer carries: NOSNIFF, and HSTS when the request
    came over https (``X-Forwarded-Proto`` from API Gateway or the proxy in
    front of ``lamed serve``). ``request_headers`` with lower-case names."""
    if (request_headers.get("x-forwarded-proto") or "").lower() == "https":
        return {**NOSNIFF, **HSTS}
    return dict(NOSNIFF)


def json_reply(body: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
    merged = {"Content-Type": "application/json", "Cache-Control": NO_STORE, **NOSNIFF}
    merged.update(headers or {})
    return Reply(status, body, merged)


def error_reply(message: str, status: int, field: str | None = None, headers: Mapping | None = None) -> Reply:
    return json_reply({"error": message, "field": field}, status, headers)


def same_origin_path(path: str | None, limit: int) -> str | None:
    """``path`` if a browser sent to it stays on this origin, else None: it
    starts with one ``/`` and holds no control character, before or after
    percent-decoding (a browser drops tabs and newlines, then reads ``/\\``
    as ``//``, another host). At most ``limit`` characters."""
    if not path or len(path) > limit or not path.startswith("/"):
        return None
    from urllib.parse import unquote  # redirects only: not on the track path

    for form in (path, unquote(path, errors="replace")):
        if form.startswith(("//", "/\\")) or any(ord(c) < 0x20 or ord(c) == 0x7F for c in form):
            return None
    return path


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
