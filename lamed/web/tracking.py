"""The ``/track`` endpoint without a web framework: request parts in, a
:class:`~lamed.web.replies.Reply` out.

``GET /track`` takes one event exactly as Alephbet's LamedAdapter sends it,
``POST /track`` one event or a batch, ``OPTIONS`` is the CORS preflight.
:func:`track_http` is the one parser of /track requests: the Lambda handler
calls it directly (no Chalice, no redis-py on a cold start) with the parts of
an API Gateway event, the Chalice route in :mod:`lamed.web.routes.tracking`
with the parts of its request.

Each request's events by outcome go to :data:`lamed.core.observe.watching`
(the metrics of ``lamed serve`` and of the function): OUTCOMES, a fixed set.
A request refused whole (a 400 before any event was read) is one
``invalid``; one answered 503 counts its events ``unavailable``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from operator import itemgetter
from typing import Any

from lamed.core import observe
from lamed.core.counting import COUNTED, DUPLICATE, REFUSED, Outcome
from lamed.core.errors import InvalidInput, LimitExceeded, SettingsError, StoreUnavailable
from lamed.core.events import Event, check_utf8, event_from_mapping, parse_body
from lamed.web import runtime
from lamed.web.replies import ANSWERED_ERRORS, PUBLIC_CORS, Reply, json_reply, reply_for, security_headers

TRACK_PATH = "/track"
TRACK_METHODS = ("GET", "POST", "OPTIONS")
INVALID = "invalid"
NOT_COUNTED = "not_counted"
UNAVAILABLE = "unavailable"  # answered 503: the client sends it again
OUTCOMES = (COUNTED, DUPLICATE, REFUSED, NOT_COUNTED, INVALID, UNAVAILABLE)
STATUSES = (COUNTED, DUPLICATE, INVALID)  # every batch answer counts these (and NOT_COUNTED when there are any)
_EXPERIMENT = itemgetter(0, 1)  # an Event's (namespace, experiment)


def track_http(method: str, query: Mapping[str, str] | str, headers: Mapping[str, str], body: bytes) -> Reply:
    """One request to /track from its HTTP parts: ``method`` one of
    TRACK_METHODS, ``query`` the parameters (the last of repeated ones) or
    the raw query string, ``headers`` in any case, ``body`` as received
    (read for POST only). Bad input is a 400 naming the field."""
    lowered = {name.lower(): value for name, value in headers.items()}
    reply = track(method, query, body if method == "POST" else b"", lowered.get("content-type"))
    return reply._replace(headers={**reply.headers, **security_headers(lowered)})


def query_parameters(query: str) -> list[tuple[str, str]]:
    """A raw query string's parameters in order, UTF-8 after percent-decoding
    (``query`` holds invalid bytes as surrogates, ``surrogateescape``), or
    InvalidInput naming the parameter."""
    from urllib.parse import parse_qsl  # only callers with a raw query string pay for it

    pairs = parse_qsl(query, keep_blank_values=True, errors="surrogateescape")
    for name, value in pairs:
        field = name.encode("utf-8", "replace").decode("utf-8")
        check_utf8(field, name)
        check_utf8(field, value)
    return pairs


def track(method: str, query: Mapping[str, str] | str, body: bytes, content_type: str | None) -> Reply:
    """One request to /track; ``method`` is one of TRACK_METHODS, ``query``
    as :func:`track_http` takes it."""
    if method == "OPTIONS":
        return Reply(204, "", PUBLIC_CORS)
    try:
        params = dict(query_parameters(query)) if isinstance(query, str) else query
        return track_query(params) if method == "GET" else track_posted(body, content_type)
    except ANSWERED_ERRORS as error:
        if isinstance(error, InvalidInput):
            observe.watching.events({INVALID: 1})
        return reply_for(error, PUBLIC_CORS)


def track_query(params: Mapping[str, str]) -> Reply:
    """``GET /track``: one event from the query string."""
    event = event_from_mapping(params, query=True)
    with _unavailable(1):
        skipped = _not_counted([event]).get(_EXPERIMENT(event))
        answer = skipped or _answer(runtime.tracker().track(event))
    observe.watching.events({answer["status"]: 1})
    return json_reply(answer, 200, PUBLIC_CORS)


def track_posted(body: bytes, content_type: str | None) -> Reply:
    """``POST /track``: one event, or a batch answered item by item."""
    parsed = parse_body(body, content_type)
    events = [item for item in parsed.items if item.__class__ is Event]
    with _unavailable(len(parsed.items)):
        skipped = _not_counted(events)
        counted = [event for event in events if _EXPERIMENT(event) not in skipped] if skipped else events
        outcomes = iter(runtime.tracker().track_many(counted) if counted else ())
    results = [
        {"status": INVALID, **item.to_dict()}
        if item.__class__ is not Event
        else skipped.get(_EXPERIMENT(item)) or _answer(next(outcomes))
        for item in parsed.items
    ]
    tally = Counter(map(itemgetter("status"), results))
    observe.watching.events(tally)
    if not parsed.is_batch:
        return json_reply(results[0], 200, PUBLIC_CORS)
    summary = {status: tally[status] for status in STATUSES}
    for status in (NOT_COUNTED, REFUSED):  # only when there are any, so the usual batch keeps its shape
        if tally[status]:
            summary[status] = tally[status]
    return json_reply({**summary, "results": results}, 400 if summary[INVALID] else 200, PUBLIC_CORS)


@contextmanager
def _unavailable(items: int) -> Iterator[None]:
    """A 503 inside counts the request's ``items`` unavailable."""
    try:
        yield
    except (StoreUnavailable, SettingsError) as error:
        observe.watching.events({UNAVAILABLE: items})
        observe.watching.unavailable(f"{type(error).__name__}: {error}")
        raise


def _answer(outcome: Outcome) -> dict[str, Any]:
    """An event's answer. An event over a limit is answered 200 ``refused``:
    Alephbet resends anything but a 200 on every page load, and a limit does
    not go away by itself; the answer names the setting that raises it."""
    if isinstance(outcome, LimitExceeded):
        return {"status": REFUSED, "limit": outcome.setting, **outcome.to_dict()}
    return {"status": outcome}


def _not_counted(events: list[Event]) -> dict[tuple[str, str], dict[str, Any]]:
    """Answers for events that are not counted, by experiment: a paused or
    stopped experiment (200 ``not_counted``), and with ``count_only_defined``
    an experiment without a definition (refused). One lookup in the
    process's definitions snapshot per experiment of the batch."""
    answers = {}
    snapshot = runtime.definitions()
    only_defined = runtime.settings().count_only_defined
    for namespace, experiment in set(map(_EXPERIMENT, events)):
        reason = snapshot.not_counted_reason(namespace, experiment)
        if reason:
            answers[namespace, experiment] = {"status": NOT_COUNTED, "reason": reason}
        elif only_defined and snapshot.definition(namespace, experiment) is None:
            answers[namespace, experiment] = _answer(_UNDEFINED)
    return answers


_UNDEFINED = LimitExceeded(
    "experiment has no definition and count_only_defined (LAMED_COUNT_ONLY_DEFINED) is on",
    "experiment",
    setting="count_only_defined",
)
