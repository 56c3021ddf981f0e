"""Parsing and validation of tracking events: query strings, JSON, batches.

Knows nothing of HTTP frameworks or Redis: it turns plain mappings and bytes
into :class:`Event` values or raises :class:`InvalidInput` naming the field.
"""

from __future__ import annotations

import json
from collections import namedtuple
from collections.abc import Mapping

# Plain tuples and no typing/dataclasses imports: this module is on the Lambda
# track path, where dataclasses alone would add 10 ms to every cold start.

DEFAULT_NAMESPACE = "alephbet"
PARTICIPATE = "participate"

MAX_NAME_CHARS = 200
MAX_UUID_CHARS = 128
MAX_BATCH_EVENTS = 500
MAX_BODY_BYTES = 1024 * 1024
SHORT_EVENT_CHARS = min(MAX_NAME_CHARS, MAX_UUID_CHARS)  # all five fields together

FIELDS = ("namespace", "experiment", "variant", "event", "uuid")
JSON_CONTENT_TYPES = ("application/json", "text/plain")


class InvalidInput(ValueError):
    """Input the client must fix; ``field`` names the culprit (or is None)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict:
        return {"error": self.message, "field": self.field}


class Event(namedtuple("Event", FIELDS)):
    """One tracking event: namespace, experiment, variant, event, uuid."""

    __slots__ = ()

    @property
    def is_participation(self) -> bool:
        return self.event == PARTICIPATE


def _check_text(field: str, value: object, limit: int, prefix: str = "") -> str:
    name = prefix + field
    if value is None:
        raise InvalidInput(f"{name} is required", name)
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string", name)
    if value == "":
        raise InvalidInput(f"{name} must not be empty", name)
    if len(value) > limit:
        raise InvalidInput(f"{name} is longer than {limit} characters", name)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{name} is not valid UTF-8", name) from None
    return value


def event_from_mapping(data: Mapping[str, object], prefix: str = "") -> Event:
    """Builds an event from a query string or one JSON object.

    ``namespace`` defaults to Alephbet's ``alephbet``; unknown fields (cache
    busters and the like) are ignored. ``prefix`` goes before field names
    in errors (``events[3].``).
    """
    return _plain_event(data) or Event(
        _check_text("namespace", data.get("namespace", DEFAULT_NAMESPACE), MAX_NAME_CHARS, prefix),
        _check_text("experiment", data.get("experiment"), MAX_NAME_CHARS, prefix),
        _check_text("variant", data.get("variant"), MAX_NAME_CHARS, prefix),
        _check_text("event", data.get("event"), MAX_NAME_CHARS, prefix),
        _check_text("uuid", data.get("uuid"), MAX_UUID_CHARS, prefix),
    )


def _plain_event(data: Mapping[str, object]) -> Event | None:
    """The common event, checked in one expression (a batch checks hundreds):
    five short ASCII strings, so each is within its limit. None for anything
    else, which the field-by-field checks then accept or explain."""
    namespace = data.get("namespace", DEFAULT_NAMESPACE)
    experiment, variant, event, uuid = data.get("experiment"), data.get("variant"), data.get("event"), data.get("uuid")
    if namespace.__class__ is experiment.__class__ is variant.__class__ is event.__class__ is uuid.__class__ is str:
        joined = namespace + experiment + variant + event + uuid
        if (
            namespace
            and experiment
            and variant
            and event
            and uuid
            and len(joined) <= SHORT_EVENT_CHARS
            and joined.isascii()
        ):
            return Event._make((namespace, experiment, variant, event, uuid))  # _make: faster than Event(...)
    return None


# A POST body: one event, or a batch whose items (Event or InvalidInput) parsed one by one.
ParsedBody = namedtuple("ParsedBody", "is_batch items")


def parse_body(raw: bytes, content_type: str | None) -> ParsedBody:
    """Parses a POST /track body.

    A body that is not JSON, not an object or list, empty or too big is
    refused whole. In a batch, each item is validated on its own so one bad
    event does not hold back the valid ones.
    """
    _check_content_type(content_type)
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidInput(f"body is larger than {MAX_BODY_BYTES} bytes", "body")
    document = _decode_json(raw)
    if isinstance(document, dict) and "events" in document:
        document = document["events"]
        if not isinstance(document, list):
            raise InvalidInput("events must be a list", "events")
    if isinstance(document, dict):
        return ParsedBody(False, [event_from_mapping(document)])
    if not isinstance(document, list):
        raise InvalidInput("body must be a JSON object or a list of objects", "body")
    if not document:
        raise InvalidInput("batch is empty", "events")
    if len(document) > MAX_BATCH_EVENTS:
        raise InvalidInput(f"batch has more than {MAX_BATCH_EVENTS} events", "events")
    items = [
        (item.__class__ is dict and _plain_event(item)) or _batch_item(index, item)
        for index, item in enumerate(document)
    ]
    return ParsedBody(True, items)


def _batch_item(index: int, item: object) -> Event | InvalidInput:
    """An item that is not a plain event: an event after all, or what is wrong."""
    if not isinstance(item, dict):
        return InvalidInput(f"events[{index}] must be an object", f"events[{index}]")
    try:
        return event_from_mapping(item, f"events[{index}].")
    except InvalidInput as error:
        return error


def _check_content_type(content_type: str | None) -> None:
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type not in JSON_CONTENT_TYPES:
        raise InvalidInput(
            "content type must be application/json (or text/plain holding JSON)",
            "content-type",
        )


def _decode_json(raw: bytes) -> object:
    if not raw.strip():
        raise InvalidInput("body is empty", "body")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise InvalidInput(f"body is not valid JSON: {error}", "body") from None
