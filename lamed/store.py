"""Lamed's data in Redis through redis-py: reading and deleting results.

Counting lives in :mod:`lamed.counting` (the Lambda track path, which must not
import redis-py); a :class:`Store` holds one :class:`~lamed.counting.Tracker`
and offers its ``track``/``track_many`` beside the readers, so callers have
one object for an experiment's data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

import redis

from lamed import keys
from lamed.cluster import bounded, connect_cluster, nodes_for
from lamed.counting import (  # noqa: F401  (re-exported: the store's vocabulary)
    COUNTED,
    DEFAULT_LIMITS,
    DUPLICATE,
    Contention,
    LimitExceeded,
    Limits,
    StoreUnavailable,
    Tracker,
    lean_tracker,
    utc_day,
)
from lamed.events import PARTICIPATE, Event
from lamed.settings import is_cluster_url


@dataclass
class ExperimentCounts:
    """All counters of one experiment, as plain data."""

    namespace: str
    name: str
    # (event, variant) -> count over all days
    totals: dict = field(default_factory=dict)
    # (day "YYYYMMDD", event, variant) -> count
    daily: dict = field(default_factory=dict)

    @property
    def variants(self) -> list[str]:
        return sorted({variant for _, variant in self.totals})

    @property
    def goals(self) -> list[str]:
        return sorted({event for event, _ in self.totals if event != PARTICIPATE})

    def count(self, event: str, variant: str) -> int:
        return self.totals.get((event, variant), 0)

    @property
    def is_empty(self) -> bool:
        return not self.totals


def connect(redis_url: str, timeout_seconds: float = 0.5) -> redis.Redis:
    """One client (one connection pool) per process, with bounded timeouts and
    no hidden retries, so a dead or hanging Redis costs about a second, not
    minutes. A ``redis+cluster://`` URL gives a Redis Cluster client."""
    if is_cluster_url(redis_url):
        return connect_cluster(redis_url, timeout_seconds)
    return redis.Redis.from_url(redis_url, **bounded(timeout_seconds, retries=0))


class Store:
    """Lamed's data in Redis: counting (through its tracker) and reading.

    Given only a redis-py ``client``, tracking runs on that client's pools
    (Redis Cluster, fakeredis); :func:`open_store` gives a single Redis the
    lean connections of :mod:`lamed.resp`, as the Lambda track path has."""

    def __init__(
        self,
        client: redis.Redis,
        uuid_expiry_seconds: int = 86400,
        watch_retries: int = 5,
        limits: Limits = DEFAULT_LIMITS,
        track_mode: str = "watch",
        tracker: Optional[Tracker] = None,
    ) -> None:
        self.client = client
        self.tracker = tracker or Tracker(nodes_for(client), uuid_expiry_seconds, watch_retries, limits, track_mode)

    def track(self, event: Event, now: Optional[float] = None) -> str:
        """Counts one event exactly once: returns COUNTED or DUPLICATE."""
        return self.tracker.track(event, now)

    def track_many(self, events: Sequence[Event], now: Optional[float] = None) -> list[str]:
        """Counts a batch exactly once; one outcome per event, in order."""
        return self.tracker.track_many(events, now)

    # -- reading --------------------------------------------------------

    def namespaces(self) -> list[str]:
        members = self._call(lambda: self.client.smembers(keys.NAMESPACES))
        return sorted(member.decode("utf-8") for member in members)

    def experiment_names(self, namespace: str) -> list[str]:
        members = self._call(lambda: self.client.smembers(keys.experiments_key(namespace)))
        return sorted(member.decode("utf-8") for member in members)

    def results(self, namespace: str, experiments: Iterable[str]) -> list[ExperimentCounts]:
        """Counters of many experiments in one round trip, read as the
        tracker reads: on a single Redis, its lean connections (about half
        the time of a redis-py pipeline for 1,000 experiments; README)."""
        names = list(experiments)
        hashes = self.tracker.read_hashes([keys.counts_key(namespace, name) for name in names])
        return [_experiment_counts(namespace, name, fields) for name, fields in zip(names, hashes)]

    def experiment(self, namespace: str, name: str) -> ExperimentCounts:
        return self.results(namespace, [name])[0]

    def delete(self, namespace: str, experiment: str) -> bool:
        """Deletes an experiment's counters; True if it had any.

        Dedup flags are left to expire: a resend of an old event within
        ``uuid_expiry_seconds`` still does not count.
        """

        def remove() -> tuple:
            pipe = self.client.pipeline(transaction=False)
            pipe.delete(keys.counts_key(namespace, experiment))
            pipe.srem(keys.experiments_key(namespace), experiment)
            pipe.delete(keys.variants_key(namespace, experiment))
            return tuple(pipe.execute())

        deleted, removed, _ = self._call(remove)
        return bool(deleted or removed)

    def ping(self) -> bool:
        return bool(self._call(self.client.ping))

    def _call(self, operation):
        try:
            return operation()
        except (redis.RedisError, redis.exceptions.RedisClusterException, OSError) as error:
            self.tracker.nodes.failed(error)
            raise StoreUnavailable(str(error)) from None


def open_store(
    redis_url: str,
    timeout_seconds: float = 0.5,
    uuid_expiry_seconds: int = 86400,
    watch_retries: int = 5,
    limits: Limits = DEFAULT_LIMITS,
    track_mode: str = "watch",
) -> Store:
    """A store for ``redis_url``: redis-py for reading; for counting, lean
    connections on a single Redis, the cluster client's pools on a cluster."""
    client = connect(redis_url, timeout_seconds)
    options = (uuid_expiry_seconds, watch_retries, limits, track_mode)
    if is_cluster_url(redis_url):
        return Store(client, *options)
    return Store(client, tracker=lean_tracker(redis_url, timeout_seconds, *options))


def _experiment_counts(namespace: str, name: str, fields: dict) -> ExperimentCounts:
    counts = ExperimentCounts(namespace, name)
    for raw_field, raw_value in fields.items():
        day, event, variant = keys.parse_day_field(raw_field)
        value = int(raw_value)
        counts.daily[(day, event, variant)] = value
        counts.totals[(event, variant)] = counts.totals.get((event, variant), 0) + value
    return counts
