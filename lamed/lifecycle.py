"""Whether tracking of an experiment counts right now: its lifecycle status.

Events of a paused or stopped experiment (runtime config, see
:mod:`lamed.definitions`) are answered 200 ``not_counted``. The track path
reads only the statuses, from the hash the definitions live in, through a
per-process snapshot refreshed once per TTL: a change reaches every handler
within the TTL, and an experiment without a definition costs one dict lookup.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable

from lamed import keys, runtime

DRAFT, RUNNING, PAUSED, STOPPED = "draft", "running", "paused", "stopped"
STATUSES = (DRAFT, RUNNING, PAUSED, STOPPED)
# Tracking of these is answered 200 ``not_counted``: the experiment is over or on hold.
NOT_COUNTED_STATUSES = (PAUSED, STOPPED)


class SnapshotCache:
    """A snapshot keyed by (namespace, experiment), reloaded whole once it is
    older than ``ttl_seconds``.

    Thread-safe without a lock: the snapshot is replaced whole; two threads
    may both reload once, which is harmless."""

    def __init__(self, load: Callable[[], dict], ttl_seconds: float, clock: Callable[[], float] = time.monotonic):
        self._load = load
        self._ttl = ttl_seconds
        self._clock = clock
        self._snapshot: dict = {}
        self._expires = -math.inf

    def get(self, namespace: str, name: str) -> object | None:
        if self._clock() >= self._expires:
            self.refresh()
        return self._snapshot.get((namespace, name))

    def refresh(self) -> None:
        loaded_at = self._clock()
        self._snapshot = self._load()
        self._expires = loaded_at + self._ttl


def statuses_not_counted(stored: dict) -> dict:
    """``{(namespace, experiment): status}`` of the definitions whose status
    stops counting. An entry that is not a JSON object is skipped here (the
    definitions' readers warn about it), so it cannot stop tracking."""
    found = {}
    for raw_field, raw in stored.items():
        try:
            status = json.loads(raw).get("status")
            identity = keys.parse_definition_field(raw_field)
        except (ValueError, AttributeError, TypeError):
            continue
        if status in NOT_COUNTED_STATUSES:
            found[tuple(identity)] = status
    return found


_process_cache: tuple | None = None  # (tracker, SnapshotCache)


def not_counted_reason(namespace: str, experiment: str) -> str | None:
    """``paused`` or ``stopped`` when tracking of the experiment must not
    count; None otherwise (and for experiments without a definition)."""
    global _process_cache
    tracker = runtime.tracker()
    if _process_cache is None or _process_cache[0] is not tracker:
        ttl = runtime.settings().definition_cache_seconds
        _process_cache = (
            tracker,
            SnapshotCache(lambda: statuses_not_counted(tracker.read_hash(keys.DEFINITIONS)), ttl),
        )
    return _process_cache[1].get(namespace, experiment)
