"""Parsing and validation of tracking events: query strings, JSON, batches.

Knows nothing of HTTP frameworks or Redis: it turns plain mappings and bytes
into :class:`Event` values or raises :class:`InvalidInput` naming the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from math import isfinite
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

# A goal event's value (revenue, say): a finite number of at most
# VALUE_DECIMALS decimal places and magnitude at most MAX_VALUE, negative
# for a refund. Stored exactly as an integer of micro-units (10**-6); the
# range keeps a large order in any currency (a billion dong, yen or rupiah)
# and the sums of docs/counting.md ("Values") exact.
VALUE_DECIMALS = 6
VALUE_UNIT: int = 10**VALUE_DECIMALS  # micro-units per unit
MAX_VALUE = 10**9
_MAX_VALUE_CHARS = 40  # a query string's value: longer text is no number within the range
_DECIMAL = re.compile(r"([+-]?)([0-9]+)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]{1,6}))?")

JSON_CONTENT_TYPES = ("application/json", "text/plain")


class Event(NamedTuple):
    """One tracking event. ``value`` (a goal's, in micro-units, see
    VALUE_UNIT) is not part of its identity: a resend with another value is
    a duplicate and the first value stands."""

    namespace: str
    experiment: str
    variant: str
    event: str
    uuid: str
    value: int | None = None


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


def event_from_mapping(data: Mapping[str, object], prefix: str = "", query: bool = False) -> Event:
    """Builds an event from a query string or one JSON object.

    ``namespace`` defaults to Alephbet's ``alephbet``; unknown fields (cache
    busters and the like) are ignored. ``prefix`` goes before field names
    in errors (``events[3].``). ``value`` is a JSON number, or in a query
    string (``query``) its decimal text (see :func:`check_value`).
    """
    event = Event(
        check_text("namespace", data.get("namespace", DEFAULT_NAMESPACE), MAX_NAME_CHARS, prefix),
        check_text("experiment", data.get("experiment"), MAX_NAME_CHARS, prefix),
        check_text("variant", data.get("variant"), MAX_NAME_CHARS, prefix),
        check_text("event", data.get("event"), MAX_NAME_CHARS, prefix),
        check_text("uuid", data.get("uuid"), MAX_UUID_CHARS, prefix),
    )
    value = data.get("value")
    if value is None:
        return event
    if event.event == PARTICIPATE:
        raise InvalidInput(
            f"{prefix}value is not allowed on a {PARTICIPATE} event (only goals carry a value)", prefix + "value"
        )
    if isinstance(value, str) and not query:
        raise InvalidInput(f"{prefix}value must be a number (a JSON number, not a string)", prefix + "value")
    return event._replace(value=check_value(value, prefix + "value"))


def check_value(value: object, name: str = "value") -> int:
    """A goal's value in micro-units: a JSON number (not a boolean), or the
    decimal text of one (a query string), finite, of magnitude at most
    MAX_VALUE and at most VALUE_DECIMALS decimal places; else InvalidInput
    naming ``name``. Exact: the number's decimal text is read digit by
    digit (a float by its shortest repr), never through binary rounding."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidInput(f"{name} must be a number", name)
    if isinstance(value, int):
        if abs(value) > MAX_VALUE:
            raise InvalidInput(f"{name} must be between -{MAX_VALUE} and {MAX_VALUE}", name)
        return value * VALUE_UNIT
    if isinstance(value, float) and not isfinite(value):
        raise InvalidInput(f"{name} must be a finite number", name)
    return _micro_units(repr(value) if isinstance(value, float) else value, name)


def _micro_units(text: str, name: str) -> int:
    """The decimal ``text`` in micro-units (see :func:`check_value`)."""
    match = _DECIMAL.fullmatch(text) if len(text) <= _MAX_VALUE_CHARS else None
    if match is None:
        word = text.strip().lower().lstrip("+-")
        if word in ("nan", "inf", "infinity"):
            raise InvalidInput(f"{name} must be a finite number", name)
        raise InvalidInput(f"{name} must be a number", name)
    sign, whole, fraction, exponent = match.groups()
    fraction = fraction or ""
    digits = (whole + fraction).lstrip("0").rstrip("0") or "0"
    # digits * 10**scale is the value; trailing zeros moved into the scale.
    scale = int(exponent or 0) - len(fraction) + len((whole + fraction).lstrip("0")) - len(digits)
    if digits != "0" and scale + VALUE_DECIMALS < 0:
        raise InvalidInput(f"{name} has more than {VALUE_DECIMALS} decimal places", name)
    if digits != "0" and len(digits) + scale > len(str(MAX_VALUE)):
        raise InvalidInput(f"{name} must be between -{MAX_VALUE} and {MAX_VALUE}", name)
    micro = 0 if digits == "0" else int(digits) * 10 ** (scale + VALUE_DECIMALS)
    if micro > MAX_VALUE * VALUE_UNIT:
        raise InvalidInput(f"{name} must be between -{MAX_VALUE} and {MAX_VALUE}", name)
    return -micro if sign == "-" else micro


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
