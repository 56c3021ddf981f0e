"""The Lambda handler answers /track itself, without Chalice: its answers
must be exactly the Chalice route's, and a cold start on the track path must
not import Chalice or redis-py."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lamed.core import keys
from lamed.core.definitions import definition_from_dict
from lamed.core.settings import Settings
from lamed.store.definitions import DefinitionStore
from lamed.web import runtime
from lamed.web.application import create_app
from lamed.web.gateway import proxy_event
from lamed.web.lambda_handler import handler

GOOD = {"experiment": "e", "variant": "a", "event": "participate"}
JSON = {"Content-Type": "application/json"}


def requests(uuid: str) -> dict:
    """Name -> API Gateway event; ``uuid`` keeps the two paths' events apart."""
    batch = [{**GOOD, "uuid": f"{uuid}-1"}, {**GOOD, "variant": ""}, {**GOOD, "uuid": f"{uuid}-1"}]
    return {
        "GET counted": proxy_event("GET", "/track", query={**GOOD, "uuid": uuid}),
        "GET paused": proxy_event("GET", "/track", query={**GOOD, "experiment": "paused", "uuid": uuid}),
        "GET repeated params": proxy_event("GET", "/track", query={**GOOD, "uuid": ["x", uuid]}),
        "GET missing uuid": proxy_event("GET", "/track", query=GOOD),
        "GET oversize": proxy_event("GET", "/track", query={**GOOD, "uuid": "u" * 129}),
        "GET no query": proxy_event("GET", "/track"),
        "POST one": proxy_event("POST", "/track", headers=JSON, body=json.dumps({**GOOD, "uuid": uuid}).encode()),
        "POST batch": proxy_event("POST", "/track", headers=JSON, body=json.dumps(batch).encode()),
        "POST text/plain": proxy_event(
            "POST", "/track", headers={"content-type": "text/plain;charset=UTF-8"}, body=json.dumps([]).encode()
        ),
        "POST form": proxy_event(
            "POST", "/track", headers={"Content-Type": "application/x-www-form-urlencoded"}, body=b"a=b"
        ),
        "POST not JSON": proxy_event("POST", "/track", headers=JSON, body=b"{nope"),
        "POST invalid UTF-8": proxy_event("POST", "/track", headers=JSON, body=b'{"uuid": "\xff"}'),
        "POST no body": proxy_event("POST", "/track", headers=JSON),
        "OPTIONS": proxy_event("OPTIONS", "/track"),
    }


def strip_uuid(response: dict, uuid: str) -> dict:
    return json.loads(json.dumps(response).replace(uuid, "UUID"))


@pytest.fixture
def paused(store):
    definition = definition_from_dict("paused", {"variants": {"a": 1, "b": 1}, "status": "paused"})
    DefinitionStore(store.client, keys.DEFAULT_KEYS).put("alephbet", definition)


def test_the_fast_path_answers_exactly_as_the_chalice_route(store, paused):
    chalice_app = create_app()
    through_chalice = {name: chalice_app(event, None) for name, event in requests("via-chalice").items()}
    through_handler = {name: handler(event, None) for name, event in requests("via-handler").items()}
    for name, expected in through_chalice.items():
        assert strip_uuid(through_handler[name], "via-handler") == strip_uuid(expected, "via-chalice"), name
    assert json.loads(through_handler["GET counted"]["body"]) == {"status": "counted"}
    assert json.loads(through_handler["GET paused"]["body"])["status"] == "not_counted"
    assert json.loads(through_handler["POST batch"]["body"])["counted"] == 1
    assert through_handler["OPTIONS"]["statusCode"] == 204


def test_redis_down_and_bad_config_answer_as_the_chalice_route(redis_server):
    from lamed.cli.embedded import free_port

    for config in (Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0"), Settings(redis_url="redis://h:x")):
        runtime.install(config)
        event = proxy_event("GET", "/track", query={**GOOD, "uuid": "u"})
        fast, slow = handler(event, None), create_app()(proxy_event("GET", "/track", query={**GOOD, "uuid": "u"}), None)
        assert fast == slow
        assert fast["statusCode"] == 503
    assert fast["headers"].get("Retry-After") is None  # misconfigured: retrying will not help
    runtime.install(Settings())


def test_other_methods_and_routes_go_to_chalice(store):
    assert handler(proxy_event("PUT", "/track"), None)["statusCode"] == 405
    assert handler(proxy_event("GET", "/health"), None)["statusCode"] == 200


COLD_START = r"""
import json, sys
import app
event = json.loads(sys.argv[1])
track = app.handler(event, None)
lean = sorted(m for m in sys.modules if m.split('.')[0] in
              ('redis', 'chalice', 'boto3', 'botocore', 'jinja2', 'click', 'dataclasses',
               'logging', 'hashlib', 'ssl', 'asyncio'))
results = app.handler(json.loads(sys.argv[2]), None)
print(json.dumps({"track": track["statusCode"], "body": track["body"], "lean": lean,
                  "results": results["statusCode"], "chalice_after": 'chalice' in sys.modules}))
"""


def test_cold_start_on_the_track_path_imports_only_what_it_needs(redis_url):
    """Guards the cold-start figure of bench/: the track path imports no
    Chalice, redis-py, dataclasses, logging or hashlib (each costs
    milliseconds a cold start; typing, 2-3 ms, types the core's settings and
    events); other routes still work, through Chalice."""
    track = proxy_event("GET", "/track", query={**GOOD, "uuid": "cold"})
    results = proxy_event("GET", "/experiments", headers={"x-api-key": "k" * 20})
    env = {"LAMED_REDIS_URL": redis_url, "LAMED_API_KEY": "k" * 20, "PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    done = subprocess.run(
        [sys.executable, "-c", COLD_START, json.dumps(track), json.dumps(results)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    found = json.loads(done.stdout)
    assert found == {"track": 200, "body": '{"status":"counted"}', "lean": [], "results": 200, "chalice_after": True}


HEALTH_COLD_START = r"""
import json, sys
import app
answer = app.handler({"lamed-health": True}, None)
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('redis', 'chalice', 'boto3', 'botocore', 'jinja2',
                                                             'click', 'dataclasses', 'logging', 'asyncio'))
print(json.dumps({"answer": answer, "heavy": heavy}))
"""


def test_the_health_payload_checks_redis_over_the_lean_connection(redis_url):
    """`lamed deploy` and `lamed status` invoke the function with
    ``{"lamed-health": true}``: answered with the Redis check, from a cold
    start that loads none of the track path's avoided imports."""
    env = {"LAMED_REDIS_URL": redis_url, "LAMED_API_KEY": "k" * 20, "PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    command = [sys.executable, "-c", HEALTH_COLD_START]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    found = json.loads(done.stdout)
    assert found["heavy"] == []
    report = found["answer"]["lamed-health"]
    assert report["ok"] is True and report["writable"] is True and report["maxmemory_policy"] == "noeviction"


def test_the_health_payload_reports_a_misconfigured_function():
    runtime.install(Settings(redis_url="redis://h:x"))
    (report,) = handler({"lamed-health": True}, None).values()
    assert report["ok"] is False and report["cause"] == "config" and "port" in report["error"]
    runtime.install(Settings())
    assert handler({"lamed-health": "yes"}, None)["statusCode"] == 500  # only `true` is the health payload
