"""Public tracking routes: ``GET /track`` exactly as Alephbet's LamedAdapter
sends it, ``POST /track`` for one event or a batch. CORS ``*``."""

from __future__ import annotations

from typing import Mapping, Optional

from chalice import Blueprint, Response

from lamed import runtime
from lamed.definitions import not_counted_reason
from lamed.events import InvalidInput, event_from_mapping, parse_body
from lamed.routes.http import PUBLIC_CORS, handles_errors, json_response

blueprint = Blueprint(__name__)

TRACK_PATH = "/track"
NOT_COUNTED = "not_counted"


def _query(request) -> dict:
    return dict(request.query_params or {})


@handles_errors(PUBLIC_CORS)
def track_view() -> Response:
    request = blueprint.current_request
    if request.method == "OPTIONS":
        return Response(body="", status_code=204, headers=PUBLIC_CORS)
    if request.method == "GET":
        return track_query(_query(request))
    return _track_posted(request)


@handles_errors(PUBLIC_CORS)
def track_query(params: Mapping[str, str]) -> Response:
    """``GET /track``: one event from the query string. The Lambda handler
    calls it directly for its hot path (see lamed.application)."""
    event = event_from_mapping(params)
    skipped = _not_counted(event)
    if skipped:
        return json_response(skipped, 200, PUBLIC_CORS)
    outcome = runtime.store().track(event)
    return json_response({"status": outcome}, 200, PUBLIC_CORS)


def _track_posted(request) -> Response:
    parsed = parse_body(_raw_body(request), request.headers.get("content-type"))
    skipped = [_not_counted(item) for item in parsed.items]
    valid = [item for item, skip in zip(parsed.items, skipped) if not skip and not isinstance(item, InvalidInput)]
    outcomes = iter(runtime.store().track_many(valid)) if valid else iter(())
    if not parsed.is_batch:
        return json_response(skipped[0] or {"status": next(outcomes)}, 200, PUBLIC_CORS)
    results = []
    for item, skip in zip(parsed.items, skipped):
        if isinstance(item, InvalidInput):
            results.append({"status": "invalid", **item.to_dict()})
        elif skip:
            results.append(skip)
        else:
            results.append({"status": next(outcomes)})
    summary = {
        status: sum(1 for r in results if r["status"] == status) for status in ("counted", "duplicate", "invalid")
    }
    not_counted = sum(1 for r in results if r["status"] == NOT_COUNTED)
    if not_counted:  # only then, so batches of experiments without definitions keep their shape
        summary[NOT_COUNTED] = not_counted
    status_code = 400 if summary["invalid"] else 200
    return json_response({**summary, "results": results}, status_code, PUBLIC_CORS)


def _not_counted(item) -> Optional[dict]:
    """Events of a paused or stopped experiment (lamed.definitions) get a 200
    that says so, without being counted. One cached dict lookup otherwise."""
    if isinstance(item, InvalidInput):
        return None
    reason = not_counted_reason(item.namespace, item.experiment)
    return {"status": NOT_COUNTED, "reason": reason} if reason else None


def _raw_body(request) -> bytes:
    raw = request.raw_body
    return raw.encode("utf-8") if isinstance(raw, str) else raw


# Extra paths from settings (``track_paths``, against ad-blockers) reach this
# view too: the Lambda handler and the WSGI adapter map them onto TRACK_PATH.
blueprint.route(TRACK_PATH, methods=["GET", "POST", "OPTIONS"], content_types=["*/*"])(track_view)
