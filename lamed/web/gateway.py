"""API Gateway REST proxy events: the one shape every caller of the Lambda
handler builds (the WSGI adapter, the deploy probe, tests and benchmarks)."""

from __future__ import annotations

import base64
from typing import Iterable, Mapping, Optional, Sequence, Union

QueryValues = Union[str, Sequence[str]]


def proxy_event(
    method: str,
    resource: str,
    path: Optional[str] = None,
    *,
    query: Optional[Mapping[str, QueryValues]] = None,
    headers: Optional[Mapping[str, str]] = None,
    path_params: Optional[Mapping[str, str]] = None,
    body: Optional[bytes] = None,
    stage: str = "api",
    source_ip: str = "",
) -> dict:
    """The event Lambda hands the handler for ``method path`` matched to the
    API resource ``resource`` (e.g. ``/experiments/{name}``). Query values may
    be one string or a list (repeated parameters; the last one wins in the
    single-value map, as in API Gateway)."""
    path = path or resource
    headers = dict(headers or {})
    multi_query = {name: [value] if isinstance(value, str) else list(value) for name, value in (query or {}).items()}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(path_params) if path_params else None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": path,
            "stage": stage,
            "identity": {"sourceIp": source_ip},
        },
        **_body_fields(body),
    }


def match_route(resources: Iterable[str], segments: Sequence[str]) -> Optional[tuple[str, dict[str, str]]]:
    """The API resource (e.g. ``/experiments/{name}``) that a path's decoded
    ``segments`` fall on, and its path parameters; literal segments win over
    parameters, as in API Gateway. None when no resource matches."""
    best = None
    for resource in resources:
        parts = resource.strip("/").split("/") if resource != "/" else [""]
        if len(parts) != len(segments):
            continue
        params, literal = {}, 0
        for part, segment in zip(parts, segments):
            if part.startswith("{") and part.endswith("}") and segment:
                params[part[1:-1]] = segment
            elif part == segment:
                literal += 1
            else:
                break
        else:
            if best is None or literal > best[0]:
                best = (literal, resource, params)
    return None if best is None else (best[1], best[2])


def _body_fields(body: Optional[bytes]) -> dict:
    """Text as text, as API Gateway passes JSON and other text bodies;
    only bytes that are not UTF-8 go as base64 (a binary media type)."""
    if not body:
        return {"body": None, "isBase64Encoded": False}
    try:
        return {"body": body.decode("utf-8"), "isBase64Encoded": False}
    except UnicodeDecodeError:
        return {"body": base64.b64encode(body).decode("ascii"), "isBase64Encoded": True}


def function_url_event(
    method: str,
    path: str,
    raw_query: str = "",
    *,
    headers: Optional[Mapping[str, str]] = None,
    body: Optional[bytes] = None,
    cookies: Sequence[str] = (),
    base64_body: bool = False,
    source_ip: str = "",
) -> dict:
    """The payload format 2.0 event a function URL hands the handler for
    ``method path?raw_query``: headers lower-cased, repeated query
    parameters joined by commas in ``queryStringParameters`` (as Lambda
    does), the body as text unless ``base64_body`` or not UTF-8."""
    lowered = {name.lower(): value for name, value in (headers or {}).items()}
    joined: dict[str, str] = {}
    for field in filter(None, raw_query.split("&")):
        name, _, value = field.partition("=")
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    fields = _body_fields(body)
    if base64_body and body:
        fields = {"body": base64.b64encode(body).decode("ascii"), "isBase64Encoded": True}
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": lowered,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "lamedurl",
            "domainName": "lamedurl.lambda-url.us-east-1.on.aws",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": "bench",
            "routeKey": "$default",
            "stage": "$default",
        },  # fmt: skip
        **fields,
    }
    if cookies:
        event["cookies"] = list(cookies)
    if joined:
        event["queryStringParameters"] = joined
    if event["body"] is None:
        del event["body"]
    return event
