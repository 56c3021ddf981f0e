"""The HTTP API end to end: a real HTTP server on loopback, a real Redis."""

import json
import urllib.error
import urllib.request
from urllib.parse import quote, urlencode

import pytest
from conftest import API_KEY, http

AUTH = {"x-api-key": API_KEY}


def track_url(server, **params):
    return f"{server.url}/track?{urlencode(params)}"


def alephbet_url(server, experiment, variant, event, uuid, namespace="alephbet"):
    """Exactly what Alephbet's LamedAdapter builds: encodeURIComponent, %20 -> +."""
    data = {"experiment": experiment, "uuid": uuid, "variant": variant, "event": event, "namespace": namespace}
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in data.items()).replace("%20", "+")
    return f"{server.url}/track?{query}"


def test_get_track_as_alephbet_sends_it(live_server):
    url = alephbet_url(live_server, "my a/b test", "red one", "participate", "u1")
    first = http("GET", url)
    assert first.status == 200
    assert first.json() == {"status": "counted"}
    assert first.headers["Access-Control-Allow-Origin"] == "*"
    assert first.headers["Cache-Control"] == "no-cache, no-store, must-revalidate"
    assert http("GET", url).json() == {"status": "duplicate"}
    results = http("GET", f"{live_server.url}/experiments/{quote('my a/b test', safe='')}", headers=AUTH).json()
    assert results["variants"] == [{"label": "red one", "trials": 1}]


def test_options_preflight(live_server):
    response = http("OPTIONS", f"{live_server.url}/track", headers={"Origin": "https://shop.example"})
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


def test_post_single_and_batch(live_server):
    one = {"experiment": "e", "variant": "a", "event": "participate", "uuid": "1"}
    assert http("POST", f"{live_server.url}/track", one).json() == {"status": "counted"}
    batch = [one, {**one, "uuid": "2"}, {**one, "event": "buy"}]
    body = http("POST", f"{live_server.url}/track", {"events": batch}).json()
    assert body == {
        "counted": 2,
        "duplicate": 1,
        "invalid": 0,
        "results": [{"status": "duplicate"}, {"status": "counted"}, {"status": "counted"}],
    }


def test_batch_with_invalid_events_counts_the_valid_ones_and_names_the_bad(live_server):
    good = {"experiment": "e", "variant": "a", "event": "participate", "uuid": "1"}
    response = http("POST", f"{live_server.url}/track", [good, {**good, "variant": ""}])
    assert response.status == 400
    body = response.json()
    assert body["counted"] == 1 and body["invalid"] == 1
    assert body["results"][1]["field"] == "events[1].variant"
    # A resend of the whole batch after fixing loses nothing and counts nothing twice.
    fixed = http("POST", f"{live_server.url}/track", [good, {**good, "variant": "b"}])
    assert fixed.status == 200 and fixed.json()["results"] == [{"status": "duplicate"}, {"status": "counted"}]


@pytest.mark.parametrize(
    "method, path, body, headers, field",
    [
        ("GET", "/track?experiment=e&variant=a&event=participate", None, {}, "uuid"),
        ("GET", "/track?experiment=&variant=a&event=participate&uuid=1", None, {}, "experiment"),
        ("GET", "/track?experiment=" + "x" * 201 + "&variant=a&event=p&uuid=1", None, {}, "experiment"),
        ("GET", "/track?experiment=e&variant=%FF&event=p&uuid=1", None, {}, "variant"),
        ("POST", "/track", b"{not json", {"Content-Type": "application/json"}, "body"),
        ("POST", "/track", b"", {"Content-Type": "application/json"}, "body"),
        ("POST", "/track", b'{"experiment": "e"}', {"Content-Type": "application/xml"}, "content-type"),
        ("POST", "/track", b"[]", {"Content-Type": "application/json"}, "events"),
        ("POST", "/track", json.dumps([{}] * 501).encode(), {"Content-Type": "application/json"}, "events"),
        ("POST", "/track", b"x" * (1024 * 1024 + 10), {"Content-Type": "application/json"}, "body"),
        ("GET", "/delete?experiment=e", None, AUTH, None),
        ("DELETE", "/delete", None, AUTH, "experiment"),
        ("GET", "/experiment", None, AUTH, "experiment"),
        ("GET", "/experiments?namespace=", None, AUTH, "namespace"),
    ],
)
def test_bad_input_is_a_4xx_with_a_json_error(live_server, method, path, body, headers, field):
    response = http(method, live_server.url + path, body, headers)
    assert 400 <= response.status < 500
    payload = response.json()
    if field is not None:
        assert response.status == 400
        assert payload["field"] == field
        assert payload["error"]


def test_invalid_utf8_in_query_is_refused_not_stored(live_server, store):
    response = http("GET", f"{live_server.url}/track?experiment=%C3%28&variant=a&event=p&uuid=1")
    assert response.status == 400
    assert store.experiment_names("alephbet") == []


@pytest.mark.parametrize("path", ["/experiments", "/experiments/e", "/experiment?experiment=e"])
def test_protected_routes_need_the_key(live_server, path):
    assert http("GET", live_server.url + path).status == 401
    assert http("GET", live_server.url + path, headers={"x-api-key": "wrong-key-0123456789"}).status == 403
    assert http("GET", live_server.url + path, headers=AUTH).status in (200, 404)


@pytest.mark.parametrize("method, path", [("DELETE", "/experiments/e"), ("DELETE", "/delete?experiment=e")])
def test_delete_needs_the_key(live_server, store, method, path):
    store.track(ev_for("e"))
    assert http(method, live_server.url + path).status == 401
    assert store.experiment_names("alephbet") == ["e"]


def ev_for(experiment, variant="a", event="participate", uuid="1", namespace="alephbet"):
    from lamed.core.events import Event

    return Event(namespace, experiment, variant, event, uuid)


def test_lamed_compatible_results(live_server, store):
    store.track_many(
        [ev_for("e", "a", uuid=str(i)) for i in range(4)]
        + [ev_for("e", "b", uuid=str(i)) for i in range(3)]
        + [ev_for("e", "a", "buy", "1"), ev_for("e", "b", "buy", "1"), ev_for("e", "b", "buy", "2")]
        + [ev_for("only-participation")]
    )
    body = http("GET", f"{live_server.url}/experiments", headers=AUTH).json()
    assert body == [
        {"meta": {"scope": None}},
        {
            "experiment": "e",
            "goals": [
                {
                    "goal": "buy",
                    "results": [
                        {"label": "a", "successes": 1, "trials": 4},
                        {"label": "b", "successes": 2, "trials": 3},
                    ],
                }
            ],
        },
        {"experiment": "only-participation", "goals": []},
    ]
    scoped = http("GET", f"{live_server.url}/experiments?scope=e", headers=AUTH).json()
    assert scoped[0] == {"meta": {"scope": "e"}} and [x["experiment"] for x in scoped[1:]] == ["e"]
    goals = http("GET", f"{live_server.url}/experiment?experiment=e", headers=AUTH).json()
    assert goals == body[1]["goals"]


def test_namespaces_are_separate(live_server, store):
    store.track_many([ev_for("e", namespace="one"), ev_for("e", namespace="two", uuid="2")])
    one = http("GET", f"{live_server.url}/experiments?namespace=one", headers=AUTH).json()
    assert [x["experiment"] for x in one[1:]] == ["e"]
    assert http("GET", f"{live_server.url}/experiments", headers=AUTH).json() == [{"meta": {"scope": None}}]


def test_experiment_detail_and_404(live_server, store):
    store.track_many([ev_for("x/y ü", "a"), ev_for("x/y ü", "a", "buy")])
    url = f"{live_server.url}/experiments/{quote('x/y ü', safe='')}"
    detail = http("GET", url, headers=AUTH).json()
    assert detail["experiment"] == "x/y ü"
    assert detail["events"] == {"buy": {"a": 1}, "participate": {"a": 1}}
    assert {row["event"] for row in detail["daily"]} == {"buy", "participate"}
    assert http("GET", f"{live_server.url}/experiments/none", headers=AUTH).status == 404


@pytest.mark.parametrize("style", ["rest", "lamed"])
def test_delete(live_server, store, style):
    store.track_many([ev_for("a:b"), ev_for("keep")])
    if style == "rest":
        response = http("DELETE", f"{live_server.url}/experiments/{quote('a:b', safe='')}", headers=AUTH)
    else:
        response = http("DELETE", f"{live_server.url}/delete?experiment=a%3Ab&namespace=alephbet", headers=AUTH)
    assert response.status == 200 and response.json() == {"deleted": True, "experiment": "a:b"}
    assert store.experiment_names("alephbet") == ["keep"]


def test_health(live_server):
    assert http("GET", f"{live_server.url}/health").json() == {"status": "ok", "redis": "ok"}


def test_unknown_route_is_404_json(live_server):
    response = http("GET", f"{live_server.url}/nope")
    assert response.status == 404 and response.json()["field"] == "path"


def test_cors_only_on_track(live_server):
    assert "Access-Control-Allow-Origin" not in http("GET", f"{live_server.url}/experiments", headers=AUTH).headers
    assert "Access-Control-Allow-Origin" not in http("GET", f"{live_server.url}/health").headers


def test_trailing_slash_redirects_to_the_one_url(live_server):
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(f"{live_server.url}/dashboard/?namespace=a", timeout=5)
        raise AssertionError("expected a redirect")
    except urllib.error.HTTPError as error:
        assert error.code == 308
        assert error.headers["Location"] == "/dashboard?namespace=a"


def test_invalid_server_config_is_a_503_on_every_route(monkeypatch):
    """A Lambda with a bad LAMED_* variable answers 503 saying so, never 500."""
    from chalice.test import Client

    from app import app
    from lamed.core.settings import Settings
    from lamed.web import runtime

    runtime.install(None)  # force a fresh load of the (broken) settings
    monkeypatch.setenv("LAMED_UUID_EXPIRY_SECONDS", "soon")
    try:
        with Client(app) as client:
            for path in ("/track?experiment=e&variant=a&event=participate&uuid=1", "/experiments", "/health"):
                response = client.http.get(path, headers={"x-api-key": API_KEY})
                assert response.status_code == 503, (path, response.body)
                assert json.loads(response.body)["error"] == "server misconfigured"
        # The Lambda entry point too, before any route is reached.
        import app as lambda_module
        from lamed.web.gateway import proxy_event

        query = {"experiment": "e", "variant": "a", "event": "participate", "uuid": "1"}
        assert lambda_module.handler(proxy_event("GET", "/track", query=query), None)["statusCode"] == 503
    finally:
        runtime.install(Settings())
