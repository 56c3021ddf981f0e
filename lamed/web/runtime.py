"""Process-wide services, built on first use and reused by every request (and
every warm Lambda invocation): one Settings, one Tracker, one definitions
snapshot, one Store.

The tracker and the snapshot are all the track path needs; on a single
Redis they are built without redis-py, which the store (results, definitions
writes) imports on first use. The store counts through the same tracker.
"""

from __future__ import annotations

import _thread
from typing import TYPE_CHECKING

from lamed.core.counting import Tracker, lean_tracker
from lamed.core.errors import SettingsError, StoreUnavailable
from lamed.core.lifecycle import DefinitionsSnapshot
from lamed.core.redis_url import is_cluster_url
from lamed.core.settings import Settings, load_settings

if TYPE_CHECKING:
    from lamed.store.results import Store

# threading's own lock, without importing threading (a cold start's millisecond).
# Never held across a call that takes it again.
_lock = _thread.allocate_lock()
_settings: Settings | None = None
_tracker: Tracker | None = None
_store: Store | None = None
_definitions: DefinitionsSnapshot | None = None


def settings() -> Settings:
    global _settings
    if _settings is None:
        with _lock:
            if _settings is None:
                _settings = load_settings()
    return _settings


def tracker() -> Tracker:
    """The process's tracker (see lamed.core.counting)."""
    global _tracker
    if _tracker is None:
        config = settings()
        if is_cluster_url(config.redis_url):
            return store().tracker  # the cluster client's; store() sets _tracker
        with _lock:
            if _tracker is None:
                _tracker = build_tracker(config)
    return _tracker


def kept_tracker() -> Tracker | None:
    """The tracker if a request built it already, else None (nothing to keep)."""
    return _tracker


def store() -> Store:
    global _store, _tracker
    if _store is None:
        config = settings()
        shared = None if is_cluster_url(config.redis_url) else tracker()
        with _lock:
            if _store is None:
                _store = build_store(config, shared)
                _tracker = _store.tracker
    return _store


def definitions() -> DefinitionsSnapshot:
    """The process's one snapshot of the definitions, read over the
    tracker's connections by /track's lifecycle check, /assign and the dashboard."""
    global _definitions
    current = _definitions
    if current is None:
        counting = tracker()
        current = DefinitionsSnapshot(
            lambda: counting.read_hash(counting.keys.definitions), settings().definition_cache_seconds
        )
        _definitions = current
    return current


def build_tracker(config: Settings) -> Tracker:
    """A tracker on lean connections to a single Redis."""
    _require_redis(config)
    try:
        return lean_tracker(config)
    except ValueError as error:
        raise SettingsError(f"redis_url: {error}") from None


def build_store(config: Settings, tracker_: Tracker | None = None) -> Store:
    """A store for ``config``, counting through ``tracker_`` if given, else
    through a tracker of its own (see lamed.store.results.open_store)."""
    from lamed.store.results import open_store  # redis-py: not on the track path

    _require_redis(config)
    try:
        return open_store(config, tracker=tracker_)
    except ValueError as error:
        raise SettingsError(f"redis_url: {error}") from None


def install(config: Settings, store_: Store | None = None) -> None:
    """Replaces the process's services (used by ``lamed serve`` and tests)."""
    global _settings, _tracker, _store, _definitions
    with _lock:
        _settings = config
        _store = store_
        _tracker = store_.tracker if store_ is not None else None
        _definitions = None


def _require_redis(config: Settings) -> None:
    if not config.redis_url:
        raise StoreUnavailable("no Redis configured: set LAMED_REDIS_URL")
