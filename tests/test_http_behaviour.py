"""One HTTP behaviour: ``lamed serve`` and ``lamed serve --workers 2`` give
the same answer to the same bytes. A table of raw requests goes to both
(each on its own Redis database); status, body and the headers that matter
must match each other and what the table expects."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest
import redis
from conftest import API_KEY
from test_serve_workers import Served

EVENT = b'{"experiment":"chunked","variant":"a","event":"participate","uuid":"c1"}'
HEADERS_THAT_MATTER = (
    "content-type",
    "content-length",
    "location",
    "access-control-allow-origin",
    "x-content-type-options",
    "strict-transport-security",
    "cache-control",
    "retry-after",
)


def _chunked(body: bytes) -> bytes:
    half = len(body) // 2
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:half], body[half:])) + b"0\r\n\r\n"


def _get(target: bytes, *headers: bytes, method: bytes = b"GET") -> bytes:
    return (
        method + b" " + target + b" HTTP/1.1\r\nHost: localhost\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n"
    )


def _post(body: bytes, *headers: bytes) -> bytes:
    return b"POST /track HTTP/1.1\r\nHost: localhost\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


TRACK = b"/track?experiment=e&variant=a&event=participate&uuid="
KEY = b"x-api-key: " + API_KEY.encode()

# name, raw request, expected status, expected body fields (a subset), expected headers (a subset)
TABLE = [
    ("raw UTF-8 in the query", _get(b"/track?experiment=caf\xc3\xa9&variant=a&event=participate&uuid=u1"), 200,
     {"status": "counted"}, {}),
    ("counted under its UTF-8 name", _get(b"/experiment?experiment=caf%C3%A9", KEY), 200, None, {}),
    ("percent-encoded UTF-8", _get(b"/track?experiment=caf%C3%A9&variant=a&event=participate&uuid=u1"), 200,
     {"status": "duplicate"}, {}),
    ("a raw invalid UTF-8 byte", _get(b"/track?experiment=\xff&variant=a&event=participate&uuid=u2"), 400,
     {"field": "experiment"}, {}),
    ("percent-encoded invalid UTF-8", _get(b"/track?experiment=%FF&variant=a&event=participate&uuid=u2"), 400,
     {"field": "experiment"}, {}),
    ("invalid UTF-8 in the path", _get(b"/dashboard/%FF"), 400, {"field": "path"}, {}),
    ("a chunked POST", _post(_chunked(EVENT), b"Content-Type: application/json", b"Transfer-Encoding: chunked"), 200,
     {"status": "counted"}, {"access-control-allow-origin": "*"}),
    ("a POST with Content-Length", _post(EVENT, b"Content-Type: application/json", b"Content-Length: %d" % len(EVENT)),
     200, {"status": "duplicate"}, {}),
    ("a POST without Content-Type", _post(EVENT, b"Content-Length: %d" % len(EVENT)), 400,
     {"field": "content-type"}, {}),
    ("a chunked POST without Content-Type", _post(_chunked(EVENT), b"Transfer-Encoding: chunked"), 400,
     {"field": "content-type"}, {}),
    ("GET /health", _get(b"/health"), 200, {"status": "ok"}, {"content-type": "application/json"}),
    ("HEAD /health", _get(b"/health", method=b"HEAD"), 200, b"", {"content-type": "application/json"}),
    ("HEAD /dashboard/login", _get(b"/dashboard/login", method=b"HEAD"), 200, b"",
     {"content-type": "text/html; charset=utf-8"}),
    ("HEAD /track", _get(TRACK + b"h1", method=b"HEAD"), 200, b"", {"access-control-allow-origin": "*"}),
    ("HEAD /openapi.json", _get(b"/openapi.json", method=b"HEAD"), 200, b"", {}),
    ("a trailing slash", _get(b"/dashboard/"), 308, b"", {"location": "/dashboard"}),
    ("a trailing slash and a query", _get(b"/dashboard/?namespace=n"), 308, b"",
     {"location": "/dashboard?namespace=n"}),
    ("two trailing slashes", _get(b"/dashboard//"), 308, b"", {"location": "/dashboard"}),
    ("//host/", _get(b"//evil.example/"), 404, {"field": "path"}, {}),
    ("//host/ with a path", _get(b"//evil.example/dashboard/"), 404, {"field": "path"}, {}),
    ("/%2F/host/", _get(b"/%2F/evil.example/"), 404, {"field": "path"}, {}),
    ("/%2F%2Fhost/", _get(b"/%2F%2Fevil.example/"), 404, {"field": "path"}, {}),
    ("/%5C/host/", _get(b"/%5C/evil.example/"), 404, {"field": "path"}, {}),
    ("/%09/host/", _get(b"/%09/evil.example/"), 404, {"field": "path"}, {}),
    ("/%0A/host/", _get(b"/%0A/evil.example/"), 404, {"field": "path"}, {}),
    ("a raw /\\host/", _get(b"/\\evil.example/"), 404, {"field": "path"}, {}),
    ("a raw tab: /<tab>/host/", _get(b"/\t/evil.example/"), 404, {"field": "path"}, {}),
    ("/dashboard/%2F%2Fhost/", _get(b"/dashboard/%2F%2Fevil.example/"), 308, b"",
     {"location": "/dashboard/%2F%2Fevil.example"}),
    ("no such route", _get(b"/nope"), 404, {"field": "path"}, {}),
    ("a method the route lacks", _get(b"/health", method=b"DELETE"), 405, None, {}),
    ("GET /track with every field", _get(TRACK + b"g1"), 200, {"status": "counted"},
     {"access-control-allow-origin": "*", "cache-control": "no-cache, no-store, must-revalidate"}),
    ("over https (from the proxy)", _get(TRACK + b"g1", b"X-Forwarded-Proto: https"), 200, {"status": "duplicate"},
     {"strict-transport-security": "max-age=31536000"}),
]  # fmt: skip


def _exchange(port: int, raw: bytes) -> tuple[int, dict, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(raw.replace(b"Host: localhost\r\n", b"Host: localhost\r\nConnection: close\r\n", 1))
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


@pytest.fixture(scope="module")
def both_servers(redis_server):
    served = []
    for workers, database in ((1, 14), (2, 15)):
        url = redis_server.url.rsplit("/", 1)[0] + f"/{database}"
        redis.Redis.from_url(url).flushdb()
        env = {**os.environ, "LAMED_REDIS_URL": url, "LAMED_API_KEY": API_KEY}
        served.append(Served(env, workers=workers))
    yield served
    for server in served:
        server.stop()


def test_both_servers_answer_the_table_alike_and_as_expected(both_servers):
    single, workers = both_servers
    for name, raw, status, body, headers in TABLE:
        answers = [_exchange(server.port, raw) for server in (single, workers)]
        (got_status, got_headers, got_body), other = answers
        assert got_status == other[0], f"{name}: {got_status} vs {other[0]}"
        assert got_body == other[2], f"{name}: {got_body!r} vs {other[2]!r}"
        for header in HEADERS_THAT_MATTER:
            assert got_headers.get(header) == other[1].get(header), f"{name}: {header}"
        assert got_status == status, f"{name}: {got_status} {got_body!r}"
        assert got_headers.get("x-content-type-options") == "nosniff", name
        for header, value in headers.items():
            assert got_headers.get(header) == value, f"{name}: {header}: {got_headers.get(header)!r}"
        if isinstance(body, bytes):
            assert got_body == body, name
        elif body is not None:
            document = json.loads(got_body)
            assert {key: document.get(key) for key in body} == body, f"{name}: {document}"
        location = got_headers.get("location")
        assert location is None or (location.startswith("/") and not location.startswith(("//", "/\\"))), name


def test_head_has_the_headers_of_get(both_servers):
    for server in both_servers:
        get = _exchange(server.port, _get(b"/health"))
        head = _exchange(server.port, _get(b"/health", method=b"HEAD"))
        assert head[0] == get[0] and head[2] == b""
        assert head[1]["content-length"] == get[1]["content-length"] == str(len(get[2]))


def test_wrong_logins_are_throttled_across_workers(both_servers):
    """The count is in Redis: ten wrong keys spread over two worker
    processes, then the eleventh is a 429 whichever worker answers."""
    workers = both_servers[1]
    if time.time() % 60 > 50:  # the window would end mid-test: start in the next one
        time.sleep(61 - time.time() % 60)
    wrong = b"key=wrong-key-wrong-key-123&next="
    login = _post(wrong, b"Content-Type: application/x-www-form-urlencoded", b"Content-Length: %d" % len(wrong))
    login = login.replace(b"POST /track", b"POST /dashboard/login", 1)
    statuses = [_exchange(workers.port, login)[0] for _ in range(10)]
    assert statuses == [403] * 10
    status, headers, _ = _exchange(workers.port, login)
    assert status == 429 and 0 < int(headers["retry-after"]) <= 60
