"""Tracking over redis-py clients: Redis Cluster (URL form, client, routing),
and any other redis-py client (fakeredis, in unit tests).

``LAMED_REDIS_URL=redis+cluster://host:port`` (any node of the cluster; more
nodes are discovered) selects Redis Cluster. ``rediss+cluster://`` adds TLS,
and ``user:password@`` works as in a ``redis://`` URL.

The counting protocol (:mod:`lamed.counting`) writes its transaction as raw
commands on one connection. :class:`ClientNode` gives it the client's own
pool; :class:`ClusterNodes` gives it the pool of the master that owns the hash slot of the keys (all keys
of one experiment share a hash tag, see :mod:`lamed.keys`), and refreshes the
slot map when a node moved a slot or failed over. Bookkeeping commands that
span slots go through redis-py's cluster pipeline.
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Sequence, Union
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from lamed.counting import OneServer, slot_key
from lamed.events import Event
from lamed.resp import ReplyError

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def bounded(timeout_seconds: float, retries: int) -> dict:
    """redis-py client options: every wait bounded by ``timeout_seconds``,
    ``retries`` retries without backoff, no health-check pings."""
    return {
        "socket_timeout": timeout_seconds,
        "socket_connect_timeout": timeout_seconds,
        "retry": Retry(NoBackoff(), retries),
        "health_check_interval": 0,
    }


def connect_cluster(url: str, timeout_seconds: float) -> RedisCluster:
    """A cluster client with the store's bounded timeouts; redis-py itself
    retries a command once after a MOVED/failover, then gives up."""
    parts = urlsplit(url)
    plain = urlunsplit((CLUSTER_SCHEMES[parts.scheme], *parts[1:]))
    return RedisCluster.from_url(plain, **bounded(timeout_seconds, retries=1))


class _PooledConnection:
    """A redis-py connection with the interface of :class:`lamed.resp.Connection`
    (``send``/``read``), so the counting protocol runs on either."""

    __slots__ = ("pool", "connection")

    def __init__(self, pool, connection) -> None:
        self.pool, self.connection = pool, connection

    def send(self, data: bytes) -> None:
        self.connection.send_packed_command([data], check_health=False)

    def read(self) -> object:
        try:
            return self.connection.read_response()
        except redis.exceptions.NoScriptError as error:
            raise ReplyError(f"NOSCRIPT {error}") from None

    def read_many(self, replies: int) -> None:
        for _ in range(replies):
            self.read()


class _RedisPyNodes:
    """Connections from a redis-py client's pools, kept idle between
    transactions: skips redis-py's per-checkout bookkeeping but keeps its
    check that a connection has nothing unread (closed by the server, say)."""

    # Any of these means 503 (the client retries, always safe); on a cluster a
    # MOVED, ASK, TRYAGAIN or CLUSTERDOWN also refreshes the slot map (failed()).
    errors = (redis.RedisError, redis.exceptions.RedisClusterException)

    def __init__(self, client) -> None:
        self.client = client
        self._idle: dict = {}  # pool -> idle connections taken from it
        self._pid = os.getpid()

    def pool_for(self, key: bytes):
        raise NotImplementedError

    def checkout(self, key: bytes) -> _PooledConnection:
        if self._pid != os.getpid():  # forked: the parent's sockets are not ours
            self._idle, self._pid = {}, os.getpid()
        pool = self.pool_for(key)
        try:
            connection = self._idle[pool].pop()
        except (KeyError, IndexError):
            return _PooledConnection(pool, pool.get_connection())
        try:
            if connection.connection.can_read():
                connection.connection.disconnect()
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            connection.connection.disconnect()
        return connection

    def checkin(self, key: bytes, connection: _PooledConnection) -> None:
        self._idle.setdefault(connection.pool, []).append(connection)

    def discard(self, connection: _PooledConnection) -> None:
        connection.connection.disconnect()
        connection.pool.release(connection.connection)


class ClientNode(OneServer, _RedisPyNodes):
    """One Redis behind a redis-py client (fakeredis, in unit tests)."""

    def pool_for(self, key: bytes):
        return self.client.connection_pool


class ClusterNodes(_RedisPyNodes):
    """Redis Cluster: each hash slot on the connection pool of its master.
    Flags take their full form, whose hash tag puts them in their
    experiment's slot (lamed.keys)."""

    compact_flags = False

    def __init__(self, client: RedisCluster, replica_wait_ms: int = 200) -> None:
        super().__init__(client)
        self._wait = (b"WAIT", b"1", b"%d" % replica_wait_ms)
        self._has_replicas: dict = {}  # master's name -> bool, until the next failure

    def pool_for(self, key: bytes):
        return self.client.get_node_from_key(key).redis_connection.connection_pool

    def after_exec(self, key: bytes) -> list:
        """A failover promotes a replica that may lack the master's last
        writes; ``WAIT 1`` (sent with EXEC, no extra round trip) holds the
        answer until one replica has the event, so a 200 survives failover.
        A master without replicas has nobody to wait for: asked once per
        master (``INFO replication``) and again after a failure."""
        node = self.client.get_node_from_key(key)
        if node.name not in self._has_replicas:
            replication = node.redis_connection.info("replication")
            self._has_replicas[node.name] = replication.get("connected_slaves", 0) > 0
        return [self._wait] if self._has_replicas[node.name] else []

    def groups(self, events: Sequence[Event], indexes: list[int]) -> list[list[int]]:
        """Splits a batch by hash slot (its experiment's hash tag, see
        lamed.keys): one transaction per slot."""
        by_slot: dict = defaultdict(list)
        for index in indexes:
            by_slot[self.client.keyslot(slot_key(events[index]))].append(index)
        return list(by_slot.values())

    def run(self, connection: _PooledConnection, commands: list) -> list:
        """Keys of ``commands`` may live on other slots: route each one."""
        pipe = self.client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return pipe.execute()

    def failed(self, error: Exception) -> None:
        """A MOVED, a failover or a dead node: re-read the slot map now, so
        the client's retry goes to the new master."""
        self._has_replicas.clear()
        try:
            self.client.nodes_manager.initialize()
        except (redis.RedisError, redis.exceptions.RedisClusterException, OSError):
            pass  # still failing over; the next failure tries again


def nodes_for(client: Union[redis.Redis, RedisCluster]) -> Union[ClientNode, ClusterNodes]:
    """The tracking nodes of a redis-py client (see lamed.counting)."""
    return ClusterNodes(client) if isinstance(client, RedisCluster) else ClientNode(client)
