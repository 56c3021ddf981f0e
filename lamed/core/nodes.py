"""Where the counting protocol's commands go: the *nodes* of a tracker.

:class:`SingleRedis` is one Redis over lean connections
(:mod:`lamed.core.connection`); :mod:`lamed.store.cluster` has the same
interface over redis-py's pools (Redis Cluster, fakeredis in unit tests).
A nodes object has ``checkout(key)``/``checkin(key, connection)``/
``discard(connection)`` of connections (``send`` bytes, ``read`` a reply),
``groups`` (a batch split by hash slot), ``after_exec`` (commands sent
with EXEC), ``run`` (commands whose keys may be anywhere), ``failed``
(told of Redis trouble) and the ``errors`` its client raises.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lamed.core.connection import Connection
from lamed.core.protocol import pack_all
from lamed.core.redis_url import ConnectionOptions

if TYPE_CHECKING:
    from lamed.core.interfaces import Command, Link, Reply


class OneServer:
    """What nodes on a single Redis share: every key on the same server."""

    errors: tuple[type[BaseException], ...] = ()  # beyond OSError and lamed.core.errors.RedisError

    def groups(self, slot_keys: Sequence[bytes]) -> list[list[int]]:
        """Indexes of the events that may share a transaction: all of them."""
        return [list(range(len(slot_keys)))]

    def after_exec(self, key: bytes) -> list[Command]:
        return []

    def run(self, connection: Link, commands: Sequence[Command]) -> list[Reply]:
        """Runs ``commands`` in one round trip on ``connection``."""
        connection.send(pack_all(commands))
        return [connection.read() for _ in commands]

    def failed(self, error: BaseException) -> None:
        pass


class SingleRedis(OneServer):
    """One Redis server, over lean connections kept idle between requests.

    A process keeps as many connections as it ran concurrent requests (one on
    Lambda). After a fork the parent's connections are dropped, not shared."""

    def __init__(self, options: ConnectionOptions) -> None:
        self.options = options
        self._idle: list[Connection] = []
        self._pid = os.getpid()

    def checkout(self, key: bytes) -> Connection:
        if self._pid != os.getpid():
            self._idle, self._pid = [], os.getpid()
        try:
            connection = self._idle.pop()
        except IndexError:
            return Connection(self.options)
        if connection.is_stale():
            connection.close()  # reopened by its next send
        return connection

    def checkin(self, key: bytes, connection: Link) -> None:
        assert isinstance(connection, Connection)
        self._idle.append(connection)

    def discard(self, connection: Link) -> None:
        """A connection in an unknown state (mid-transaction, say)."""
        assert isinstance(connection, Connection)
        connection.close()
