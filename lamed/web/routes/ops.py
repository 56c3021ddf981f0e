"""Operational routes: health, the OpenAPI document."""

from __future__ import annotations

from chalice import Blueprint, Response

from lamed.web import runtime
from lamed.web.routes.http import handles_errors, json_response

blueprint = Blueprint(__name__)


@blueprint.route("/health", methods=["GET"])
@handles_errors()
def health() -> Response:
    runtime.store().ping()
    return json_response({"status": "ok", "redis": "ok"})


@blueprint.route("/openapi.json", methods=["GET"])
def openapi() -> Response:
    """Every route, as OpenAPI 3 (built from the route table, see lamed.web.openapi)."""
    from lamed.web.openapi import openapi_document

    return json_response(openapi_document(blueprint.current_app), headers={"Cache-Control": "public, max-age=300"})
