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
from typing import TYPE_CHECKING, NamedTuple

from lamed.core import keys

if TYPE_CHECKING:
    from lamed.core.definitions import Definition

DRAFT, RUNNING, PAUSED, STOPPED = "draft", "running", "paused", "stopped"
STATUSES = (DRAFT, RUNNING, PAUSED, STOPPED)
# Tracking of these is answered 200 ``not_counted``: the experiment is over or on hold.
NOT_COUNTED_STATUSES = (PAUSED, STOPPED)

Identity = tuple[str, str]  # (namespace, experiment)


class _Loaded(NamedTuple):
    expires: float  # on the snapshot's clock
    documents: dict[Identity, bytes]  # the raw definitions
    not_counted: dict[Identity, str]  # the statuses that stop counting
    decoded: dict[Identity, Definition | None]  # filled on first use


class DefinitionsSnapshot:
    """The definitions hash, reloaded whole by ``load`` (field -> raw JSON)
    once it is older than ``ttl_seconds``.

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
        self._loaded = _Loaded(-math.inf, {}, {}, {})

    def not_counted_reason(self, namespace: str, experiment: str) -> str | None:
        """``paused`` or ``stopped`` when tracking of the experiment must not
        count; None otherwise (and for experiments without a definition)."""
        return self._current().not_counted.get((namespace, experiment))

    def definition(self, namespace: str, experiment: str) -> Definition | None:
        """The experiment's definition, or None (none stored, or one that no
        longer validates: it is skipped, so it cannot break anything else)."""
        loaded = self._current()
        identity = (namespace, experiment)
        if identity not in loaded.decoded:
            raw = loaded.documents.get(identity)
            loaded.decoded[identity] = None if raw is None else _decode(experiment, raw)
        return loaded.decoded[identity]

    def invalidate(self) -> None:
        """Reloads on the next read: this process just wrote a definition."""
        self._loaded = self._loaded._replace(expires=-math.inf)

    def _current(self) -> _Loaded:
        if self._clock() >= self._loaded.expires:
            loaded_at = self._clock()
            documents = {}
            for raw_field, raw in self._load().items():
                try:
                    documents[keys.parse_definition_field(raw_field)] = raw
                except (ValueError, TypeError):
                    continue  # a field Lamed did not write
            self._loaded = _Loaded(loaded_at + self._ttl, documents, _statuses_not_counted(documents), {})
        return self._loaded


def _statuses_not_counted(documents: dict[Identity, bytes]) -> dict[Identity, str]:
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


def _decode(name: str, raw: bytes) -> Definition | None:
    from lamed.core.definitions import decode_or_none  # dataclasses: never on the track path

    return decode_or_none(name, raw)
