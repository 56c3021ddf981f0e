"""Process-wide services, built on first use and reused by every request (and
every warm Lambda invocation): one Settings, one Tracker, one Store.

The tracker is all the track path needs; on a single Redis it is built
without redis-py, which the store (results, definitions) imports on first use.
Both share one set of connections' worth of configuration, and the store
counts through the same tracker.
"""

from __future__ import annotations

import _thread

from lamed.counting import Limits, StoreUnavailable, Tracker, lean_tracker
from lamed.settings import Settings, SettingsError, is_cluster_url, load_settings

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a cold start's 3 ms)
if TYPE_CHECKING:
    from lamed.store import Store

# threading's own lock, without importing threading (a cold start's millisecond).
# Never held across a call that takes it again.
_lock = _thread.allocate_lock()
_settings: Settings | None = None
_tracker: Tracker | None = None
_store: Store | None = None


def settings() -> Settings:
    global _settings
    if _settings is None:
        with _lock:
            if _settings is None:
                _settings = load_settings()
    return _settings


def tracker() -> Tracker:
    """The process's tracker (see lamed.counting)."""
    global _tracker
    if _tracker is None:
        config = settings()
        if is_cluster_url(config.redis_url):
            return store().tracker  # the cluster client's; store() sets _tracker
        with _lock:
            if _tracker is None:
                _tracker = build_tracker(config)
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


def build_tracker(config: Settings) -> Tracker:
    """A tracker on lean connections to a single Redis."""
    try:
        return lean_tracker(_redis_url(config), config.redis_timeout_seconds, *tracking_options(config))
    except ValueError as error:
        raise SettingsError(f"redis_url: {error}") from None


def build_store(config: Settings, tracker_: Tracker | None = None) -> Store:
    """A store for ``config``: counting through ``tracker_`` if given, else
    through a tracker of its own (see lamed.store.open_store)."""
    from lamed.store import Store, connect, open_store  # redis-py: not on the track path

    url = _redis_url(config)
    if tracker_ is not None:
        return Store(connect(url, config.redis_timeout_seconds), tracker=tracker_)
    return open_store(url, config.redis_timeout_seconds, *tracking_options(config))


def tracking_options(config: Settings) -> tuple:
    """uuid expiry, watch retries, limits and track mode, in Tracker's order."""
    limits = Limits(config.max_experiments_per_namespace, config.max_variants_per_experiment)
    return config.uuid_expiry_seconds, config.watch_retries, limits, config.track_mode


def install(config: Settings, store_: Store | None = None) -> None:
    """Replaces the process's services (used by ``lamed serve`` and tests)."""
    global _settings, _tracker, _store
    with _lock:
        _settings = config
        _store = store_
        _tracker = store_.tracker if store_ is not None else None


def _redis_url(config: Settings) -> str:
    if not config.redis_url:
        raise StoreUnavailable("no Redis configured: set LAMED_REDIS_URL")
    return config.redis_url
