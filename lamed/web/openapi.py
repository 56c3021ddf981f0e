"""The OpenAPI 3 document served at ``GET /openapi.json``.

Every route of the Chalice app appears: paths, methods and path parameters
come from the app's route table (so a new route cannot be forgotten), and the
query parameters and bodies of the public API are described by hand below.
Routes behind the API key (``api_key_required`` on the route, see
``lamed.web.application.mark_api_key_routes``) declare the
``x-api-key`` security scheme.
"""

from __future__ import annotations

from typing import Any

from chalice import Chalice

from lamed import __version__
from lamed.core.events import MAX_BATCH_EVENTS, MAX_NAME_CHARS, MAX_UUID_CHARS
from lamed.stats.decision import DECISION_KINDS

OPENAPI_VERSION = "3.0.3"

NAME = {"type": "string", "minLength": 1, "maxLength": MAX_NAME_CHARS}
UUID = {"type": "string", "minLength": 1, "maxLength": MAX_UUID_CHARS}
ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "field": {"type": "string", "nullable": True}},
}
EVENT = {
    "type": "object",
    "required": ["experiment", "variant", "event", "uuid"],
    "properties": {"namespace": NAME, "experiment": NAME, "variant": NAME, "event": NAME, "uuid": UUID},
}
BATCH = {"type": "array", "minItems": 1, "maxItems": MAX_BATCH_EVENTS, "items": EVENT}
TRACK_BODY = {
    "oneOf": [
        EVENT,
        BATCH,
        {"type": "object", "required": ["events"], "properties": {"events": BATCH}},
    ]
}

NUMBER_OR_NULL = {"type": "number", "nullable": True}
DECISION = {
    "type": "object",
    "description": "What the experiment's figures say to do (the dashboard's JSON export has the same object).",
    "required": ["kind", "goal", "variant", "uplift", "interval", "days_remaining", "text"],
    "properties": {
        "kind": {"type": "string", "enum": list(DECISION_KINDS)},
        "goal": {"type": "string", "nullable": True},
        "variant": {"type": "string", "nullable": True, "description": "to ship, or the worse one"},
        "uplift": NUMBER_OR_NULL,
        "interval": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2, "nullable": True},
        "days_remaining": {"type": "integer", "nullable": True},
        "decision_sample_per_variant": NUMBER_OR_NULL,
        "text": {"type": "string"},
    },
}
DECISION_REF = {"$ref": "#/components/schemas/Decision"}
DECISIONS = {
    "type": "object",
    "required": ["namespace", "experiments"],
    "properties": {
        "namespace": {"type": "string"},
        "experiments": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["experiment", "status", "decision", "decisions"],
                "properties": {
                    "experiment": {"type": "string"},
                    "status": {"type": "string", "nullable": True, "description": "lifecycle, if defined"},
                    "decision": DECISION_REF,
                    "decisions": {"type": "array", "items": DECISION_REF, "description": "one per goal"},
                },
            },
        },
    },
}
EXPERIMENT_DETAIL = {
    "type": "object",
    "required": ["decision"],
    "properties": {"decision": DECISION_REF},
    "additionalProperties": True,
}


def _ok(schema: dict) -> dict:
    return {"description": "OK", "content": {"application/json": {"schema": schema}}}


def _query(name: str, schema: dict, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "schema": schema}


NAMESPACE_PARAM = _query("namespace", NAME)
EVENT_PARAMS = [NAMESPACE_PARAM] + [
    _query(name, UUID if name == "uuid" else NAME, True) for name in ("experiment", "variant", "event", "uuid")
]

# (method, path) -> hand-written parts of the operation.
DESCRIBED: dict = {
    ("GET", "/track"): {
        "summary": "Count one event (Alephbet's LamedAdapter). Public, CORS *.",
        "parameters": EVENT_PARAMS,
    },
    ("POST", "/track"): {
        "summary": "Count one event or a batch. Public, CORS *.",
        "requestBody": {"required": True, "content": {"application/json": {"schema": TRACK_BODY}}},
    },
    ("OPTIONS", "/track"): {"summary": "CORS preflight."},
    ("GET", "/experiments"): {
        "summary": "Lamed's `all`: every experiment of a namespace with its goals.",
        "parameters": [NAMESPACE_PARAM, _query("scope", {"type": "string"})],
    },
    ("GET", "/experiments/{name}"): {
        "summary": "One experiment's counters and its decision.",
        "parameters": [NAMESPACE_PARAM],
        "ok": _ok(EXPERIMENT_DETAIL),
    },
    ("GET", "/decisions"): {
        "summary": "Every experiment of a namespace with its decision.",
        "parameters": [NAMESPACE_PARAM],
        "ok": _ok(DECISIONS),
    },
    ("DELETE", "/experiments/{name}"): {"summary": "Delete an experiment's counters.", "parameters": [NAMESPACE_PARAM]},
    ("GET", "/experiment"): {
        "summary": "Lamed's `experiment`: the goals of one experiment.",
        "parameters": [NAMESPACE_PARAM, _query("experiment", NAME, True)],
    },
    ("DELETE", "/delete"): {
        "summary": "Lamed's `delete`.",
        "parameters": [NAMESPACE_PARAM, _query("experiment", NAME, True)],
    },
    ("GET", "/health"): {"summary": "Liveness and Redis reachability."},
    ("GET", "/openapi.json"): {"summary": "This document."},
}


def _responses() -> dict:
    error = {"content": {"application/json": {"schema": ERROR}}}
    return {
        "200": {"description": "OK"},
        "400": {"description": "Bad input; `field` names the culprit.", **error},
        "401": {"description": "Missing API key.", **error},
        "403": {"description": "Wrong API key.", **error},
        "404": {"description": "Not found.", **error},
        "503": {"description": "Redis unavailable or contended: retry.", **error},
        "default": {"description": "Other answers of the route."},
    }


def _operation(method: str, path: str, entry: Any) -> dict:
    described = DESCRIBED.get((method, path), {})
    doc = (entry.view_function.__doc__ or "").strip().splitlines()
    operation: dict = {
        "operationId": f"{entry.view_name}_{method.lower()}",
        "summary": described.get("summary") or (doc[0] if doc else entry.view_name),
        "parameters": [{"name": name, "in": "path", "required": True, "schema": NAME} for name in entry.view_args]
        + described.get("parameters", []),
        "responses": _responses(),
    }
    if "ok" in described:
        operation["responses"]["200"] = described["ok"]
    if "requestBody" in described:
        operation["requestBody"] = described["requestBody"]
    if entry.api_key_required:
        operation["security"] = [{"apiKey": []}]
    return operation


def openapi_document(app: Chalice) -> dict:
    """The OpenAPI 3 document of every route of ``app``."""
    paths: dict = {}
    for path, methods in sorted(app.routes.items()):
        paths[path] = {method.lower(): _operation(method, path, entry) for method, entry in sorted(methods.items())}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Lamed", "version": __version__, "description": "Self-hosted A/B testing backend."},
        "paths": paths,
        "components": {
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}},
            "schemas": {"Error": ERROR, "Event": EVENT, "Decision": DECISION},
        },
    }
