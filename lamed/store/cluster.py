"""Tracking over redis-py clients: Redis Cluster (routing, failover), and any
other redis-py client (fakeredis, in unit tests). The URL form of Redis
Cluster is part of the connection policy (:mod:`lamed.core.redis_url`).

The counting protocol (:mod:`lamed.core.counting`) writes its transaction as raw
commands on one connection. :class:`ClientNode` gives it the client's own
pool; :class:`ClusterNodes` gives it the pool of the master that owns the hash slot of the keys (all keys
of one experiment share a hash tag, see :mod:`lamed.core.keys`), and refreshes the
slot map when a node moved a slot or failed over. Bookkeeping commands that
span slots go through redis-py's cluster pipeline.
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Sequence, Union

import redis
from redis.cluster import RedisCluster

from lamed.core.errors import ReplyError
from lamed.core.nodes import OneServer
from lamed.store.redis_client import REDIS_PY_ERRORS


class _PooledConnection:
    """A redis-py connection with the interface of :class:`lamed.core.connection.Connection`
    (``send``/``read``), so the counting protocol runs on either."""

    __slots__ = ("pool", "connection")

    def __init__(self, pool, connection) -> None:
        self.pool, self.connection = pool, connection

    def send(self, data: bytes) -> None:
        self.connection.send_packed_command([data], check_health=False)

    def read(self) -> object:
        try:
            return _as_resp(self.connection.read_response())
        except redis.exceptions.NoScriptError as error:
            raise ReplyError(f"NOSCRIPT {error}") from None


class _RedisPyNodes:
    """Connections from a redis-py client's pools, kept idle between
    transactions: skips redis-py's per-checkout bookkeeping but keeps its
    check that a connection has nothing unread (closed by the server, say)."""

    # Any of these means 503 (the client retries, always safe); on a cluster a
    # MOVED, ASK, TRYAGAIN or CLUSTERDOWN also refreshes the slot map (failed()).
    errors = REDIS_PY_ERRORS

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


class ClientNode(_RedisPyNodes, OneServer):
    """One Redis behind a redis-py client (fakeredis, in unit tests)."""

    def pool_for(self, key: bytes):
        return self.client.connection_pool


class ClusterNodes(_RedisPyNodes):
    """Redis Cluster: each hash slot on the connection pool of its master.
    Flags take their full form, whose hash tag puts them in their
    experiment's slot (lamed.core.keys)."""

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

    def groups(self, slot_keys: Sequence[bytes]) -> list[list[int]]:
        """Indexes of the events that may share a transaction: those in one
        hash slot (their experiment's hash tag, see lamed.core.keys)."""
        by_slot: dict = defaultdict(list)
        for index, key in enumerate(slot_keys):
            by_slot[self.client.keyslot(key)].append(index)
        return list(by_slot.values())

    def run(self, connection: _PooledConnection, commands: list) -> list:
        """Keys of ``commands`` may live on other slots: route each one."""
        pipe = self.client.pipeline(transaction=False)
        for name, *arguments in commands:
            pipe.execute_command(name.decode() if isinstance(name, bytes) else name, *arguments)  # it routes by str
        return [_as_resp(reply) for reply in pipe.execute()]

    def failed(self, error: Exception) -> None:
        """A MOVED, a failover or a dead node: re-read the slot map now, so
        the client's retry goes to the new master."""
        self._has_replicas.clear()
        try:
            self.client.nodes_manager.initialize()
        except (*REDIS_PY_ERRORS, OSError):
            pass  # still failing over; the next failure tries again


def nodes_for(client: Union[redis.Redis, RedisCluster]) -> Union[ClientNode, ClusterNodes]:
    """The tracking nodes of a redis-py client (see lamed.core.counting)."""
    return ClusterNodes(client) if isinstance(client, RedisCluster) else ClientNode(client)


def _as_resp(reply: object) -> object:
    """A reply as RESP2 gives it, which is what the core reads: the cluster
    pipeline (and fakeredis) give a hash (HGETALL) as a dict; back to the flat list."""
    if isinstance(reply, dict):
        return [part for pair in reply.items() for part in pair]
    return reply
