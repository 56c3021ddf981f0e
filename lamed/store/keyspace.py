"""What Lamed holds in Redis, by namespace, and removing it: a namespace,
or everything under the key prefix (``lamed keys``).

Flags carry no namespace (only a digest of the event), so removing a
namespace leaves its flags to expire within ``uuid_expiry_seconds``: until
then, resends of its events are still duplicates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

from redis.cluster import RedisCluster

from lamed.store.results import Store

Progress = Callable[[int], None]  # told the running count
_CHUNK = 500


class Usage(NamedTuple):
    namespace: str
    experiment: str
    bytes: int  # MEMORY USAGE of its counters and registry sets


def usage(store: Store) -> list[Usage]:
    """Every experiment's memory, by namespace (flags aside: they expire)."""
    found = []
    with store.trouble:
        for namespace in store.namespaces():
            for experiment in store.experiment_names(namespace):
                keys = _experiment_keys(store, namespace, experiment)
                found.append(Usage(namespace, experiment, sum(store.client.memory_usage(key) or 0 for key in keys)))
    return found


def flag_count(store: Store) -> int:
    """Keys under the prefix that expire: the dedup flags."""
    with store.trouble:
        return sum(1 for key in _scan(store) if store.client.ttl(key) > 0)


def remove_namespace(store: Store, namespace: str) -> int:
    """Deletes a namespace's counters, registries, definitions and notified
    decisions; the number of keys removed."""
    keys = store.keys
    with store.trouble:
        experiments = store.experiment_names(namespace)
        removed = 0
        for experiment in experiments:
            removed += _delete(store, _experiment_keys(store, namespace, experiment))
            store.client.srem(keys.experiment_index, keys.experiment_index_member(namespace, experiment))
        removed += _delete(store, [keys.experiments_key(namespace)])
        store.client.srem(keys.namespaces, namespace)
        for per_experiment in (keys.definitions, keys.notified):
            fields = [field for field in store.client.hkeys(per_experiment) if _in_namespace(field, namespace)]
            if fields:
                store.client.hdel(per_experiment, *fields)
    return removed


def remove_everything(store: Store, progress: Progress = lambda count: None) -> int:
    """Deletes every key under the prefix, on every master; the number removed."""
    removed = 0
    with store.trouble:
        chunk: list[bytes] = []
        for key in _scan(store):
            chunk.append(key)
            if len(chunk) == _CHUNK:
                removed += _delete(store, chunk)
                chunk = []
                progress(removed)
        removed += _delete(store, chunk)
        progress(removed)
    return removed


def _experiment_keys(store: Store, namespace: str, experiment: str) -> list[bytes]:
    keys = store.keys
    return [
        keys.counts_key(namespace, experiment),
        keys.variants_key(namespace, experiment),
        keys.goals_key(namespace, experiment),
    ]


def _scan(store: Store) -> Iterator[bytes]:
    pattern = store.keys.prefix + b"*"  # the prefix holds no pattern characters (lamed.core.keys)
    if isinstance(store.client, RedisCluster):
        return store.client.scan_iter(match=pattern, count=1000, target_nodes=RedisCluster.PRIMARIES)
    return store.client.scan_iter(match=pattern, count=1000)


def _delete(store: Store, keys: list[bytes]) -> int:
    """UNLINK, one key per command: on a cluster keys of one call may live on other slots."""
    if not keys:
        return 0
    pipe = store.client.pipeline(transaction=False)
    for key in keys:
        pipe.unlink(key)
    return sum(pipe.execute())


def _in_namespace(field: bytes, namespace: str) -> bool:
    from lamed.core.keys import parse_definition_field

    try:
        return parse_definition_field(field)[0] == namespace
    except (ValueError, TypeError):
        return False
