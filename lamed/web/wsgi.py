"""WSGI adapter: serves the Chalice app outside Lambda.

Each HTTP request becomes the same API Gateway proxy event Lambda would get,
so the self-hosted server runs exactly the code that runs on Lambda. Serve it
with any WSGI server, e.g. ``gunicorn 'lamed.web.wsgi:application()'``.
"""

from __future__ import annotations

import base64
import re
from http import HTTPStatus
from typing import Any, Callable, Iterable, Optional
from urllib.parse import parse_qsl, unquote

from chalice import Chalice

from lamed.core.events import MAX_BODY_BYTES
from lamed.web.gateway import proxy_event
from lamed.web.lambda_handler import make_handler, resource_path_for

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade"}
NOT_FOUND = b'{"error":"no such route","field":"path"}'


class _Route:
    def __init__(self, resource_path: str) -> None:
        self.resource_path = resource_path
        self.names = re.findall(r"{(\w+)}", resource_path)
        self.segments = resource_path.strip("/").split("/")

    def match(self, segments: list[str]) -> Optional[dict]:
        if len(segments) != len(self.segments):
            return None
        params = {}
        for pattern, actual in zip(self.segments, segments):
            if pattern.startswith("{") and pattern.endswith("}"):
                if not actual:
                    return None
                params[pattern[1:-1]] = actual
            elif pattern != actual:
                return None
        return params


class WSGIAdapter:
    def __init__(self, app: Chalice) -> None:
        self.app = app
        self.handler = make_handler(lambda: app)  # /track as on Lambda: without Chalice
        # Literal routes first, so /experiments wins over /experiments/{name}.
        self.routes = sorted((_Route(path) for path in app.routes), key=lambda r: len(r.names))

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        raw_path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or _quote_path(environ)
        raw_path = raw_path.split("?", 1)[0]
        if len(raw_path) > 1 and raw_path.endswith("/"):
            return _redirect_without_slash(raw_path, environ, start_response)
        segments = [unquote(part, errors="surrogateescape") for part in raw_path.strip("/").split("/")]
        path = "/" + "/".join(segments)
        routed = resource_path_for(path)
        resource_path, params = self._match(segments if routed == path else routed.strip("/").split("/"))
        if resource_path is None:
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [NOT_FOUND]
        event = self._event(environ, path, resource_path, params)
        response = self.handler(event, None)
        return self._respond(response, start_response)

    def _match(self, segments: list[str]) -> tuple:
        for route in self.routes:
            params = route.match(segments)
            if params is not None:
                return route.resource_path, params
        return None, None

    def _event(self, environ: dict, path: str, resource_path: str, params: dict) -> dict:
        query = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True, errors="surrogateescape")
        multi_query: dict[str, list[str]] = {}
        for key, value in query:
            multi_query.setdefault(key, []).append(value)
        return proxy_event(
            environ["REQUEST_METHOD"].upper(),
            resource_path,
            path,
            query=multi_query,
            headers=_headers(environ),
            path_params=params,
            body=_read_body(environ),
            stage="local",
            source_ip=environ.get("REMOTE_ADDR", ""),
        )

    def _respond(self, response: dict, start_response: Callable) -> Iterable[bytes]:
        status = int(response["statusCode"])
        headers = [(k, v) for k, v in response.get("headers", {}).items() if k.lower() not in _HOP_BY_HOP]
        for name, values in (response.get("multiValueHeaders") or {}).items():
            headers.extend((name, value) for value in values)
        body = response.get("body") or ""
        payload = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode("utf-8")
        headers.append(("Content-Length", str(len(payload))))
        start_response(f"{status} {_reason(status)}", headers)
        return [payload]


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Status"


def _redirect_without_slash(raw_path: str, environ: dict, start_response: Callable) -> Iterable[bytes]:
    """``/dashboard/`` -> ``/dashboard``: one URL per page, so relative links
    resolve the same way behind this server and behind API Gateway."""
    query = environ.get("QUERY_STRING", "")
    location = raw_path.rstrip("/") + (f"?{query}" if query else "")
    start_response("308 Permanent Redirect", [("Location", location), ("Content-Length", "0")])
    return [b""]


def _quote_path(environ: dict) -> str:
    # PATH_INFO is already percent-decoded (and latin-1 mangled) by the server;
    # re-encode so segments split on real slashes only.
    from urllib.parse import quote

    path = environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", "surrogateescape")
    return quote(path, safe="/", errors="surrogateescape")


def _headers(environ: dict) -> dict[str, str]:
    headers = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = value
    # Servers invent a Content-Type (wsgiref says text/plain) for requests
    # that carry none; only a request with a body has a meaningful one.
    if environ.get("CONTENT_LENGTH") not in (None, ""):
        headers["content-length"] = environ["CONTENT_LENGTH"]
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
    return headers


def _read_body(environ: dict) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length <= 0:
        return b""
    # Never buffer more than the parser accepts; it reports the oversize body.
    return environ["wsgi.input"].read(min(length, MAX_BODY_BYTES + 1))


def application(app: Optional[Any] = None) -> WSGIAdapter:
    """The WSGI callable for ``app`` (default: the app of ``app.py``)."""
    if app is None:
        from app import app as default_app

        app = default_app
    return WSGIAdapter(app)
