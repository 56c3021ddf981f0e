"""The routes API Gateway must expose, read from the Chalice app itself, so a
route another module adds (dashboard, assignment...) is deployed with no
change here.

Which routes the API Gateway key guards is found by asking the app: a route
is protected when a request without ``x-api-key`` is refused (401/403) and
the same request with the right key is not. Routes that authenticate some
other way (the dashboard's login cookie) or not at all stay open at the
gateway. The probe runs in-process with no Redis configured, so it cannot
touch any data.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any, Iterable

from lamed.core.settings import Settings
from lamed.web import runtime
from lamed.web.gateway import proxy_event

_REFUSED = (401, 403)
_PROBE_KEY = "lamed-deploy-route-probe-key"


@dataclass(frozen=True)
class ApiRoute:
    path: str
    methods: tuple
    protected_methods: tuple = ()

    def is_protected(self, method: str) -> bool:
        return method in self.protected_methods


def api_routes(track_paths: Iterable[str] = ()) -> list[ApiRoute]:
    """Every route of the app, plus the extra track paths (same methods as /track)."""
    from lamed.web.tracking import TRACK_PATH

    # The very app object the Lambda handler serves (app.py), built once per process.
    app = importlib.import_module("app").app
    routes = [_probe(app, path, tuple(sorted(methods))) for path, methods in sorted(app.routes.items())]
    track = next(route for route in routes if route.path == TRACK_PATH)
    extra = [ApiRoute(path, track.methods, track.protected_methods) for path in track_paths if path not in app.routes]
    return routes + extra


def _probe(app: Any, path: str, methods: tuple) -> ApiRoute:
    # The process's services are swapped for the probe and put back after it.
    saved = (runtime._settings, runtime._store)
    runtime.install(Settings(api_key=_PROBE_KEY))
    try:
        protected = tuple(method for method in methods if _needs_header_key(app, path, method))
    finally:
        runtime.install(*saved)
    return ApiRoute(path, methods, protected)


def _needs_header_key(app: Any, path: str, method: str) -> bool:
    without = app(_probe_event(path, method, {}), None)["statusCode"]
    with_key = app(_probe_event(path, method, {"x-api-key": _PROBE_KEY}), None)["statusCode"]
    return without in _REFUSED and with_key not in _REFUSED


def _probe_event(path: str, method: str, headers: dict) -> dict:
    params = {name: "probe" for name in re.findall(r"{(\w+)}", path)}
    concrete = re.sub(r"{(\w+)}", "probe", path)
    return proxy_event(method, path, concrete, headers=headers, path_params=params, stage="probe")
