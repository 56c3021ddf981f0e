"""redis-py clients built from the one connection policy
(:mod:`lamed.core.redis_url`), and the errors they raise.

One client (one connection pool) per process, with every wait bounded by
``redis_timeout_seconds`` and one retry on a fresh connection after a lost
one, as the track path does (:mod:`lamed.core.nodes`), so a dropped idle
connection costs nothing and a dead or hanging Redis about a second, not minutes; TLS verifies certificate and host name
unless the URL opts out, exactly as the track path's lean connection does.
"""

from __future__ import annotations

from typing import Any, Union

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from lamed.core.errors import RedisTrouble
from lamed.core.redis_url import ConnectionOptions, connection_options

# What redis-py and its cluster client raise for Redis trouble (beyond OSError).
REDIS_PY_ERRORS = (redis.RedisError, RedisClusterException)
Client = Union[redis.Redis, RedisCluster]


def client_options(options: ConnectionOptions, retries: int = 1) -> dict[str, Any]:
    """redis-py's keyword arguments for ``options``."""
    kwargs: dict[str, Any] = {
        "db": options.db,
        "username": options.username,
        "password": options.password,
        "socket_timeout": options.timeout_seconds,
        "socket_connect_timeout": options.timeout_seconds,
        "retry": Retry(NoBackoff(), retries),  # on a lost connection or a timeout (Retry's errors)
        "health_check_interval": 0,
    }
    if options.path:
        return {**kwargs, "unix_socket_path": options.path}
    kwargs.update(host=options.host, port=options.port)
    if options.tls:
        kwargs.update(
            ssl=True,
            ssl_ca_certs=options.ca_certs,
            ssl_cert_reqs=options.cert_reqs,
            ssl_check_hostname=options.check_hostname,
        )
    return kwargs


def connect(redis_url: str, timeout_seconds: float = 0.5) -> Client:
    """A client for ``redis_url`` (a Redis Cluster client for
    ``redis+cluster://``) that retries a command once after a lost
    connection (the cluster client: after a MOVED or a failover too), then
    gives up. ValueError for a bad URL."""
    options = connection_options(redis_url, timeout_seconds)
    if options.cluster:
        kwargs = client_options(options)
        kwargs.pop("db")  # a cluster has database 0 only
        return RedisCluster(**kwargs)
    return redis.Redis(**client_options(options))


def redis_trouble(on_failure: Any = None) -> RedisTrouble:
    """``with redis_trouble():`` turns redis-py's failures into StoreUnavailable."""
    return RedisTrouble(REDIS_PY_ERRORS, on_failure=on_failure)
