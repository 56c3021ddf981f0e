"""Decisions (API key): every experiment of a namespace with what its
figures say to do, as the dashboard's JSON export has it."""

from __future__ import annotations

from chalice import Blueprint, Response

from lamed.core.events import namespace_or_default
from lamed.web import runtime
from lamed.web.routes.http import handles_errors, json_response, requires_api_key

blueprint = Blueprint(__name__)
protected = requires_api_key(blueprint)


@blueprint.route("/decisions", methods=["GET"])
@protected
@handles_errors()
def all_decisions() -> Response:
    """Every experiment of a namespace with its decision."""
    from lamed.web.decisions import decisions_document, experiment_views  # the dashboard: not on the track path

    namespace = namespace_or_default((blueprint.current_request.query_params or {}).get("namespace"))
    snapshot = runtime.definitions()
    views = experiment_views(runtime.store(), snapshot.definition, runtime.settings(), namespace)
    return json_response(decisions_document(namespace, views))
