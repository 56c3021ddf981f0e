"""Public tracking routes for Chalice: ``GET``/``POST``/``OPTIONS /track``,
answered by :mod:`lamed.web.tracking` (which the Lambda handler also calls
directly, without Chalice). CORS ``*``."""

from __future__ import annotations

from chalice import Blueprint, Response

from lamed.web.routes.http import to_response
from lamed.web.tracking import TRACK_METHODS, TRACK_PATH, track_http

blueprint = Blueprint(__name__)


def track_view() -> Response:
    request = blueprint.current_request
    raw = request.raw_body or b""  # track_http reads it for POST only
    body = raw.encode("utf-8") if isinstance(raw, str) else raw
    return to_response(track_http(request.method, dict(request.query_params or {}), dict(request.headers), body))


# Extra paths from settings (``track_paths``, against ad-blockers) reach this
# view too: the Lambda handler and the WSGI adapter map them onto TRACK_PATH.
blueprint.route(TRACK_PATH, methods=list(TRACK_METHODS), content_types=["*/*"])(track_view)
