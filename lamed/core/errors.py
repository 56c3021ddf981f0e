"""Every error Lamed's core raises, and the one translation of Redis trouble.

Shells turn them into answers (:mod:`lamed.web.replies`: 400, 503) or
command-line messages (:mod:`lamed.cli.errors`); anything else is a bug.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType


class InvalidInput(ValueError):
    """Input the client must fix; ``field`` names the culprit (or is None)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, str | None]:
        return {"error": self.message, "field": self.field}


class LimitExceeded(InvalidInput):
    """An event with a new name beyond a limit of the key space (or outside
    ``allowed_namespaces``): not counted. ``setting`` raises the limit."""

    def __init__(self, message: str, field: str, setting: str) -> None:
        super().__init__(message, field)
        self.setting = setting


class SettingsError(ValueError):
    """Invalid configuration; the message says which setting and why."""


class StoreUnavailable(Exception):
    """Redis could not be reached, did not answer in time, or refused: the
    client retries (503), which is always safe (a retry of an event that was
    in fact counted finds its flag and is a duplicate). ``code`` is the
    error reply's code when Redis refused (``OOM``, ``READONLY``, ...)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class Contention(StoreUnavailable):
    """Too many concurrent writers on the same events: retry later."""


class ReplicaTimeout(StoreUnavailable):
    """No replica acknowledged a write in time: a failover could lose it."""


class DefinitionNotFound(LookupError):
    pass


class DefinitionExists(LookupError):
    pass


class TransferError(ValueError):
    """A document or source Redis that cannot be imported; the message says why."""


# -- the lean connection's own (lamed.core.connection) --------------------


class RedisError(Exception):
    """Redis answered with an error, or with something that is not RESP."""


class ReplyError(RedisError):
    """An error reply (``-ERR ...``, ``-NOSCRIPT ...``). Inside an array (the
    replies of EXEC) it is returned as a value; at the top it is raised once
    every reply of the exchange is read."""

    @property
    def code(self) -> str:
        """The reply's first word: ``OOM``, ``MOVED``, ``NOSCRIPT``, ``WRONGTYPE``..."""
        return str(self).split(" ", 1)[0]


class ProtocolError(RedisError):
    """The stream is out of step: nothing more on that connection can be trusted."""


class RedisTrouble:
    """``with trouble:`` turns any Redis failure into :class:`StoreUnavailable`.

    What counts as a failure: ``OSError`` (connect, timeout, closed socket),
    :class:`RedisError`, and the ``extra`` classes of the client in use
    (redis-py's and the cluster client's, given by :mod:`lamed.store`, so the
    core imports neither). ``on_failure`` is told first (a cluster's nodes
    refresh their slot map)."""

    def __init__(
        self,
        extra: tuple[type[BaseException], ...] = (),
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.classes: tuple[type[BaseException], ...] = (OSError, RedisError, *extra)
        self.on_failure = on_failure

    def __enter__(self) -> RedisTrouble:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if error is None or isinstance(error, StoreUnavailable) or not isinstance(error, self.classes):
            return
        if self.on_failure is not None:
            self.on_failure(error)
        code = error.code if isinstance(error, ReplyError) else None
        raise StoreUnavailable(" ".join(str(error).split()) or type(error).__name__, code) from None
