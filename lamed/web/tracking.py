"""The ``/track`` endpoint without a web framework: request parts in, a
:class:`~lamed.web.replies.Reply` out.

``GET /track`` takes one event exactly as Alephbet's LamedAdapter sends it,
``POST /track`` one event or a batch, ``OPTIONS`` is the CORS preflight.
The Lambda handler calls this directly (no Chalice, no redis-py on a cold
start); the Chalice route in :mod:`lamed.web.routes.tracking` wraps it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from operator import itemgetter

from lamed.core.counting import COUNTED, DUPLICATE
from lamed.core.events import Event, event_from_mapping, parse_body
from lamed.web import runtime
from lamed.web.replies import ANSWERED_ERRORS, PUBLIC_CORS, Reply, json_reply, reply_for

TRACK_PATH = "/track"
TRACK_METHODS = ("GET", "POST", "OPTIONS")
INVALID = "invalid"
NOT_COUNTED = "not_counted"
STATUSES = (COUNTED, DUPLICATE, INVALID)  # every batch answer counts these (and NOT_COUNTED when there are any)
_EXPERIMENT = itemgetter(0, 1)  # an Event's (namespace, experiment)


def track(method: str, query: Mapping[str, str], body: bytes, content_type: str | None) -> Reply:
    """One request to /track; ``method`` is one of TRACK_METHODS."""
    if method == "OPTIONS":
        return Reply(204, "", PUBLIC_CORS)
    try:
        return track_query(query) if method == "GET" else track_posted(body, content_type)
    except ANSWERED_ERRORS as error:
        return reply_for(error, PUBLIC_CORS)


def track_query(params: Mapping[str, str]) -> Reply:
    """``GET /track``: one event from the query string."""
    event = event_from_mapping(params)
    skipped = _not_counted([event]).get(_EXPERIMENT(event))
    if skipped:
        return json_reply(skipped, 200, PUBLIC_CORS)
    return json_reply({"status": runtime.tracker().track(event)}, 200, PUBLIC_CORS)


def track_posted(body: bytes, content_type: str | None) -> Reply:
    """``POST /track``: one event, or a batch answered item by item."""
    parsed = parse_body(body, content_type)
    events = [item for item in parsed.items if item.__class__ is Event]
    skipped = _not_counted(events)
    counted = [event for event in events if _EXPERIMENT(event) not in skipped] if skipped else events
    outcomes = iter(runtime.tracker().track_many(counted) if counted else ())
    if len(counted) == len(parsed.items):  # the usual batch: every item an event to count
        results = [{"status": outcome} for outcome in outcomes]
    else:
        results = [
            {"status": INVALID, **item.to_dict()}
            if item.__class__ is not Event
            else skipped.get(_EXPERIMENT(item)) or {"status": next(outcomes)}
            for item in parsed.items
        ]
    if not parsed.is_batch:
        return json_reply(results[0], 200, PUBLIC_CORS)
    tally = Counter(map(itemgetter("status"), results))
    summary = {status: tally[status] for status in STATUSES}
    if tally[NOT_COUNTED]:  # only then, so batches of experiments without definitions keep their shape
        summary[NOT_COUNTED] = tally[NOT_COUNTED]
    return json_reply({**summary, "results": results}, 400 if summary[INVALID] else 200, PUBLIC_CORS)


def _not_counted(events: list) -> dict:
    """Events of a paused or stopped experiment get a 200 that says so,
    without being counted: (namespace, experiment) -> that answer, for
    those experiments only. One lookup in the process's definitions
    snapshot per experiment of the batch."""
    answers = {}
    snapshot = runtime.definitions()
    for namespace, experiment in set(map(_EXPERIMENT, events)):
        reason = snapshot.not_counted_reason(namespace, experiment)
        if reason:
            answers[namespace, experiment] = {"status": NOT_COUNTED, "reason": reason}
    return answers
