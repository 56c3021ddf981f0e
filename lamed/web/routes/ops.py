"""Operational routes: health, the OpenAPI document."""

from __future__ import annotations

from chalice import Blueprint, Response

from lamed.web import runtime
from lamed.web.replies import RETRY
from lamed.web.routes.http import handles_errors, json_response, key_problem

blueprint = Blueprint(__name__)


@blueprint.route("/health", methods=["GET"])
@handles_errors()
def health() -> Response:
    """200 when Redis answers and takes writes; 503 when it does not answer,
    or answers but refuses Lamed's writes for memory: full (or nearly, see
    lamed.core.redis_safety) under noeviction on some master, or this
    process saw an OOM refusal in the last seconds and a write still fails.
    With the API key, every master's eviction policy and memory too."""
    store = runtime.store()
    store.ping()
    checks = store.memory_checks()
    full = any(check.refuses_writes for check in checks) or (
        store.tracker.memory.refusing() and not store.tracker.can_write()
    )
    body: dict = {"status": "full" if full else "ok", "redis": "refuses writes" if full else "ok"}
    if key_problem(blueprint.current_request.headers.get("x-api-key")) is None:
        body["memory"] = [check.to_dict() for check in checks]
    return json_response(body, 503 if full else 200, headers=RETRY if full else None)


@blueprint.route("/", methods=["GET"])
def front_door() -> Response:
    """The API's root: to the dashboard, keeping whatever prefix (an API
    Gateway stage) the request came with, as ``/api`` or ``/api/``."""
    path = blueprint.current_request.context.get("path") or "/"
    return Response(body="", status_code=303, headers={"Location": path.rstrip("/") + "/dashboard"})


@blueprint.route("/openapi.json", methods=["GET"])
def openapi() -> Response:
    """Every route, as OpenAPI 3 (built from the route table, see lamed.web.openapi)."""
    from lamed.web.openapi import openapi_document

    return json_response(openapi_document(blueprint.current_app), headers={"Cache-Control": "public, max-age=300"})
