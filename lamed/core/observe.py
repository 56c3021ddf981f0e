"""What counting did, told to whoever watches: the shells' metrics.

The core imports no metrics library. It tells :data:`watching` (an
:class:`Observer`) what happened: a connection opened, a Redis round trip
and its duration, a Redis failure by kind, a WATCH retry, and (from the
track route) how many events got each outcome. The default observer does
nothing: a method call per fact, about 0.1 µs. ``lamed serve`` installs one
that feeds prometheus_client (:mod:`lamed.web.prometheus`), the Lambda
function one that aggregates in memory for CloudWatch's Embedded Metric
Format (:mod:`lamed.web.emf`).

One observer per process: a gunicorn worker or a Lambda execution
environment is one process, and every tracker in it reports to the same
place. Every label an observer gets comes from a fixed set
(:data:`ERROR_KINDS`, the outcomes of :mod:`lamed.web.tracking`), never
from a name a client sent.
"""

from __future__ import annotations

from collections.abc import Mapping

from lamed.core.errors import Contention, ReplicaTimeout, ReplyError, StoreUnavailable

TIMEOUT = "timeout"
CONNECTION = "connection"
OOM = "oom"
CONTENTION = "contention"
REPLICA = "replica"
REPLY = "reply"  # any other error reply (READONLY, WRONGTYPE, ...)
ERROR_KINDS = (TIMEOUT, CONNECTION, OOM, CONTENTION, REPLICA, REPLY)


class Observer:
    """Told what counting did; this one ignores it. Shells subclass it."""

    def connection_opened(self) -> None:
        """A new connection to Redis (a kept one is reused without this)."""

    def round_trip(self, seconds: float) -> None:
        """One request to Redis and all its replies, ``seconds`` long."""

    def redis_error(self, kind: str) -> None:
        """A Redis failure, ``kind`` one of ERROR_KINDS; a lost connection
        that the retry replaced is reported too."""

    def watch_retry(self) -> None:
        """A transaction lost to another writer (who set one of its flags
        meanwhile) starts again; a duplicate's own flag is not counted here."""

    def events(self, outcomes: Mapping[str, int]) -> None:
        """One request's events by outcome (``{"counted": 9, "duplicate": 1}``)."""

    def unavailable(self, cause: str) -> None:
        """A request answered 503, and why (the error's message: Redis's own,
        never an event's names); the answer itself says only "retry"."""


watching: Observer = Observer()


def install(observer: Observer) -> Observer:
    """Makes ``observer`` the process's; returns the one it replaces."""
    global watching
    previous, watching = watching, observer
    return previous


def error_kind(error: BaseException) -> str:
    """The kind of a Redis failure, one of ERROR_KINDS. The client
    library's classes are told apart by name, so the core imports none."""
    if isinstance(error, Contention):
        return CONTENTION
    if isinstance(error, ReplicaTimeout):
        return REPLICA
    code = error.code if isinstance(error, (ReplyError, StoreUnavailable)) else None
    if code == "OOM" or str(error).startswith("OOM"):
        return OOM
    if code is not None or isinstance(error, ReplyError) or "ResponseError" in type(error).__name__:
        return REPLY
    # socket.timeout is TimeoutError; redis-py's TimeoutError is not one, so it goes by name.
    if isinstance(error, TimeoutError) or "timeout" in type(error).__name__.lower():
        return TIMEOUT
    return CONNECTION
