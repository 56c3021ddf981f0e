"""The ``/track`` endpoint without a web framework: request parts in, a
:class:`~lamed.replies.Reply` out.

``GET /track`` takes one event exactly as Alephbet's LamedAdapter sends it,
``POST /track`` one event or a batch, ``OPTIONS`` is the CORS preflight.
The Lambda handler calls this directly (no Chalice, no redis-py on a cold
start); the Chalice route in :mod:`lamed.routes.tracking` wraps it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from lamed import runtime
from lamed.events import InvalidInput, event_from_mapping, parse_body
from lamed.lifecycle import not_counted_reason
from lamed.replies import ANSWERED_ERRORS, PUBLIC_CORS, Reply, json_reply, reply_for

TRACK_PATH = "/track"
TRACK_METHODS = ("GET", "POST", "OPTIONS")
NOT_COUNTED = "not_counted"
STATUSES = ("counted", "duplicate", "invalid")


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
    skipped = _not_counted(event, {})
    if skipped:
        return json_reply(skipped, 200, PUBLIC_CORS)
    return json_reply({"status": runtime.tracker().track(event)}, 200, PUBLIC_CORS)


def track_posted(body: bytes, content_type: str | None) -> Reply:
    """``POST /track``: one event, or a batch answered item by item."""
    parsed = parse_body(body, content_type)
    experiments: dict = {}
    skipped = [_not_counted(item, experiments) for item in parsed.items]
    valid = [item for item, skip in zip(parsed.items, skipped) if not skip and not isinstance(item, InvalidInput)]
    outcomes = iter(runtime.tracker().track_many(valid)) if valid else iter(())
    if not parsed.is_batch:
        return json_reply(skipped[0] or {"status": next(outcomes)}, 200, PUBLIC_CORS)
    results = []
    for item, skip in zip(parsed.items, skipped):
        if isinstance(item, InvalidInput):
            results.append({"status": "invalid", **item.to_dict()})
        elif skip:
            results.append(skip)
        else:
            results.append({"status": next(outcomes)})
    tally = Counter(result["status"] for result in results)
    summary = {status: tally[status] for status in STATUSES}
    if tally[NOT_COUNTED]:  # only then, so batches of experiments without definitions keep their shape
        summary[NOT_COUNTED] = tally[NOT_COUNTED]
    return json_reply({**summary, "results": results}, 400 if summary["invalid"] else 200, PUBLIC_CORS)


def _not_counted(item: object, seen: dict) -> dict | None:
    """Events of a paused or stopped experiment get a 200 that says so,
    without being counted. One cached dict lookup per experiment not yet
    in ``seen`` (a batch is mostly about a few experiments)."""
    if isinstance(item, InvalidInput):
        return None
    identity = (item.namespace, item.experiment)
    if identity not in seen:
        reason = not_counted_reason(*identity)
        seen[identity] = {"status": NOT_COUNTED, "reason": reason} if reason else None
    return seen[identity]
