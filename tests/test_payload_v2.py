"""The function URL's events (payload format 2.0) answered exactly as the
REST API's (1.0) on one table of requests, hostile ones included, on /track
and an extra track path."""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import parse_qsl, quote

import pytest

from lamed.core import keys
from lamed.core.definitions import definition_from_dict
from lamed.store.definitions import DefinitionStore
from lamed.web import runtime
from lamed.web.gateway import function_url_event, proxy_event
from lamed.web.lambda_handler import NOT_ON_FUNCTION_URL, handler

GOOD = {"experiment": "e", "variant": "a", "event": "participate"}
JSON = {"Content-Type": "application/json"}
EXTRA_PATH = "/collect"


def encoded(fields: dict) -> str:
    return "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in fields.items())


def table(uuid: str) -> dict:
    """Name -> (method, path, raw query, headers, body, 2.0 body in base64)."""
    good = encoded({**GOOD, "uuid": uuid})
    batch = [{**GOOD, "uuid": f"{uuid}-1"}, {**GOOD, "variant": ""}, {**GOOD, "uuid": f"{uuid}-1"}]
    one = json.dumps({**GOOD, "uuid": f"{uuid}-post"}).encode()
    return {
        "GET counted": ("GET", "/track", good, {}, None, False),
        "GET counted again: duplicate": ("GET", "/track", good, {}, None, False),
        "GET extra track path": ("GET", EXTRA_PATH, encoded({**GOOD, "uuid": f"{uuid}-x"}), {}, None, False),
        "GET paused": ("GET", "/track", encoded({**GOOD, "experiment": "paused", "uuid": uuid}), {}, None, False),
        "GET repeated params, the last wins": ("GET", "/track", f"uuid=first&{good}", {}, None, False),
        "GET a comma in a value": ("GET", "/track", encoded({**GOOD, "variant": "a,b", "uuid": uuid}), {}, None, False),
        "GET Alephbet's names": (
            "GET", "/track",
            encoded({**GOOD, "experiment": "my a/b test", "event": "button clicked", "variant": "é 🚀", "uuid": uuid}),
            {}, None, False,
        ),
        "GET + is a space, %2B a plus": (
            "GET", "/track", encoded({**GOOD, "uuid": uuid}).replace("e&", "e+x%2By&", 1), {}, None, False,
        ),
        "GET missing uuid": ("GET", "/track", encoded(GOOD), {}, None, False),
        "GET oversize uuid": ("GET", "/track", encoded({**GOOD, "uuid": "u" * 129}), {}, None, False),
        "GET no query": ("GET", "/track", "", {}, None, False),
        "GET only separators": ("GET", "/track", "&&&=&", {}, None, False),
        "GET invalid UTF-8 %FF": ("GET", "/track", f"{good}&variant=%FF", {}, None, False),
        "GET a NUL byte": ("GET", "/track", f"{good}&variant=a%00b", {}, None, False),
        "GET a bare % and %zz": ("GET", "/track", f"{good}&variant=100%&event=%zz", {}, None, False),
        "GET a field without =": ("GET", "/track", f"{good}&variant", {}, None, False),
        "GET 2,000 fields": ("GET", "/track", good + "&x=1" * 2000, {}, None, False),
        "GET a 20 kB value": ("GET", "/track", f"{good}&event={'e' * 20000}", {}, None, False),
        "POST one": ("POST", "/track", "", JSON, one, False),
        "POST one, base64": ("POST", "/track", "", JSON, one.replace(b"-post", b"-b64"), True),
        "POST batch on the extra path": ("POST", EXTRA_PATH, "", JSON, json.dumps(batch).encode(), False),
        "POST text/plain (the batching adapter)": (
            "POST", "/track", "", {"Content-Type": "text/plain;charset=UTF-8"},
            json.dumps({"events": [{**GOOD, "uuid": f"{uuid}-tp"}]}).encode(), False,
        ),
        "POST form": ("POST", "/track", "", {"Content-Type": "application/x-www-form-urlencoded"}, b"a=b", False),
        "POST not JSON": ("POST", "/track", "", JSON, b"{nope", False),
        "POST invalid UTF-8": ("POST", "/track", "", JSON, b'{"uuid": "\xff"}', False),
        "POST a lone surrogate": ("POST", "/track", "", JSON, b'{"uuid": "\\ud800"}', False),
        "POST no body": ("POST", "/track", "", JSON, None, False),
        "POST no content type": ("POST", "/track", "", {}, one, False),
        "POST a query is ignored": ("POST", "/track", good, JSON, b"[]", False),
        "POST 501 events": ("POST", "/track", "", JSON, json.dumps([GOOD] * 501).encode(), False),
        "OPTIONS preflight": ("OPTIONS", "/track", "", {"Origin": "https://example.com"}, None, False),
        "OPTIONS on the extra path": ("OPTIONS", EXTRA_PATH, "", {}, None, False),
    }  # fmt: skip


def rest_event(method, path, raw_query, headers, body, _base64) -> dict:
    """The REST API's event for the request: the query decoded by the
    standard library's rules (as ``lamed serve`` decodes it)."""
    multi: dict = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True, errors="surrogateescape"):
        multi.setdefault(name, []).append(value)
    resource = "/track" if path in ("/track", EXTRA_PATH) else path
    return proxy_event(method, resource, path, query=multi, headers=headers, body=body)


def url_event(method, path, raw_query, headers, body, base64_body) -> dict:
    return function_url_event(
        method, path, raw_query, headers=headers, body=body, base64_body=base64_body,
        cookies=["session=abc", "ab_seen=1"],
    )  # fmt: skip


@pytest.fixture
def track_settings(store, settings):
    """The store's settings with an extra track path, and a paused experiment."""
    runtime.install(settings.replace(track_paths=(EXTRA_PATH,)), store)
    definition = definition_from_dict("paused", {"variants": {"a": 1, "b": 1}, "status": "paused"})
    DefinitionStore(store.client, keys.DEFAULT_KEYS).put("alephbet", definition)
    return store


def answers(make_event, uuid: str) -> dict:
    return {name: handler(make_event(*request), None) for name, request in table(uuid).items()}


def comparable(response: dict, uuid: str) -> dict:
    text = json.dumps({key: response[key] for key in ("statusCode", "headers", "body")})
    return json.loads(text.replace(uuid, "UUID"))


def test_both_event_formats_get_the_same_answers(track_settings):
    through_rest = answers(rest_event, "via-rest")
    through_url = answers(url_event, "via-url")
    for name, expected in through_rest.items():
        assert comparable(through_url[name], "via-url") == comparable(expected, "via-rest"), name
        assert set(through_url[name]) == {"statusCode", "headers", "body"}, name  # the 2.0 response shape
    status = {name: response["statusCode"] for name, response in through_url.items()}
    body = {name: json.loads(r["body"]) if r["body"] else None for name, r in through_url.items()}
    assert body["GET counted"] == {"status": "counted"}
    assert body["GET counted again: duplicate"]["status"] == "duplicate"
    assert body["GET extra track path"] == {"status": "counted"}
    assert body["GET paused"]["status"] == "not_counted"
    assert body["GET a comma in a value"] == {"status": "counted"}  # not split at the comma
    assert body["GET Alephbet's names"] == {"status": "counted"}
    assert body["POST one"] == body["POST one, base64"] == {"status": "counted"}
    assert body["POST batch on the extra path"]["counted"] == 1
    assert body["POST text/plain (the batching adapter)"]["counted"] == 1
    for name in ("GET missing uuid", "GET invalid UTF-8 %FF", "POST not JSON", "POST 501 events"):
        assert status[name] == 400 and body[name]["field"], name
    assert status["OPTIONS preflight"] == 204
    assert through_url["OPTIONS preflight"]["headers"]["Access-Control-Allow-Origin"] == "*"
    assert not any(500 <= code for code in status.values()), status


def test_a_bad_query_counts_as_invalid_in_both_formats(track_settings):
    """Invalid UTF-8 in the raw query (function URL) and a missing field (REST)
    are each one ``invalid`` request in the metrics, as any 400 of /track."""
    from lamed.core import observe

    class Outcomes(observe.Observer):
        def __init__(self) -> None:
            self.seen: list = []

        def events(self, outcomes) -> None:
            self.seen.append(dict(outcomes))

    handler(proxy_event("OPTIONS", "/track"), None)  # the function installs its own observer on its first call
    recorder = Outcomes()
    previous = observe.install(recorder)
    try:
        bad_url = function_url_event("GET", "/track", "experiment=%FF&variant=a&event=participate&uuid=u1")
        bad_rest = proxy_event("GET", "/track", query={"experiment": "e", "variant": "a", "event": "participate"})
        assert handler(bad_url, None)["statusCode"] == handler(bad_rest, None)["statusCode"] == 400
    finally:
        observe.install(previous)
    assert recorder.seen == [{"invalid": 1}, {"invalid": 1}]


def test_the_counts_agree(track_settings):
    answers(rest_event, "via-rest")
    answers(url_event, "via-url")
    store = track_settings
    results = store.results("alephbet", store.experiment_names("alephbet"))
    totals = {(row.name, *key): count for row in results for key, count in row.totals.items()}
    # Per format: GET, the extra path, POST one, its base64 twin, the batch's one, text/plain.
    assert totals[("e", "participate", "a")] == 2 * 6
    assert totals[("e x+y", "participate", "a")] == 2
    assert all(count % 2 == 0 for count in totals.values()), totals  # the same events through each format


@pytest.mark.parametrize(
    "method, path",
    [("GET", "/"), ("GET", "/experiments"), ("GET", "/dashboard"), ("DELETE", "/track"), ("PUT", EXTRA_PATH),
     ("GET", "/track/"), ("GET", "/TRACK")],
)  # fmt: skip
def test_the_function_url_serves_track_only(track_settings, method, path):
    """Results, definitions and the dashboard stay behind the REST API's key."""
    response = handler(function_url_event(method, path, "namespace=alephbet"), None)
    assert response["statusCode"] == 404
    assert json.loads(response["body"]) == {"error": NOT_ON_FUNCTION_URL, "field": "path"}


def test_a_cold_start_on_a_function_url_imports_no_chalice_or_redis_py(redis_url):
    event = function_url_event("GET", "/track", encoded({**GOOD, "uuid": "cold"}))
    code = f"""
import json, os, sys
os.environ["LAMED_REDIS_URL"] = {redis_url!r}
import app
response = app.handler({event!r}, None)
assert response["statusCode"] == 200, response
loaded = {{name.split(".")[0] for name in sys.modules}}
print(json.dumps(sorted(loaded & {{"chalice", "redis", "boto3", "jinja2", "click"}})))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []
