"""The one connection policy: a Redis URL and the settings turned into the
options every connection Lamed opens uses, the track path's lean one
(:mod:`lamed.core.connection`), redis-py's and Redis Cluster's
(:mod:`lamed.store.redis_client`) and ``lamed preflight``'s.

URLs follow redis-py's conventions: ``redis://[[user]:password@]host[:port][/db]``,
``rediss://`` the same over TLS, ``unix://[[user]:password@]/path?db=N``,
and ``redis+cluster://`` / ``rediss+cluster://`` for Redis Cluster (any
node; the others are discovered). TLS verifies the server's certificate and
its host name by default, as redis-py does; the URL may opt out with
``ssl_check_hostname=false`` (name only) or ``ssl_cert_reqs=none`` (both),
and name a CA file with ``ssl_ca_certs``.
"""

from __future__ import annotations

from collections import namedtuple
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from urllib.parse import SplitResult

DEFAULT_PORT = 6379
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
SCHEMES = ("redis", "rediss", "unix", *CLUSTER_SCHEMES)
CERT_REQUIREMENTS = ("required", "optional", "none")
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")

# A named tuple, not a dataclass: read on the Lambda track path.
ConnectionOptions = namedtuple(
    "ConnectionOptions",
    "host port path db username password tls ca_certs cert_reqs check_hostname timeout_seconds cluster",
)


def is_cluster_url(url: str | None) -> bool:
    return url is not None and url.split("://", 1)[0] in CLUSTER_SCHEMES


def connection_options(url: str, timeout_seconds: float) -> ConnectionOptions:
    """The options of ``url``; ValueError saying what is wrong with it."""
    from urllib.parse import parse_qs, unquote, urlsplit  # once per process, when a client is built

    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"must start with one of {', '.join(scheme + '://' for scheme in SCHEMES)}")
    query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    tls = parts.scheme.startswith("rediss")
    cert_reqs = query.get("ssl_cert_reqs", "required").lower()
    if cert_reqs not in CERT_REQUIREMENTS:
        raise ValueError(f"ssl_cert_reqs must be one of {', '.join(CERT_REQUIREMENTS)}")
    return ConnectionOptions(
        host=parts.hostname or "127.0.0.1",
        port=_port(parts),
        path=_socket_path(parts),
        db=_database(parts, query),
        username=unquote(parts.username) if parts.username else query.get("username"),
        password=unquote(parts.password) if parts.password is not None else query.get("password"),
        tls=tls,
        ca_certs=query.get("ssl_ca_certs"),
        cert_reqs=cert_reqs,
        check_hostname=cert_reqs != "none" and _flag(query, "ssl_check_hostname", default=True),
        timeout_seconds=timeout_seconds,
        cluster=parts.scheme in CLUSTER_SCHEMES,
    )


def _port(parts: SplitResult) -> int:
    try:
        return parts.port or DEFAULT_PORT
    except ValueError:
        raise ValueError("port must be a number") from None


def _socket_path(parts: SplitResult) -> str | None:
    if parts.scheme != "unix":
        return None
    if not parts.path:
        raise ValueError("unix:// URL needs a socket path")
    return parts.path


def _database(parts: SplitResult, query: dict[str, str]) -> int:
    in_path = parts.path.lstrip("/") if parts.scheme != "unix" else ""
    text = query.get("db") or in_path or "0"
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"database must be a number, not {text!r}") from None


def _flag(query: dict[str, str], name: str, default: bool) -> bool:
    value = query.get(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ValueError(f"{name} must be true or false, not {value!r}")
