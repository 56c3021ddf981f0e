"""The lifecycle statuses of an experiment, and the one snapshot of the
definitions that a process reads them from.

Events of a paused or stopped experiment are answered 200 ``not_counted``;
``/assign`` and the dashboard read whole definitions. Both read the same
:class:`DefinitionsSnapshot`: the definitions hash loaded whole, at most
``ttl_seconds`` old, so a change reaches every handler within the TTL and
``/track`` and ``/assign`` never disagree about a pause. The track path
reads only statuses (``json``); full definitions are decoded on first use
(:mod:`lamed.core.definitions` imports ``dataclasses``, a cold start's
17-25 ms the track path does not pay).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable

from lamed.core import keys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (the track path)
if TYPE_CHECKING:
    from lamed.core.definitions import Definition

DRAFT, RUNNING, PAUSED, STOPPED = "draft", "running", "paused", "stopped"
STATUSES = (DRAFT, RUNNING, PAUSED, STOPPED)
# Tracking of these is answered 200 ``not_counted``: the experiment is over or on hold.
NOT_COUNTED_STATUSES = (PAUSED, STOPPED)

Identity = tuple  # (namespace, experiment)


class DefinitionsSnapshot:
    """The definitions hash (raw field -> raw JSON), reloaded whole by
    ``load`` once it is older than ``ttl_seconds``.

    Thread-safe without a lock: each reload replaces one tuple whole; two
    threads may both reload once, which is harmless."""

    def __init__(
        self,
        load: Callable[[], dict[bytes, bytes]],
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl = ttl_seconds
        self._clock = clock
        # (expires at, raw documents by identity, statuses that stop counting, decoded definitions)
        self._state: tuple[float, dict[Identity, bytes], dict[Identity, str], dict[Identity, object]] = (
            -math.inf, {}, {}, {},
        )  # fmt: skip

    def not_counted_reason(self, namespace: str, experiment: str) -> str | None:
        """``paused`` or ``stopped`` when tracking of the experiment must not
        count; None otherwise (and for experiments without a definition)."""
        return self._current()[2].get((namespace, experiment))

    def definition(self, namespace: str, experiment: str) -> Definition | None:
        """The experiment's definition, or None (none stored, or one that no
        longer validates: it is skipped, so it cannot break anything else)."""
        _, documents, _, decoded = self._current()
        identity = (namespace, experiment)
        if identity not in decoded:
            decoded[identity] = _decode(experiment, documents.get(identity))
        found = decoded[identity]
        return found  # type: ignore[return-value]

    def invalidate(self) -> None:
        """Reloads on the next read: this process just wrote a definition."""
        self._state = (-math.inf, *self._state[1:])

    def refresh(self) -> None:
        loaded_at = self._clock()
        documents = {}
        for raw_field, raw in self._load().items():
            try:
                documents[keys.parse_definition_field(raw_field)] = raw
            except (ValueError, TypeError):
                continue  # a field Lamed did not write
        self._state = (loaded_at + self._ttl, documents, _statuses_not_counted(documents), {})

    def _current(self) -> tuple:
        if self._clock() >= self._state[0]:
            self.refresh()
        return self._state


def _statuses_not_counted(documents: dict) -> dict:
    """The statuses that stop counting. A document that is not a JSON object
    is skipped here (the definitions' readers warn about it)."""
    found = {}
    for identity, raw in documents.items():
        try:
            status = json.loads(raw).get("status")
        except (ValueError, AttributeError, TypeError):
            continue
        if status in NOT_COUNTED_STATUSES:
            found[identity] = status
    return found


def _decode(name: str, raw: bytes | None) -> object:
    if raw is None:
        return None
    from lamed.core.definitions import decode_or_none  # dataclasses: never on the track path

    return decode_or_none(name, raw)
