"""What the counting protocol needs of the nodes and connections it runs
on, for type checkers only: imported under ``TYPE_CHECKING`` and never at
run time (``typing`` costs the Lambda track path 2-3 ms of a cold start).

:mod:`lamed.core.nodes` implements them over lean connections,
:mod:`lamed.store.cluster` over redis-py's pools.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

Command = tuple[object, ...]  # parts as bytes, str or int
# bytes, int, None, a list of these, or (inside a list) an error: RESP is dynamically shaped.
Reply = Any


class Link(Protocol):
    """One connection: a write of packed commands, then their replies in order."""

    def send(self, data: bytes) -> None: ...

    def read(self) -> Reply: ...


class Nodes(Protocol):
    """Where commands go: connections per hash slot, and what a slot needs."""

    errors: tuple[type[BaseException], ...]

    def checkout(self, key: bytes) -> Link: ...

    def checkin(self, key: bytes, connection: Link) -> None: ...

    def discard(self, connection: Link) -> None: ...

    def groups(self, slot_keys: Sequence[bytes]) -> list[list[int]]: ...

    def after_exec(self, key: bytes) -> list[Command]: ...

    def run(self, connection: Link, commands: Sequence[Command]) -> list[Reply]: ...

    def failed(self, error: BaseException) -> None: ...
