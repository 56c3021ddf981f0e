"""Lamed's data in Redis through redis-py: reading and deleting results.

Counting lives in :mod:`lamed.core.counting` (the Lambda track path, which
must not import redis-py); a :class:`Store` holds one
:class:`~lamed.core.counting.Tracker` and offers its ``track``/``track_many``
beside the readers, so callers have one object for an experiment's data.
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence

from redis.cluster import RedisCluster
from redis.exceptions import NoPermissionError

from lamed.core.counting import Outcome, Tracker, lean_tracker
from lamed.core.events import Event
from lamed.core.keys import notified_field
from lamed.core.redis_safety import MemoryCheck, check_memory
from lamed.core.redis_url import is_cluster_url
from lamed.core.results import ExperimentCounts, experiment_counts
from lamed.core.settings import DEFAULTS, Settings
from lamed.store.cluster import nodes_for
from lamed.store.redis_client import Client, connect, redis_trouble


class Store:
    """Lamed's data in Redis: counting (through its tracker) and reading.

    Given only a redis-py ``client``, tracking runs on that client's pools
    (Redis Cluster, fakeredis); :func:`open_store` gives a single Redis the
    lean connections of :mod:`lamed.core.connection`, as the track path has."""

    def __init__(self, client: Client, settings: Settings = DEFAULTS, tracker: Optional[Tracker] = None) -> None:
        self.client = client
        self.tracker = tracker or Tracker(nodes_for(client), settings)
        self.keys = self.tracker.keys
        # One failure policy for the tracker and the store (lamed.store.cluster).
        self.trouble = redis_trouble(on_failure=self.tracker.nodes.failed)

    def track(self, event: Event, now: Optional[float] = None) -> Outcome:
        """Counts one event exactly once (see Tracker.track_many)."""
        return self.tracker.track(event, now)

    def track_many(self, events: Sequence[Event], now: Optional[float] = None) -> list[Outcome]:
        """Counts a batch exactly once; one outcome per event, in order."""
        return self.tracker.track_many(events, now)

    # -- reading --------------------------------------------------------

    def namespaces(self) -> list[str]:
        with self.trouble:
            members = self.client.smembers(self.keys.namespaces)
        return sorted(member.decode("utf-8") for member in members)

    def experiment_names(self, namespace: str) -> list[str]:
        with self.trouble:
            members = self.client.smembers(self.keys.experiments_key(namespace))
        return sorted(member.decode("utf-8") for member in members)

    def results(self, namespace: str, experiments: Iterable[str]) -> list[ExperimentCounts]:
        """Counters of many experiments in one round trip, read as the
        tracker reads (on a single Redis, its lean connections)."""
        names = list(experiments)
        hashes = self.tracker.read_hashes([self.keys.counts_key(namespace, name) for name in names])
        return [experiment_counts(namespace, name, fields) for name, fields in zip(names, hashes)]

    def experiment(self, namespace: str, name: str) -> ExperimentCounts:
        return self.results(namespace, [name])[0]

    def delete(self, namespace: str, experiment: str) -> bool:
        """Deletes an experiment's counters; True if it had any.

        Dedup flags are left to expire: a resend of an old event within
        ``uuid_expiry_seconds`` still does not count.
        """
        with self.trouble:
            pipe = self.client.pipeline(transaction=False)
            pipe.delete(self.keys.counts_key(namespace, experiment))
            pipe.srem(self.keys.experiments_key(namespace), experiment)
            pipe.delete(self.keys.variants_key(namespace, experiment))
            pipe.delete(self.keys.goals_key(namespace, experiment))
            pipe.srem(self.keys.experiment_index, self.keys.experiment_index_member(namespace, experiment))
            pipe.hdel(self.keys.notified, notified_field(namespace, experiment))  # a new start is news again
            deleted, removed, *_ = pipe.execute()
        return bool(deleted or removed)

    def memory_checks(self) -> list[MemoryCheck]:
        """The eviction policy and memory of every master (see lamed.core.redis_safety)."""
        with self.trouble:
            try:
                if isinstance(self.client, RedisCluster):
                    infos = self.client.info("memory", target_nodes=RedisCluster.PRIMARIES)
                    if "used_memory" in infos:  # a cluster of one master answers for itself
                        infos = {"cluster": infos}
                else:
                    infos = {"redis": self.client.info("memory")}
            except NoPermissionError:
                return [check_memory("redis", None)]
        return [check_memory(str(node), info) for node, info in sorted(infos.items())]

    def ping(self) -> bool:
        with self.trouble:
            return bool(self.client.ping())


def open_store(settings: Settings, tracker: Optional[Tracker] = None) -> Store:
    """A store for ``settings.redis_url``: redis-py for reading; for counting,
    ``tracker`` if given, else lean connections on a single Redis and the
    cluster client's pools on a cluster. ValueError for a bad URL."""
    client = connect(settings.redis_url or "", settings.redis_timeout_seconds)
    if tracker is None and not is_cluster_url(settings.redis_url):
        tracker = lean_tracker(settings)
    return Store(client, settings, tracker)
