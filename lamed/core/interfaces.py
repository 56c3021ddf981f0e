"""What the counting protocol needs of the connections it runs on, for
type checkers only: imported under ``TYPE_CHECKING`` and never at
run time (``typing`` costs the Lambda track path 2-3 ms of a cold start).

:mod:`lamed.core.connection` implements it over a socket,
:mod:`lamed.store.cluster` over redis-py's pools; the nodes that hand
connections out are :class:`lamed.core.nodes.Nodes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

Command = tuple[object, ...]  # parts as bytes, str or int
# bytes, int, None, a list of these, or (inside a list) an error: RESP is dynamically shaped.
Reply = Any


class Link(Protocol):
    """One connection: commands sent in one write, their replies read in order."""

    def call(self, commands: Sequence[Command]) -> list[Reply]: ...
