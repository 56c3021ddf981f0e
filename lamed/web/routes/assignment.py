"""Server-side assignment (public, CORS ``*``) and experiment definitions (API key).

``GET /assign?experiment=&user_id=&namespace=&record=1&attr.grade=vip`` or
``POST /assign`` with ``{"experiment", "user_id", "namespace", "attributes", "record"}``
answers ``{"variant", "reason", "in_experiment", "rule"?, "recorded"}``.

``GET /definitions``, ``GET|PUT|DELETE /definitions/{name}``,
``POST /definitions/{name}/pause|resume|stop`` manage definitions.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from chalice import Blueprint, Response

from lamed.core.assignment import assign
from lamed.core.counting import REFUSED
from lamed.core.definitions import check_number, definition_from_dict, updated
from lamed.core.errors import DefinitionNotFound, InvalidInput
from lamed.core.events import (
    MAX_BODY_BYTES,
    MAX_NAME_CHARS,
    MAX_UUID_CHARS,
    PARTICIPATE,
    Event,
    check_text,
    namespace_or_default,
)
from lamed.core.lifecycle import PAUSED, RUNNING, STOPPED
from lamed.store.definitions import DefinitionStore
from lamed.web import runtime
from lamed.web.replies import PUBLIC_CORS
from lamed.web.routes.http import error_response, handles_errors, json_response, requires_api_key

blueprint = Blueprint(__name__)
protected = requires_api_key(blueprint)

ATTRIBUTE_PREFIX = "attr."
MAX_ATTRIBUTES = 100
TRUE_WORDS = ("1", "true", "yes", "on")


# -- request parsing ----------------------------------------------------


def _json_object(request) -> dict:
    raw = request.raw_body or b""
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidInput(f"body is larger than {MAX_BODY_BYTES} bytes", "body")
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise InvalidInput(f"body is not valid JSON: {error}", "body") from None
    if not isinstance(document, dict):
        raise InvalidInput("body must be a JSON object", "body")
    return document


def _query() -> dict:
    return dict(blueprint.current_request.query_params or {})


def _attributes(value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput("attributes must be a JSON object", "attributes")
    if len(value) > MAX_ATTRIBUTES:
        raise InvalidInput(f"at most {MAX_ATTRIBUTES} attributes", "attributes")
    for name, item in value.items():
        check_text("attributes", name, MAX_NAME_CHARS)
        where = f"attributes.{name}"
        if isinstance(item, str) and item:
            check_text(where, item, MAX_NAME_CHARS)
        elif isinstance(item, (int, float)) and not isinstance(item, bool):
            check_number(item, where)  # bounded as the rules' numbers are
        elif item is not None and not isinstance(item, (str, bool)):
            raise InvalidInput(f"attribute {name!r} must be a string, number or boolean", where)
    return value


def _assign_request() -> dict:
    request = blueprint.current_request
    if request.method == "POST":
        return _json_object(request)
    query = _query()
    attributes = {k[len(ATTRIBUTE_PREFIX) :]: v for k, v in query.items() if k.startswith(ATTRIBUTE_PREFIX)}
    record = query.get("record", "").lower() in TRUE_WORDS
    return {**query, "attributes": attributes, "record": record}


# -- assignment ---------------------------------------------------------


@blueprint.route("/assign", methods=["GET", "POST", "OPTIONS"], content_types=["*/*"])
@handles_errors(PUBLIC_CORS)
def assign_view() -> Response:
    if blueprint.current_request.method == "OPTIONS":
        return Response(body="", status_code=204, headers=PUBLIC_CORS)
    data = _assign_request()
    namespace = namespace_or_default(data.get("namespace"))
    experiment = check_text("experiment", data.get("experiment"), MAX_NAME_CHARS)
    user_id = check_text("user_id", data.get("user_id"), MAX_UUID_CHARS)
    attributes = _attributes(data.get("attributes"))
    record = data.get("record", False)
    if not isinstance(record, bool):
        raise InvalidInput("record must be true or false", "record")
    definition = runtime.definitions().definition(namespace, experiment)
    if definition is None:
        return error_response(f"experiment {experiment!r} has no definition", 404, "experiment", PUBLIC_CORS)
    chosen = assign(definition, user_id, attributes)
    recorded = None
    if record and chosen.in_experiment:
        outcome = runtime.store().track(Event(namespace, experiment, chosen.variant, PARTICIPATE, user_id))
        recorded = outcome if isinstance(outcome, str) else REFUSED
    body = {"namespace": namespace, "experiment": experiment, **chosen.to_dict(), "recorded": recorded}
    return json_response(body, 200, PUBLIC_CORS)


# -- definitions --------------------------------------------------------


def _definitions() -> DefinitionStore:
    store = runtime.store()
    return DefinitionStore(store.client, store.keys)


def _written(response: Response) -> Response:
    """After a write: this process's snapshot reloads on its next read
    (other processes within definition_cache_seconds)."""
    runtime.definitions().invalidate()
    return response


def _query_namespace() -> str:
    return namespace_or_default(_query().get("namespace"))


def _not_found(name: str) -> Response:
    return error_response(f"experiment {name!r} has no definition", 404, "experiment")


@blueprint.route("/definitions", methods=["GET"])
@protected
@handles_errors()
def list_definitions() -> Response:
    namespace = _query_namespace()
    return json_response({"definitions": [d.public_dict(namespace) for d in _definitions().list(namespace)]})


@blueprint.route("/definitions/{name}", methods=["GET"])
@protected
@handles_errors()
def show_definition(name: str) -> Response:
    namespace = _query_namespace()
    definition = _definitions().get(namespace, name)
    return json_response(definition.public_dict(namespace)) if definition else _not_found(name)


@blueprint.route("/definitions/{name}", methods=["PUT"], content_types=["*/*"])
@protected
@handles_errors()
def put_definition(name: str) -> Response:
    """Creates (201) or replaces (200) the whole definition."""
    namespace = _query_namespace()
    definition = definition_from_dict(name, _json_object(blueprint.current_request))
    created = _definitions().put(namespace, definition)
    return _written(json_response(definition.public_dict(namespace), 201 if created else 200))


@blueprint.route("/definitions/{name}", methods=["DELETE"])
@protected
@handles_errors()
def delete_definition(name: str) -> Response:
    deleted = _definitions().delete(_query_namespace(), name)
    return _written(json_response({"deleted": deleted, "experiment": name}))


def _change_status(name: str, changes: Mapping[str, Any]) -> Response:
    namespace = _query_namespace()
    try:
        definition = _definitions().update(namespace, name, lambda current: updated(current, changes))
    except DefinitionNotFound:
        return _not_found(name)
    return _written(json_response(definition.public_dict(namespace)))


@blueprint.route("/definitions/{name}/pause", methods=["POST"], content_types=["*/*"])
@protected
@handles_errors()
def pause_definition(name: str) -> Response:
    return _change_status(name, {"status": PAUSED, "winner": None})


@blueprint.route("/definitions/{name}/resume", methods=["POST"], content_types=["*/*"])
@protected
@handles_errors()
def resume_definition(name: str) -> Response:
    """Starts a draft, or resumes a paused or stopped experiment."""
    return _change_status(name, {"status": RUNNING, "winner": None})


@blueprint.route("/definitions/{name}/stop", methods=["POST"], content_types=["*/*"])
@protected
@handles_errors()
def stop_definition(name: str) -> Response:
    """Body ``{"winner": "B"}``: everyone gets B from now on, nothing counted."""
    winner = _json_object(blueprint.current_request).get("winner")
    if not isinstance(winner, str):
        raise InvalidInput("winner is required: the variant everyone gets from now on", "winner")
    return _change_status(name, {"status": STOPPED, "winner": winner})
