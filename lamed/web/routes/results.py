"""Results and deletion (API key): Lamed-compatible JSON and richer views."""

from __future__ import annotations

from chalice import Blueprint, Response

from lamed.core import results as shapes
from lamed.core.errors import InvalidInput
from lamed.core.events import MAX_NAME_CHARS, namespace_or_default
from lamed.web import runtime
from lamed.web.routes.http import error_response, handles_errors, json_response, requires_api_key

blueprint = Blueprint(__name__)
protected = requires_api_key(blueprint)


def _param(name: str, default=None, required: bool = False):
    value = (blueprint.current_request.query_params or {}).get(name, default)
    if required and not value:
        raise InvalidInput(f"{name} is required", name)
    if value is not None and len(value) > MAX_NAME_CHARS:
        raise InvalidInput(f"{name} is longer than {MAX_NAME_CHARS} characters", name)
    return value


def _namespace() -> str:
    return namespace_or_default((blueprint.current_request.query_params or {}).get("namespace"))


@blueprint.route("/experiments", methods=["GET"])
@protected
@handles_errors()
def all_experiments() -> Response:
    """Lamed's ``all``: ``[{"meta": {"scope": ...}}, {"experiment": ..., "goals": [...]}, ...]``."""
    namespace = _namespace()
    scope = _param("scope")
    store = runtime.store()
    names = shapes.parse_scope(scope) if scope else store.experiment_names(namespace)
    return json_response(shapes.lamed_all(scope, store.results(namespace, names)))


@blueprint.route("/experiments/{name}", methods=["GET"])
@protected
@handles_errors()
def one_experiment(name: str) -> Response:
    """One experiment's counters and its decision (as the dashboard's JSON export has it)."""
    from lamed.web.decisions import experiment_decision  # the dashboard: not on the track path

    namespace = _namespace()
    counts = runtime.store().experiment(namespace, name)
    if counts.is_empty:
        return error_response(f"no data for experiment {name!r}", 404, "experiment")
    definition = runtime.definitions().definition(namespace, name)
    decision = experiment_decision(counts, definition, runtime.settings())
    return json_response({**shapes.experiment_detail(counts), "decision": decision})


@blueprint.route("/experiment", methods=["GET"])
@protected
@handles_errors()
def one_experiment_by_query() -> Response:
    """Lamed's ``experiment``: the goals list, for names with ``/`` in them."""
    name = _param("experiment", required=True)
    return json_response(shapes.lamed_goals(runtime.store().experiment(_namespace(), name)))


@blueprint.route("/experiments/{name}", methods=["DELETE"])
@protected
@handles_errors()
def delete_experiment(name: str) -> Response:
    return _delete(name)


@blueprint.route("/delete", methods=["DELETE"])
@protected
@handles_errors()
def delete_lamed_style() -> Response:
    return _delete(_param("experiment", required=True))


def _delete(name: str) -> Response:
    existed = runtime.store().delete(_namespace(), name)
    return json_response({"deleted": existed, "experiment": name})
