"""The routes API Gateway must expose, read from the Chalice app itself, so a
route another module adds (dashboard, assignment...) is deployed with no
change here.

Which methods the API Gateway key guards is data on each route (Chalice's
``api_key_required``, set by ``lamed.web.application.create_app`` from the
view's own key check): the same answer the OpenAPI document gives. Routes
that authenticate some other way (the dashboard's login cookie) or not at
all stay open at the gateway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class ApiRoute:
    path: str
    methods: tuple
    protected_methods: tuple = ()

    def is_protected(self, method: str) -> bool:
        return method in self.protected_methods


def api_routes(track_paths: Iterable[str] = ()) -> list[ApiRoute]:
    """Every route of the app, plus the extra track paths (same methods as /track)."""
    from lamed.web.application import create_app
    from lamed.web.tracking import TRACK_PATH

    app = create_app()
    routes = [
        ApiRoute(
            path,
            tuple(sorted(methods)),
            tuple(sorted(method for method, entry in methods.items() if entry.api_key_required)),
        )
        for path, methods in sorted(app.routes.items())
    ]
    track = next(route for route in routes if route.path == TRACK_PATH)
    extra = [ApiRoute(path, track.methods, track.protected_methods) for path in track_paths if path not in app.routes]
    return routes + extra
