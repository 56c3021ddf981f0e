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
import time
from collections import defaultdict
from typing import Sequence, Union

import redis
from redis.cluster import RedisCluster

from lamed.core.errors import ReplyError
from lamed.core.nodes import Nodes
from lamed.core.protocol import judged, pack_all
from lamed.store.redis_client import REDIS_PY_ERRORS

# The slot map is re-read at most this often per process: a failing node
# answers every request with an error, and each re-read asks every node.
REFRESH_INTERVAL_SECONDS = 1.0
# redis-py strips these codes from the messages of the exceptions it raises
# for them; a reply error keeps its code (lamed.core.errors.ReplyError.code).
_CODES = {
    redis.exceptions.NoScriptError: "NOSCRIPT",
    redis.exceptions.OutOfMemoryError: "OOM",
    redis.exceptions.ReadOnlyError: "READONLY",
    redis.exceptions.ExecAbortError: "EXECABORT",
    redis.exceptions.BusyLoadingError: "LOADING",
    redis.exceptions.MovedError: "MOVED",
    redis.exceptions.AskError: "ASK",
    redis.exceptions.TryAgainError: "TRYAGAIN",
    redis.exceptions.ClusterDownError: "CLUSTERDOWN",
}


class _PooledConnection:
    """A redis-py connection with the interface of :class:`lamed.core.connection.Connection`
    (``call``: one write, every reply read before any is judged), so the
    counting protocol runs on either."""

    __slots__ = ("pool", "connection")

    def __init__(self, pool, connection) -> None:
        self.pool, self.connection = pool, connection

    def call(self, commands: Sequence[tuple]) -> list:
        self.connection.send_packed_command([pack_all(commands)], check_health=False)
        return judged([self._read() for _ in commands])

    def _read(self) -> object:
        try:
            return _as_resp(self.connection.read_response())
        except redis.ResponseError as error:  # an error reply: a value until every reply is read
            return _reply_error(error)


class _RedisPyNodes(Nodes):
    """Connections from a redis-py client's pools, kept idle between
    transactions: skips redis-py's per-checkout bookkeeping but keeps its
    check that a connection has nothing unread (closed by the server, say)."""

    # Any of these means 503 (the client retries, always safe).
    errors = REDIS_PY_ERRORS
    lost = (OSError, redis.ConnectionError, redis.TimeoutError)

    def __init__(self, client) -> None:
        super().__init__()
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


class ClientNode(_RedisPyNodes):
    """One Redis behind a redis-py client (fakeredis, in unit tests)."""

    def pool_for(self, key: bytes):
        return self.client.connection_pool


class ClusterNodes(_RedisPyNodes):
    """Redis Cluster: each hash slot on the connection pool of its master.
    Flags take their full form, whose hash tag puts them in their
    experiment's slot (lamed.core.keys).

    The failure policy, one for the tracker and the store (its ``trouble``
    reports here too): the slot map is re-read on ``MOVED`` and on a lost
    connection only, at most once per :data:`REFRESH_INTERVAL_SECONDS` in a
    process; an exchange is tried once more after either. ``ASK`` (a slot
    being migrated), ``TRYAGAIN`` and data errors (``WRONGTYPE``) are
    answered 503 without touching the topology: the client's retry lands
    once the migration settles."""

    def __init__(self, client: RedisCluster) -> None:
        super().__init__(client)
        self._has_replicas: dict = {}  # master's name -> bool, until the next refresh
        self._refreshed_at = -REFRESH_INTERVAL_SECONDS

    def pool_for(self, key: bytes):
        return self.client.get_node_from_key(key).redis_connection.connection_pool

    def replicas_to_wait_for(self, key: bytes) -> int:
        """One where the master has a replica (asked once per master with
        ``INFO replication``, again after a refresh); none where it has none:
        ``WAIT`` would stall every write for its whole timeout."""
        node = self.client.get_node_from_key(key)
        if node.name not in self._has_replicas:
            replication = node.redis_connection.info("replication")
            self._has_replicas[node.name] = replication.get("connected_slaves", 0) > 0
        return 1 if self._has_replicas[node.name] else 0

    def groups(self, slot_keys: Sequence[bytes]) -> list[list[int]]:
        """Indexes of the events that may share a transaction: those in one
        hash slot (their experiment's hash tag, see lamed.core.keys)."""
        by_slot: dict = defaultdict(list)
        for index, key in enumerate(slot_keys):
            by_slot[self.client.keyslot(key)].append(index)
        return list(by_slot.values())

    def run(self, connection: _PooledConnection, commands: Sequence[tuple]) -> list:
        """Keys of ``commands`` may live on other slots: route each one."""
        pipe = self.client.pipeline(transaction=False)
        for name, *arguments in commands:
            pipe.execute_command(name.decode() if isinstance(name, bytes) else name, *arguments)  # it routes by str
        replies = pipe.execute(raise_on_error=False)
        for reply in replies:  # a node lost mid-pipeline: its commands' replies are the exception
            if isinstance(reply, Exception) and not isinstance(reply, redis.ResponseError):
                raise reply
        return judged([_as_resp(reply) for reply in replies])

    def retryable(self, error: BaseException) -> bool:
        return self._changes_topology(error)

    def failed(self, error: BaseException) -> None:
        """Re-reads the slot map after a MOVED or a lost connection (a
        failover, a dead node), so the retry goes to the new master."""
        now = time.monotonic()
        if not self._changes_topology(error) or now - self._refreshed_at < REFRESH_INTERVAL_SECONDS:
            return
        self._refreshed_at = now
        self._has_replicas.clear()
        try:
            self.client.nodes_manager.initialize()
        except (*REDIS_PY_ERRORS, OSError):
            pass  # still failing over; a failure after the interval tries again

    def _changes_topology(self, error: BaseException) -> bool:
        if isinstance(error, self.lost) or isinstance(error, redis.exceptions.MovedError):
            return True
        return isinstance(error, ReplyError) and error.code == "MOVED"


def nodes_for(client: Union[redis.Redis, RedisCluster]) -> Union[ClientNode, ClusterNodes]:
    """The tracking nodes of a redis-py client (see lamed.core.counting)."""
    return ClusterNodes(client) if isinstance(client, RedisCluster) else ClientNode(client)


def _as_resp(reply: object) -> object:
    """A reply as RESP2 gives it, which is what the core reads: the cluster
    pipeline (and fakeredis) give a hash (HGETALL) as a dict, back to the
    flat list; an error reply (inside EXEC's array too) as a ReplyError."""
    if isinstance(reply, dict):
        return [part for pair in reply.items() for part in pair]
    if isinstance(reply, list):
        return [_as_resp(item) for item in reply]
    if isinstance(reply, redis.ResponseError):
        return _reply_error(reply)
    return reply


def _reply_error(error: redis.ResponseError) -> ReplyError:
    code = next((code for kind, code in _CODES.items() if isinstance(error, kind)), None)
    if code is None or str(error).startswith(code):
        return ReplyError(str(error))
    return ReplyError(f"{code} {error}")
