"""Chalice blueprints, one per surface. Handlers stay thin: parse, call one
function of the core, shape the response."""

from chalice import Chalice

from lamed.web.routes import assignment, dashboard, ops, results, tracking


def register_all(app: Chalice) -> None:
    for blueprint in (tracking.blueprint, results.blueprint, ops.blueprint, assignment.blueprint, dashboard.blueprint):
        app.register_blueprint(blueprint)
