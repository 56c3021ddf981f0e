"""WSGI adapter: serves the Chalice app outside Lambda (``lamed serve``).

Each HTTP request becomes the API Gateway proxy event Lambda would get and
goes to the Lambda handler, so the self-hosted server runs the code that
runs on Lambda. What the adapter decides itself is HTTP, read from the
request's undecoded bytes so any WSGI server gives the same answer:
the path and query are UTF-8 (anything else is a 400), ``HEAD`` is ``GET``
without the body, a trailing slash is one redirect on this origin, and a
body arrives whole, chunked or not.
"""

from __future__ import annotations

import base64
from http import HTTPStatus
from typing import Callable, Iterable, Optional
from urllib.parse import quote, unquote_to_bytes

from chalice import Chalice

from lamed.core.errors import InvalidInput
from lamed.core.events import MAX_BODY_BYTES
from lamed.web.gateway import match_route, proxy_event
from lamed.web.lambda_handler import make_handler, resource_path_for
from lamed.web.observed import ROUTE_KEY
from lamed.web.replies import (
    NOSNIFF,
    Reply,
    error_reply,
    proxy_response,
    reply_for,
    same_origin_path,
    security_headers,
)
from lamed.web.tracking import query_parameters

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade"}
MAX_PATH_CHARS = 8192
NOT_FOUND = ("no such route", 404, "path")


class WSGIAdapter:
    def __init__(self, app: Chalice) -> None:
        self.handler = make_handler(lambda: app)  # /track as on Lambda: without Chalice
        self.resources = list(app.routes)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"].upper()
        headers = _headers(environ)
        try:
            segments = _path_segments(environ)
            query = _query(environ)
        except InvalidInput as error:
            return _send(reply_for(error), headers, start_response, method)
        path = "/" + "/".join(segments)
        if len(segments) > 1 and segments[-1] == "":
            return _send(self._without_slash(segments, environ), headers, start_response, method)
        resource = resource_path_for(path)
        matched = match_route(self.resources, resource.strip("/").split("/") if resource != path else segments)
        if matched is None:
            return _send(error_reply(*NOT_FOUND), headers, start_response, method)
        environ[ROUTE_KEY] = matched[0]  # a template of the app's, for logs and metrics
        event = proxy_event(
            "GET" if method == "HEAD" else method,
            matched[0],
            path,
            query=query,
            headers=headers,
            path_params=matched[1],
            body=_read_body(environ),
            stage="local",
            source_ip=environ.get("REMOTE_ADDR", ""),
        )
        return _respond(self.handler(event, None), start_response, method)

    def _without_slash(self, segments: list[str], environ: dict) -> Reply:
        """``/dashboard/`` -> 308 ``/dashboard``: one URL per page, so relative
        links resolve the same way here and behind API Gateway. Only to a
        route of this app, only on this origin; else 404."""
        while len(segments) > 1 and segments[-1] == "":
            segments = segments[:-1]
        query = environ.get("QUERY_STRING", "")
        path = "/" + "/".join(quote(segment, safe="") for segment in segments)  # %2F stays inside its segment
        location = path + (f"?{query}" if query else "")
        if match_route(self.resources, segments) is None or same_origin_path(location, MAX_PATH_CHARS) is None:
            return error_reply(*NOT_FOUND)
        return Reply(308, "", {"Location": location})


def _path_segments(environ: dict) -> list[str]:
    """The path's segments, percent-decoded one by one (so ``%2F`` inside
    a name is not a separator), as UTF-8."""
    raw = environ.get("REQUEST_URI") or environ.get("RAW_URI") or ""
    if not raw.startswith("/"):  # no raw target (or an absolute one): rebuild it from PATH_INFO
        raw = quote(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "/"), safe="/", encoding="latin-1")
    raw = raw.split("?", 1)[0]
    if len(raw) > MAX_PATH_CHARS:
        raise InvalidInput(f"path is longer than {MAX_PATH_CHARS} characters", "path")
    try:
        return [unquote_to_bytes(part.encode("latin-1")).decode("utf-8") for part in raw[1:].split("/")]
    except (UnicodeDecodeError, UnicodeEncodeError):
        raise InvalidInput("path is not valid UTF-8", "path") from None


def _query(environ: dict) -> dict[str, list[str]]:
    """The query's parameters, UTF-8 after percent-decoding; a 400 naming
    the parameter otherwise. WSGI hands the raw bytes over as latin-1."""
    raw = environ.get("QUERY_STRING", "").encode("latin-1").decode("utf-8", "surrogateescape")
    query: dict[str, list[str]] = {}
    for name, value in query_parameters(raw):
        query.setdefault(name, []).append(value)
    return query


def _headers(environ: dict) -> dict[str, str]:
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    return headers


def _read_body(environ: dict) -> bytes:
    """The body, whole (the server has read it: chunked ones are given a
    Content-Length), at most one byte more than the parser accepts so it
    reports an oversize body."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length <= 0 and environ.get("wsgi.input_terminated"):
        length = MAX_BODY_BYTES + 1
    if length <= 0:
        return b""
    return environ["wsgi.input"].read(min(length, MAX_BODY_BYTES + 1))


def _send(reply: Reply, request_headers: dict, start_response: Callable, method: str) -> Iterable[bytes]:
    """An answer of the adapter's own (400, 404, a redirect)."""
    secured = reply._replace(headers={**reply.headers, **security_headers(request_headers)})
    return _respond(proxy_response(secured), start_response, method)


def _respond(response: dict, start_response: Callable, method: str) -> Iterable[bytes]:
    status = int(response["statusCode"])
    headers = [(k, v) for k, v in (response.get("headers") or {}).items() if k.lower() not in _HOP_BY_HOP]
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers.extend((name, value) for value in values)
    if not any(name.lower() in (n.lower() for n in NOSNIFF) for name, _ in headers):
        headers.extend(NOSNIFF.items())  # Chalice's own answers (its 500) too
    body = response.get("body") or ""
    payload = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode("utf-8")
    headers.append(("Content-Length", str(len(payload))))
    start_response(f"{status} {_reason(status)}", headers)
    return [b""] if method == "HEAD" else [payload]


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Status"


def application(app: Optional[Chalice] = None) -> WSGIAdapter:
    """The WSGI callable for ``app`` (default: the process's app, see
    :func:`lamed.web.application.create_app`)."""
    if app is None:
        from lamed.web.application import create_app

        app = create_app()
    return WSGIAdapter(app)
