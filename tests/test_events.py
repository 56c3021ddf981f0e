"""Parsing and validation of tracking events (pure, no Redis)."""

import json

import pytest

from lamed.core.errors import InvalidInput
from lamed.core.events import (
    MAX_BATCH_EVENTS,
    MAX_BODY_BYTES,
    MAX_NAME_CHARS,
    MAX_UUID_CHARS,
    PARTICIPATE,
    Event,
    event_from_mapping,
    parse_body,
)

GOOD = {"namespace": "ns", "experiment": "my a/b test", "variant": "red", "event": "participate", "uuid": "u-1"}


def test_query_event_keeps_names_exactly():
    event = event_from_mapping({**GOOD, "experiment": "ünï: {c}/ode 🎉", "variant": "a:b"})
    assert event == Event("ns", "ünï: {c}/ode 🎉", "a:b", "participate", "u-1")
    assert event.event == PARTICIPATE


def test_namespace_defaults_to_alephbet_and_unknown_fields_are_ignored():
    data = {k: v for k, v in GOOD.items() if k != "namespace"}
    event = event_from_mapping({**data, "_": "cache-buster"})
    assert event.namespace == "alephbet"


@pytest.mark.parametrize("field", ["experiment", "variant", "event", "uuid"])
def test_missing_field_is_named(field):
    data = {k: v for k, v in GOOD.items() if k != field}
    with pytest.raises(InvalidInput) as caught:
        event_from_mapping(data)
    assert caught.value.field == field
    assert field in caught.value.message


@pytest.mark.parametrize("field", ["namespace", "experiment", "variant", "event", "uuid"])
def test_empty_field_is_refused(field):
    with pytest.raises(InvalidInput) as caught:
        event_from_mapping({**GOOD, field: ""})
    assert caught.value.field == field


@pytest.mark.parametrize(
    "field, limit", [("experiment", MAX_NAME_CHARS), ("variant", MAX_NAME_CHARS), ("uuid", MAX_UUID_CHARS)]
)
def test_length_limits(field, limit):
    assert getattr(event_from_mapping({**GOOD, field: "é" * limit}), field) == "é" * limit
    with pytest.raises(InvalidInput) as caught:
        event_from_mapping({**GOOD, field: "é" * (limit + 1)})
    assert caught.value.field == field


@pytest.mark.parametrize("value", [1, 1.5, None, ["a"], {"a": 1}, True])
def test_non_string_json_values_are_refused(value):
    with pytest.raises(InvalidInput) as caught:
        event_from_mapping({**GOOD, "variant": value})
    assert caught.value.field == "variant"


def test_lone_surrogate_is_not_utf8():
    body = json.dumps({**GOOD, "variant": "\ud800"}).encode()
    with pytest.raises(InvalidInput) as caught:
        parse_body(body, "application/json")
    assert caught.value.field == "variant"


def test_single_event_body():
    parsed = parse_body(json.dumps(GOOD).encode(), "application/json; charset=utf-8")
    assert not parsed.is_batch
    assert parsed.items == [event_from_mapping(GOOD)]


def test_text_plain_body_is_accepted_for_beacons():
    assert parse_body(json.dumps(GOOD).encode(), "text/plain").items[0].uuid == "u-1"


@pytest.mark.parametrize("document", [[GOOD, GOOD], {"events": [GOOD, GOOD]}])
def test_batch_forms(document):
    parsed = parse_body(json.dumps(document).encode(), "application/json")
    assert parsed.is_batch and len(parsed.items) == 2


def test_batch_items_are_validated_one_by_one():
    parsed = parse_body(json.dumps([GOOD, {**GOOD, "uuid": 5}, "x"]).encode(), "application/json")
    good, bad_uuid, not_object = parsed.items
    assert isinstance(good, Event)
    assert isinstance(bad_uuid, InvalidInput) and bad_uuid.field == "events[1].uuid"
    assert isinstance(not_object, InvalidInput) and not_object.field == "events[2]"


@pytest.mark.parametrize(
    "body, content_type, field",
    [
        (b"{", "application/json", "body"),
        (b"", "application/json", "body"),
        (b"   ", "application/json", "body"),
        (b"\xff\xfe", "application/json", "body"),
        (b'"just a string"', "application/json", "body"),
        (b"42", "application/json", "body"),
        (b"[]", "application/json", "events"),
        (b'{"events": {}}', "application/json", "events"),
        (json.dumps(GOOD).encode(), "application/xml", "content-type"),
        (json.dumps(GOOD).encode(), None, "content-type"),
        (b"[" * 100000, "application/json", "body"),
    ],
)
def test_malformed_bodies(body, content_type, field):
    with pytest.raises(InvalidInput) as caught:
        parse_body(body, content_type)
    assert caught.value.field == field


def test_batch_size_limit():
    ok = json.dumps([GOOD] * MAX_BATCH_EVENTS).encode()
    assert len(parse_body(ok, "application/json").items) == MAX_BATCH_EVENTS
    with pytest.raises(InvalidInput) as caught:
        parse_body(json.dumps([GOOD] * (MAX_BATCH_EVENTS + 1)).encode(), "application/json")
    assert caught.value.field == "events"


def test_body_size_limit():
    with pytest.raises(InvalidInput) as caught:
        parse_body(b" " * (MAX_BODY_BYTES + 1), "application/json")
    assert caught.value.field == "body"
