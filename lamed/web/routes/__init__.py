"""Chalice blueprints, one per surface. Handlers stay thin: parse, call one
function of the core, shape the response."""

from chalice import Chalice

from lamed.web.routes import assignment, dashboard, decisions, ops, results, tracking


def register_all(app: Chalice) -> None:
    blueprints = (tracking, results, decisions, ops, assignment, dashboard)
    for module in blueprints:
        app.register_blueprint(module.blueprint)
