"""The dashboard: HTML pages for experimenters, behind a login form.

Pages link to each other with relative URLs (``root`` is the relative path
to ``/dashboard`` from the current page), so the dashboard works under any
prefix a deployment adds, an API Gateway stage included. No page runs
script: the Content-Security-Policy forbids it, along with anything loaded
from elsewhere.
"""

from __future__ import annotations

import functools
import json
import time
from typing import Any, Callable, Optional
from urllib.parse import parse_qsl, quote, urlencode

from chalice import Blueprint, Response

from lamed.core.errors import InvalidInput
from lamed.core.events import MAX_NAME_CHARS, namespace_or_default
from lamed.dashboard import auth
from lamed.dashboard.snippet import alephbet_snippet
from lamed.store.sessions import Sessions
from lamed.web import runtime
from lamed.web.replies import NO_STORE, same_origin_path
from lamed.web.routes.http import handles_errors, key_problem

blueprint = Blueprint(__name__)

ROOT_FROM_TOP = "dashboard"  # from /dashboard itself
ROOT_FROM_BELOW = "../dashboard"  # from /dashboard/<anything>
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_NEXT_CHARS = 4096  # where login returns to: a page of the dashboard, its query included
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": NO_STORE,
}


def _dashboard():
    # Imported here, not at the top: loading routes must not pull in the
    # dashboard (and through it, nothing heavy) on the Lambda track path.
    from lamed.dashboard import views as dashboard

    return dashboard


def _html(body: str, status: int = 200, **headers: str) -> Response:
    return Response(
        body=body,
        status_code=status,
        headers={**SECURITY_HEADERS, "Content-Type": "text/html; charset=utf-8", **headers},
    )


def _redirect(location: str, **headers: str) -> Response:
    return Response(body="", status_code=303, headers={**SECURITY_HEADERS, "Location": location, **headers})


def _request():
    return blueprint.current_request


def _param(name: str, default: Optional[str] = None, source: Optional[dict] = None) -> Optional[str]:
    params = source if source is not None else (_request().query_params or {})
    value = params.get(name, default)
    if value is not None and len(value) > MAX_NAME_CHARS:
        raise InvalidInput(f"{name} is longer than {MAX_NAME_CHARS} characters", name)
    return value


def _namespace(source: Optional[dict] = None) -> str:
    params = source if source is not None else (_request().query_params or {})
    # A form's namespace field left blank arrives empty: the default, too.
    return namespace_or_default(params.get("namespace") or None, runtime.settings().namespace)


def _form() -> dict:
    request = _request()
    media_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media_type != FORM_TYPE:
        raise InvalidInput(f"content type must be {FORM_TYPE}", "content-type")
    raw = request.raw_body or b""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return dict(parse_qsl(text, keep_blank_values=True))


def _is_https() -> bool:
    return (_request().headers.get("x-forwarded-proto") or "").lower() == "https"


def _sessions() -> Sessions:
    store = runtime.store()
    return Sessions(store.client, store.keys)


def _session() -> Optional[str]:
    """The request's session token if it is signed with the key, unexpired
    and still open (not logged out); asked of Redis once per request."""
    request = _request()
    if not hasattr(request, "lamed_session"):
        token = auth.session_from_cookies(request.headers.get("cookie"))
        valid = auth.session_is_valid(token, runtime.settings().api_key) and _sessions().is_open(token)
        request.lamed_session = token if valid else None
    return request.lamed_session


def _client_address() -> str:
    """Where the request came from, as API Gateway or ``lamed serve`` saw it."""
    identity = _request().context.get("identity") or {}
    return (identity.get("sourceIp") or "unknown")[:64]


def _page(template: str, root: str, status: int = 200, **context: Any) -> Response:
    session = _session()
    csrf = auth.csrf_token(session, runtime.settings().api_key) if session else ""
    return _html(_dashboard().render(template, root=root, csrf=csrf, logged_in=bool(session), **context), status)


def logged_in(root: str) -> Callable:
    """Without a session: a page redirects (303) to the login page, which
    comes back to it after login; a form post is refused (401)."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            if _session() is None:
                if _request().method != "GET":
                    return _page("login.html", root, 401, message=None, next_path="")
                return _redirect(f"{root}/login?" + urlencode({"next": _requested_path()}))
            return view(*args, **kwargs)

        return wrapper

    return decorate


def _checked_form() -> dict:
    """The posted form, refused unless it carries this session's CSRF token."""
    form = _form()
    if not auth.csrf_is_valid(form.get("csrf"), _session(), runtime.settings().api_key):
        raise InvalidInput("the form expired or did not come from this dashboard; reload the page", "csrf")
    return form


# -- login ----------------------------------------------------------------------


@blueprint.route("/dashboard/login", methods=["GET"])
@handles_errors()
def login_form() -> Response:
    return _page(
        "login.html",
        ROOT_FROM_BELOW,
        message=None,
        next_path=_same_origin((_request().query_params or {}).get("next")) or "",
    )


@blueprint.route("/dashboard/login", methods=["POST"], content_types=["*/*"])
@handles_errors()
def login() -> Response:
    """Throttled per client address across processes: after
    MAX_LOGIN_FAILURES wrong keys in a window, 429 until it ends."""
    form = _form()
    back_to = _same_origin(form.get("next"))
    sessions, address = _sessions(), _client_address()
    window, retry_after = auth.login_window(time.time())
    if sessions.failed_logins(address, window) >= auth.MAX_LOGIN_FAILURES:
        message = f"too many wrong keys from your address: try again in {retry_after} s"
        response = _page("login.html", ROOT_FROM_BELOW, 429, message=message, next_path=back_to or "")
        response.headers["Retry-After"] = str(retry_after)
        return response
    problem = key_problem(form.get("key") or None)
    if problem is not None:
        if problem.status_code in (401, 403):
            sessions.count_failed_login(address, window, auth.LOGIN_WINDOW_SECONDS)
        message = problem.body["error"]
        return _page("login.html", ROOT_FROM_BELOW, problem.status_code, message=message, next_path=back_to or "")
    token = auth.new_session(runtime.settings().api_key)
    sessions.open(token, auth.SESSION_SECONDS)
    return _redirect(back_to or ROOT_FROM_BELOW, **{"Set-Cookie": auth.set_cookie_header(token, _is_https())})


def _requested_path() -> str:
    """The page as the browser asked for it (an API Gateway stage included)."""
    request = _request()
    query = urlencode(request.query_params or {})
    return (request.context.get("path") or "/dashboard") + (f"?{query}" if query else "")


def _same_origin(path: Optional[str]) -> Optional[str]:
    """``path`` if it is a path on this server, else None: login must not
    send anyone to another site (see lamed.web.replies.same_origin_path)."""
    return same_origin_path(path, MAX_NEXT_CHARS)


@blueprint.route("/dashboard/logout", methods=["POST"], content_types=["*/*"])
@handles_errors()
def logout() -> Response:
    """Ends the session on the server too: the cookie, if kept, no longer works."""
    token = auth.session_from_cookies(_request().headers.get("cookie"))
    if token:
        _sessions().close(token)
    return _redirect(f"{ROOT_FROM_BELOW}/login", **{"Set-Cookie": auth.clear_cookie_header(_is_https())})


# -- pages ------------------------------------------------------------------------


@blueprint.route("/dashboard", methods=["GET"])
@handles_errors()
@logged_in(ROOT_FROM_TOP)
def experiments_page() -> Response:
    name = _param("experiment")
    if name:
        return _experiment(name, ROOT_FROM_TOP)
    namespace, search = _namespace(), (_param("q") or "").strip()
    store = runtime.store()
    names = store.experiment_names(namespace)
    shown = [n for n in names if search.casefold() in n.casefold()] if search else names
    views = [
        _dashboard().experiment_view(
            counts, definition=runtime.definitions().definition(namespace, counts.name), settings=runtime.settings()
        )
        for counts in store.results(namespace, shown)
    ]
    namespaces = sorted(set(store.namespaces()) | {namespace})
    return _page(
        "list.html", ROOT_FROM_TOP, namespace=namespace, namespaces=namespaces, search=search,
        experiments=views, total=len(names), deleted=_param("deleted"),
        snippet=alephbet_snippet(_track_url(), namespace, script_src="alephbet.min.js"),
    )  # fmt: skip


@blueprint.route("/dashboard/{experiment}", methods=["GET"])
@handles_errors()
@logged_in(ROOT_FROM_BELOW)
def experiment_page(experiment: str) -> Response:
    return _experiment(experiment, ROOT_FROM_BELOW)


def _experiment(name: str, root: str) -> Response:
    namespace = _namespace()
    counts = runtime.store().experiment(namespace, name)
    if counts.is_empty:
        return _page("missing.html", root, 404, name=name, namespace=namespace)
    definition = runtime.definitions().definition(namespace, name)
    view = _dashboard().experiment_view(
        counts, _control(counts), with_charts=True, definition=definition, settings=runtime.settings()
    )
    return _page("experiment.html", root, namespace=namespace, experiment=view)


def _control(counts) -> Optional[str]:
    control = _param("control")
    if control is not None and control not in counts.variants:
        raise InvalidInput("control must be one of the experiment's variants", "control")
    return control


def _track_url() -> str:
    """The track URL of this deployment, for the snippet on the empty page."""
    request = _request()
    host = request.headers.get("host") or "localhost"
    scheme = "https" if _is_https() else "http"
    path = request.context.get("path") or "/dashboard"
    prefix = path[: -len("/dashboard")] if path.endswith("/dashboard") else ""
    return f"{scheme}://{host}{prefix}/track"


# -- actions ----------------------------------------------------------------------


@blueprint.route("/dashboard/delete", methods=["GET"])
@handles_errors()
@logged_in(ROOT_FROM_BELOW)
def confirm_delete() -> Response:
    name = _param("experiment")
    if not name:
        raise InvalidInput("experiment is required", "experiment")
    return _page("delete.html", ROOT_FROM_BELOW, name=name, namespace=_namespace())


@blueprint.route("/dashboard/delete", methods=["POST"], content_types=["*/*"])
@handles_errors()
@logged_in(ROOT_FROM_BELOW)
def delete() -> Response:
    form = _checked_form()
    name = _param("experiment", source=form)
    if not name:
        raise InvalidInput("experiment is required", "experiment")
    namespace = _namespace(form)
    runtime.store().delete(namespace, name)
    return _redirect(f"{ROOT_FROM_BELOW}?{urlencode({'namespace': namespace, 'deleted': name})}")


@blueprint.route("/dashboard/export", methods=["GET"])
@handles_errors()
@logged_in(ROOT_FROM_BELOW)
def export() -> Response:
    name, fmt = _param("experiment"), _param("format", "csv")
    if not name:
        raise InvalidInput("experiment is required", "experiment")
    if fmt not in ("csv", "json"):
        raise InvalidInput("format must be csv or json", "format")
    namespace = _namespace()
    counts = runtime.store().experiment(namespace, name)
    if counts.is_empty:
        raise InvalidInput(f"no data for experiment {name!r}", "experiment")
    view = _dashboard().experiment_view(
        counts,
        _control(counts),
        definition=runtime.definitions().definition(namespace, name),
        settings=runtime.settings(),
    )
    if fmt == "json":
        body, media_type = json.dumps(_dashboard().export_json(view), ensure_ascii=False, indent=2), "application/json"
    else:
        body, media_type = _dashboard().export_csv(view), "text/csv"
    disposition = f"attachment; filename=\"experiment.{fmt}\"; filename*=UTF-8''{quote(name, safe='')}.{fmt}"
    return Response(
        body=body,
        status_code=200,
        headers={
            **SECURITY_HEADERS,
            "Content-Type": f"{media_type}; charset=utf-8",
            "Content-Disposition": disposition,
        },
    )


@blueprint.route("/dashboard/assets/{name}", methods=["GET"])
def asset(name: str) -> Response:
    text = _dashboard().static_file(name)
    if text is None or not name.endswith(".css"):
        return Response(body={"error": "no such file", "field": "path"}, status_code=404)
    return Response(
        body=text, status_code=200, headers={"Content-Type": "text/css; charset=utf-8", "Cache-Control": "max-age=3600"}
    )
