"""Operational routes: health."""

from __future__ import annotations

from chalice import Blueprint, Response

from lamed import runtime
from lamed.routes.http import handles_errors, json_response

blueprint = Blueprint(__name__)


@blueprint.route("/health", methods=["GET"])
@handles_errors()
def health() -> Response:
    runtime.store().ping()
    return json_response({"status": "ok", "redis": "ok"})
