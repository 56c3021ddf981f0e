"""Security checks: the API key is compared in constant time and never
logged; CORS ``*`` is sent by the public tracking routes only."""

from __future__ import annotations

import logging

import pytest
from conftest import API_KEY, http

from app import app
from lamed.web.routes import http as routes_http

# The routes a browser on any site calls (Alephbet's tracking, assignment).
PUBLIC_CORS_ROUTES = {"/track", "/assign"}


def _request(url: str, method: str = "GET", headers: dict | None = None) -> tuple:
    result = http(method, url, b"{}" if method in ("POST", "PUT") else None, headers)
    return result.status, dict(result.headers), result.body


def _concrete(path: str) -> str:
    return "/".join("x" if part.startswith("{") else part for part in path.split("/"))


def _protected_routes() -> list:
    return [
        (method, path)
        for path, methods in app.routes.items()
        for method, entry in methods.items()
        if entry.api_key_required
    ]


def test_api_key_is_compared_in_constant_time(live_server, monkeypatch):
    compared = []
    real = routes_http.hmac.compare_digest

    def spy(given, expected):
        compared.append((given, expected))
        return real(given, expected)

    monkeypatch.setattr(routes_http.hmac, "compare_digest", spy)
    status, _, _ = _request(f"{live_server.url}/experiments", headers={"x-api-key": API_KEY[:-1] + "!"})
    assert status == 403
    assert _request(f"{live_server.url}/experiments", headers={"x-api-key": API_KEY})[0] == 200
    assert compared == [((API_KEY[:-1] + "!").encode(), API_KEY.encode()), (API_KEY.encode(), API_KEY.encode())]


def test_failed_and_successful_auth_never_log_the_key(live_server, caplog, capfd):
    near_miss = API_KEY[:-1] + "!"
    caplog.set_level(logging.DEBUG)
    protected = _protected_routes()
    assert len(protected) >= 4
    for method, path in protected:
        for key in (near_miss, API_KEY):
            status, _, body = _request(f"{live_server.url}{_concrete(path)}", method, {"x-api-key": key})
            assert status < 500
            assert API_KEY.encode() not in body and near_miss.encode() not in body
    logged = caplog.text + "".join(capfd.readouterr())
    assert API_KEY not in logged and near_miss not in logged


@pytest.mark.parametrize("method", ["GET", "OPTIONS"])
def test_cors_star_only_on_public_tracking_routes(live_server, method):
    with_cors = set()
    for path in app.routes:
        _, headers, _ = _request(f"{live_server.url}{_concrete(path)}", method, {"Origin": "https://elsewhere.example"})
        if headers.get("Access-Control-Allow-Origin"):
            with_cors.add(path)
    assert with_cors <= PUBLIC_CORS_ROUTES
    assert "/track" in with_cors


def test_no_protected_route_is_public():
    assert not {path for _, path in _protected_routes()} & PUBLIC_CORS_ROUTES
