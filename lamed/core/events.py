"""Parsing and validation of tracking events: query strings, JSON, batches.

Knows nothing of HTTP frameworks or Redis: it turns plain mappings and bytes
into :class:`Event` values or raises :class:`InvalidInput` naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import NamedTuple

from lamed.core.errors import InvalidInput

# Named tuples, not dataclasses: this module is on the Lambda track path,
# where importing dataclasses adds 17-25 ms to a cold start.

DEFAULT_NAMESPACE = "alephbet"
PARTICIPATE = "participate"

MAX_NAME_CHARS = 200
MAX_UUID_CHARS = 128
MAX_BATCH_EVENTS = 500
MAX_BODY_BYTES = 1024 * 1024

JSON_CONTENT_TYPES = ("application/json", "text/plain")


class Event(NamedTuple):
    """One tracking event."""

    namespace: str
    experiment: str
    variant: str
    event: str
    uuid: str


def check_text(field: str, value: object, limit: int = MAX_NAME_CHARS, prefix: str = "") -> str:
    """``value`` if it is a non-empty UTF-8 string within ``limit``; else
    InvalidInput naming ``prefix + field``."""
    name = prefix + field
    if value is None:
        raise InvalidInput(f"{name} is required", name)
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string", name)
    if value == "":
        raise InvalidInput(f"{name} must not be empty", name)
    if len(value) > limit:
        raise InvalidInput(f"{name} is longer than {limit} characters", name)
    return check_utf8(name, value)


def check_utf8(field: str, value: str) -> str:
    """``value`` unless it holds a lone surrogate (what invalid UTF-8
    decodes to with ``surrogateescape``); else InvalidInput naming ``field``."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{field} is not valid UTF-8", field) from None
    return value


def namespace_or_default(value: object, default: str = DEFAULT_NAMESPACE) -> str:
    """The namespace a request names (checked as every name), or ``default``
    when it names none."""
    return check_text("namespace", default if value is None else value)


def event_from_mapping(data: Mapping[str, object], prefix: str = "") -> Event:
    """Builds an event from a query string or one JSON object.

    ``namespace`` defaults to Alephbet's ``alephbet``; unknown fields (cache
    busters and the like) are ignored. ``prefix`` goes before field names
    in errors (``events[3].``).
    """
    return Event(
        check_text("namespace", data.get("namespace", DEFAULT_NAMESPACE), MAX_NAME_CHARS, prefix),
        check_text("experiment", data.get("experiment"), MAX_NAME_CHARS, prefix),
        check_text("variant", data.get("variant"), MAX_NAME_CHARS, prefix),
        check_text("event", data.get("event"), MAX_NAME_CHARS, prefix),
        check_text("uuid", data.get("uuid"), MAX_UUID_CHARS, prefix),
    )


# A POST body: one event, or a batch whose items (Event or InvalidInput) parsed one by one.
class ParsedBody(NamedTuple):
    is_batch: bool
    items: list[Event | InvalidInput]


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
    return ParsedBody(True, [_batch_item(index, item) for index, item in enumerate(document)])


def _batch_item(index: int, item: object) -> Event | InvalidInput:
    """A batch item: its event, or what is wrong with it."""
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
