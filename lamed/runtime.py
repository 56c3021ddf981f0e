"""Process-wide services, built on first use and reused by every request (and
every warm Lambda invocation): one Settings, one Store, one Redis pool."""

from __future__ import annotations

import threading
from typing import Optional

from lamed.settings import Settings, load_settings
from lamed.store import Limits, Store, StoreUnavailable, connect

_lock = threading.RLock()
_settings: Optional[Settings] = None
_store: Optional[Store] = None


def settings() -> Settings:
    global _settings
    if _settings is None:
        with _lock:
            if _settings is None:
                _settings = load_settings()
    return _settings


def store() -> Store:
    global _store
    if _store is None:
        with _lock:
            if _store is None:
                _store = build_store(settings())
    return _store


def build_store(config: Settings) -> Store:
    if not config.redis_url:
        raise StoreUnavailable("no Redis configured: set LAMED_REDIS_URL")
    client = connect(config.redis_url, config.redis_timeout_seconds)
    limits = Limits(config.max_experiments_per_namespace, config.max_variants_per_experiment)
    return Store(client, config.uuid_expiry_seconds, config.watch_retries, limits, config.track_mode)


def install(config: Settings, store_: Optional[Store] = None) -> None:
    """Replaces the process's services (used by ``lamed serve`` and tests)."""
    global _settings, _store
    with _lock:
        _settings = config
        _store = store_
