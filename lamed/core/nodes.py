"""Where the counting protocol's commands go: the *nodes* of a tracker, and
the one owner of their connections.

A tracker asks its nodes for one thing: :meth:`Nodes.exchange`, which runs
a conversation (``talk(connection, argument)``) on a connection for a key
inside a :meth:`Nodes.session`. The nodes check the connection out, check it
back in when the conversation ended cleanly, discard it when it ended in any
exception (its state is then unknown), turn Redis trouble into
:class:`~lamed.core.errors.StoreUnavailable`, and replace a connection lost
before its answer: the conversation runs once more on a fresh connection.

That retry is always safe: every write is guarded by its event's flag, so an
event that the lost attempt did count is found by the retry and answered
``duplicate``. It is bounded: at most two attempts, each socket wait at most
``redis_timeout_seconds``; a silently dropped connection costs one timeout
before the retry, and a Redis that stops answering costs two before the 503.

:class:`SingleRedis` is one Redis over lean connections
(:mod:`lamed.core.connection`); :mod:`lamed.store.cluster` has the same
interface over redis-py's pools (Redis Cluster, fakeredis in unit tests).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

from lamed.core import observe
from lamed.core.connection import Connection
from lamed.core.errors import RedisTrouble
from lamed.core.redis_url import ConnectionOptions

if TYPE_CHECKING:
    from lamed.core.interfaces import Command, Link, Reply

_T = TypeVar("_T")
_R = TypeVar("_R")


class Nodes:
    """What every kind of nodes shares: sessions, the exchange and its one
    retry, and a single server's answers to the topology questions."""

    # Beyond OSError and lamed.core.errors.RedisError: the client library's own.
    errors: tuple[type[BaseException], ...] = ()
    # A connection lost before its answer (reset, closed, timed out).
    lost: tuple[type[BaseException], ...] = (OSError,)

    def __init__(self) -> None:
        self.trouble = RedisTrouble(self.errors, on_failure=self._failure)

    # -- connections: the subclass's --------------------------------------

    def checkout(self, key: bytes) -> Link:
        raise NotImplementedError

    def checkin(self, key: bytes, connection: Link) -> None:
        raise NotImplementedError

    def discard(self, connection: Link) -> None:
        raise NotImplementedError

    # -- sessions -----------------------------------------------------------

    @contextmanager
    def session(self, key: bytes) -> Iterator[Link]:
        """A connection for ``key`` for one conversation: kept for the next
        one if the conversation ended cleanly, discarded on any exception."""
        connection = self.checkout(key)
        try:
            yield connection
        except BaseException:
            self.discard(connection)
            raise
        self.checkin(key, connection)

    def exchange(self, key: bytes, talk: Callable[[Link, _T], _R], argument: _T) -> _R:
        """``talk(connection, argument)`` in a session for ``key``, once more
        on a fresh connection if the first was lost (see the module's doc);
        Redis trouble becomes StoreUnavailable."""
        with self.trouble:
            try:
                with self.session(key) as connection:
                    return talk(connection, argument)
            except BaseException as error:
                if not self.retryable(error):
                    raise
                self._failure(error)
            with self.session(key) as connection:
                return talk(connection, argument)

    def run_commands(self, key: bytes, commands: Sequence[Command]) -> list[Reply]:
        """``commands`` in one round trip, for keys anywhere (see :meth:`run`)."""
        return self.exchange(key, self.run, commands)

    # -- what a failure means ----------------------------------------------

    def retryable(self, error: BaseException) -> bool:
        """A failure the exchange tries once more on a fresh connection."""
        return isinstance(error, self.lost)

    def failed(self, error: BaseException) -> None:
        """Told of every failure (a cluster may re-read its slot map)."""

    def _failure(self, error: BaseException) -> None:
        observe.watching.redis_error(observe.error_kind(error))
        self.failed(error)

    # -- the topology of a single server -------------------------------------

    def groups(self, slot_keys: Sequence[bytes]) -> list[list[int]]:
        """Indexes of the events that may share a transaction: all of them."""
        return [list(range(len(slot_keys)))]

    def replicas_to_wait_for(self, key: bytes) -> int:
        """How many replicas must acknowledge a write to ``key`` (``WAIT``)."""
        return 0

    def run(self, connection: Link, commands: Sequence[Command]) -> list[Reply]:
        """Runs ``commands`` in one round trip on ``connection``."""
        return connection.call(commands)


class SingleRedis(Nodes):
    """One Redis server, over lean connections kept idle between requests.

    A process keeps as many connections as it ran concurrent requests (one on
    Lambda). After a fork the parent's connections are dropped, not shared."""

    def __init__(self, options: ConnectionOptions) -> None:
        super().__init__()
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
        assert isinstance(connection, Connection)
        connection.close()
