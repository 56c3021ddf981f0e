"""Hostile input: property tests on the event parser, names of any
characters round-tripping exactly through real Redis without touching any
other key, and the key-space limits answered with a clear 400."""

from __future__ import annotations

import json

import pytest
import redis
from chalice.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lamed.core import keys
from lamed.core.counting import COUNTED
from lamed.core.errors import InvalidInput, SettingsError
from lamed.core.events import MAX_NAME_CHARS, Event, event_from_mapping, parse_body
from lamed.core.settings import Settings
from lamed.store.results import open_store
from lamed.web import runtime

FIELDS = Event._fields

# Names Alephbet users write, and names built to break a key schema.
tricky = st.sampled_from(
    ["my a/b test", "a:b", "{tag}", "}{", '"', "\\", "lamed:namespaces", "ns:counts:x", "\u00e9\u2603"]
)
names = st.one_of(tricky, st.text(min_size=1, max_size=40))
values = st.one_of(st.none(), st.integers(), st.booleans(), st.lists(st.integers(), max_size=2), st.text(max_size=250))


@given(st.dictionaries(st.sampled_from(FIELDS + ("extra",)), values))
def test_parser_accepts_exactly_or_refuses_with_a_field(data):
    try:
        event = event_from_mapping(data)
    except InvalidInput as error:
        assert error.field in FIELDS and error.message
        return
    for field in FIELDS:
        assert getattr(event, field) == data.get(field, "alephbet" if field == "namespace" else None)


@given(st.binary(max_size=300) | st.builds(lambda v: json.dumps(v).encode(), st.recursive(values, st.lists)))
def test_body_parser_never_raises_anything_but_invalid_input(raw):
    try:
        parsed = parse_body(raw, "application/json")
    except InvalidInput as error:
        assert error.field
        return
    assert all(isinstance(item, (Event, InvalidInput)) for item in parsed.items)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(names, names, names, names), min_size=1, max_size=6))
def test_names_round_trip_exactly_and_touch_no_other_key(redis_url, identities):
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    store = open_store(Settings(redis_url=redis_url))
    events = [Event(ns, exp, variant, goal, "u") for ns, exp, variant, goal in identities]
    store.track_many(events)
    expected: dict = {}
    for event in set(events):
        expected.setdefault((event.namespace, event.experiment), set()).add((event.event, event.variant))
    for (namespace, experiment), pairs in expected.items():
        assert set(store.experiment(namespace, experiment).totals) == pairs
        assert experiment in store.experiment_names(namespace)
    assert set(store.namespaces()) == {namespace for namespace, _ in expected}
    allowed = {keys.DEFAULT_KEYS.namespaces, keys.DEFAULT_KEYS.experiment_index}
    for namespace, experiment in expected:
        allowed |= {
            keys.DEFAULT_KEYS.counts_key(namespace, experiment),
            keys.DEFAULT_KEYS.variants_key(namespace, experiment),
        }
        if any(goal != "participate" for goal, _ in expected[namespace, experiment]):
            allowed.add(keys.DEFAULT_KEYS.goals_key(namespace, experiment))
        allowed.add(keys.DEFAULT_KEYS.experiments_key(namespace))
    flags = {keys.DEFAULT_KEYS.flag(*event) for event in events}
    assert set(client.keys("*")) == allowed | flags
    client.close()
    store.client.close()


@pytest.fixture
def limited_client(settings):
    limited = settings.replace(max_experiments_per_namespace=2, max_variants_per_experiment=2)
    runtime.install(limited, runtime.build_store(limited))
    from app import app

    with Client(app) as client:
        yield client
    runtime.install(settings.replace(redis_url=None))


def _track(client, experiment: str, variant: str) -> tuple:
    response = client.http.get(f"/track?experiment={experiment}&variant={variant}&event=participate&uuid=u")
    return response.status_code, json.loads(response.body)


def _refused(body: dict, setting: str) -> bool:
    return body["status"] == "refused" and body["limit"] == setting and setting in body["error"]


def test_limits_refuse_new_experiments_and_variants_with_a_200_naming_the_setting(limited_client):
    """Refused, not an error: Alephbet resends anything but a 200 on every
    page load, and a limit does not go away by itself."""
    assert _track(limited_client, "one", "A") == (200, {"status": COUNTED})
    assert _track(limited_client, "two", "A")[0] == 200
    status, body = _track(limited_client, "three", "A")
    assert status == 200 and _refused(body, "max_experiments_per_namespace") and body["field"] == "experiment"
    assert "LAMED_MAX_EXPERIMENTS_PER_NAMESPACE" in body["error"]
    assert _track(limited_client, "one", "B")[0] == 200
    status, body = _track(limited_client, "one", "C")
    assert status == 200 and _refused(body, "max_variants_per_experiment") and body["field"] == "variant"
    assert _track(limited_client, "one", "A")[0] == 200  # known names still count (as duplicates here)
    assert _track(limited_client, "three", "A")[1]["status"] == "refused"  # still refused: nothing was written


def test_one_batch_cannot_jump_the_experiment_limit_and_the_rest_still_counts(limited_client):
    batch = [{"experiment": f"e{i}", "variant": "A", "event": "participate", "uuid": "u"} for i in range(3)]
    response = limited_client.http.post("/track", body=json.dumps(batch), headers={"content-type": "application/json"})
    assert response.status_code == 200
    answer = json.loads(response.body)
    assert [result["status"] for result in answer["results"]] == ["counted", "counted", "refused"]
    assert (answer["counted"], answer["refused"]) == (2, 1)
    assert _refused(answer["results"][2], "max_experiments_per_namespace")


def test_name_length_limit_is_a_400(limited_client):
    status, body = _track(limited_client, "x" * (MAX_NAME_CHARS + 1), "A")
    assert status == 400 and body["field"] == "experiment"


def test_limits_are_settings_with_defaults():
    assert Settings().max_experiments_per_namespace == 1000
    assert Settings().max_variants_per_experiment == 50


def _client_with(settings) -> Client:
    runtime.install(settings, runtime.build_store(settings))
    from app import app

    return Client(app)


def test_allowed_namespaces_refuse_every_other_namespace(settings):
    with _client_with(settings.replace(allowed_namespaces=("shop", "alephbet"))) as client:
        assert _track(client, "e", "A") == (200, {"status": COUNTED})  # the default namespace, allowed
        response = client.http.get("/track?namespace=spam&experiment=e&variant=A&event=participate&uuid=u")
        body = json.loads(response.body)
        assert response.status_code == 200 and _refused(body, "allowed_namespaces") and body["field"] == "namespace"
        assert "LAMED_ALLOWED_NAMESPACES" in body["error"]
    assert runtime.store().namespaces() == ["alephbet"]  # nothing written for spam
    runtime.install(settings.replace(redis_url=None))


def test_count_only_defined_refuses_experiments_without_a_definition(settings):
    headers = {"x-api-key": settings.api_key, "content-type": "application/json"}
    with _client_with(settings.replace(count_only_defined=True)) as client:
        definition = json.dumps({"variants": {"A": 1, "B": 1}, "status": "running"})
        assert client.http.put("/definitions/defined", body=definition, headers=headers).status_code == 201
        assert _track(client, "defined", "A") == (200, {"status": COUNTED})
        status, body = _track(client, "undefined", "A")
        assert status == 200 and _refused(body, "count_only_defined") and body["field"] == "experiment"
    assert runtime.store().experiment_names("alephbet") == ["defined"]
    runtime.install(settings.replace(redis_url=None))


def test_strict_settings_read_from_the_environment(tmp_path):
    from lamed.core.settings import load_settings

    environ = {
        "LAMED_ALLOWED_NAMESPACES": "shop, blog",
        "LAMED_COUNT_ONLY_DEFINED": "true",
        "LAMED_MAX_NAMESPACES": "7",
    }
    loaded = load_settings(tmp_path / "none.json", environ)
    assert (loaded.allowed_namespaces, loaded.count_only_defined, loaded.max_namespaces) == (("shop", "blog"), True, 7)
    with pytest.raises(SettingsError):
        load_settings(tmp_path / "none.json", {"LAMED_COUNT_ONLY_DEFINED": "maybe"})
    with pytest.raises(SettingsError):
        load_settings(tmp_path / "none.json", {"LAMED_MAX_GOALS_PER_EXPERIMENT": "0"})
