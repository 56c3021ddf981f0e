"""Lambda payload format 2.0 (function URLs, HTTP APIs) turned into the plain
request data the one /track parser (:func:`lamed.web.tracking.track_http`)
reads: method, path, the raw query string, headers, body.

A 2.0 event carries ``requestContext.http.method``, ``rawPath``,
``rawQueryString``, lower-case ``headers``, ``cookies``, ``body`` and
``isBase64Encoded``. Its ``queryStringParameters`` joins repeated parameters
with commas (``a=1&a=2`` gives ``"1,2"``), which would turn two values into
one that holds a comma, so the parser reads ``rawQueryString`` (the last of
repeated parameters wins, as in the REST path's single-value map).
Cookies are not read: /track needs none.
"""

from __future__ import annotations

from collections import namedtuple

FORMAT_VERSION = "2.0"


# method: str, path: str, query: the raw query string, headers: dict, body: bytes.
# A plain namedtuple, as Reply in lamed.web.replies: quicker to import than typing.NamedTuple.
PlainRequest = namedtuple("PlainRequest", "method path query headers body")


def is_http_v2(event: object) -> bool:
    """A payload format 2.0 HTTP event (function URL or HTTP API)."""
    if not isinstance(event, dict) or event.get("version") != FORMAT_VERSION:
        return False
    context = event.get("requestContext")
    return isinstance(context, dict) and isinstance(context.get("http"), dict)


def plain_request(event: dict) -> PlainRequest:
    """The request a 2.0 event carries; ``event`` passed :func:`is_http_v2`."""
    http = event["requestContext"]["http"]
    return PlainRequest(
        method=str(http.get("method") or "").upper(),
        path=str(event.get("rawPath") or http.get("path") or "/"),
        query=str(event.get("rawQueryString") or ""),
        headers=event.get("headers") or {},
        body=request_body(event),
    )


def request_body(event: dict) -> bytes:
    """The body's bytes: base64 when the event says so (function URLs encode
    any body that is not text), else the text as UTF-8."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        import base64  # only for binary bodies

        try:
            return base64.b64decode(body)
        except ValueError:
            return b"\xff"  # not base64: bytes that are no JSON, so a 400 like any unreadable body
    return body.encode("utf-8", "surrogatepass")  # a lone surrogate is then invalid UTF-8: a 400


def v2_response(proxy: dict) -> dict:
    """A REST proxy response in the 2.0 shape (no ``multiValueHeaders``)."""
    return {"statusCode": proxy["statusCode"], "headers": proxy["headers"], "body": proxy["body"]}
