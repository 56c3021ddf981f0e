"""Counting events exactly once in Redis, reading and deleting results.

The counting protocol, per group of events that share a connection:

1. one round trip: ``WATCH flag...`` + ``MGET flag...``;
2. events whose flag exists are duplicates; if none is new, ``UNWATCH``;
3. otherwise one round trip: ``MULTI``, ``SET flag 1 EX ttl`` per new event,
   ``HINCRBY`` per (day, event, variant), ``EXEC``. A nil EXEC means another
   writer touched a watched flag: go back to 1 (bounded), then give up with
   :class:`Contention`.

A single event costs 6 commands in 2 round trips. The commands are written
to the connection directly because redis-py's ``Pipeline.watch`` sends each
command in its own round trip. Registry bookkeeping (which experiments exist)
happens only when an HINCRBY creates a field, i.e. about once per experiment,
event and variant a day, never per event.

An optional mode, ``track_mode = "lua"`` (never the default), counts a group
in one round trip: a script does ``SET flag 1 EX ttl NX`` and, when it set
the flag, ``HINCRBY``; Redis runs a script atomically, so it is exactly once
without WATCH (3 commands, 1 round trip per event).

Every failure talking to Redis surfaces as :class:`StoreUnavailable`: the
caller answers 503 and the client retries. Retrying is always safe: a retry
of an event that was in fact committed finds its flag and is a duplicate.
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from lamed import keys
from lamed.cluster import TOPOLOGY_ERRORS, connect_cluster, is_cluster_url, topology_for
from lamed.events import PARTICIPATE, Event, InvalidInput

COUNTED = "counted"
DUPLICATE = "duplicate"


class StoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time."""


class Contention(StoreUnavailable):
    """Too many concurrent writers on the same events: retry later."""


class LimitExceeded(InvalidInput):
    """A new experiment or variant beyond the configured limits (a 400)."""


@dataclass(frozen=True)
class Limits:
    """Guards the key space against a client inventing names without end."""

    experiments_per_namespace: int = 1000
    variants_per_experiment: int = 50


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


def utc_day(now: Optional[float] = None) -> str:
    return time.strftime("%Y%m%d", time.gmtime(now))


def connect(redis_url: str, timeout_seconds: float = 0.5) -> redis.Redis:
    """One client (one connection pool) per process, with bounded timeouts and
    no hidden retries, so a dead or hanging Redis costs about a second, not
    minutes. A ``redis+cluster://`` URL gives a Redis Cluster client."""
    if is_cluster_url(redis_url):
        return connect_cluster(redis_url, timeout_seconds)
    return redis.Redis.from_url(
        redis_url,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )


# The hot path builds the same few keys again and again: JSON-encoding them
# costs more than a cache lookup. Bounded, so arbitrary names cannot grow it.
_hash_tag = functools.lru_cache(maxsize=4096)(keys.hash_tag)
_counts_key = functools.lru_cache(maxsize=4096)(keys.counts_key)
_day_field = functools.lru_cache(maxsize=4096)(keys.day_field)
_parse_day_field = functools.lru_cache(maxsize=4096)(keys.parse_day_field)


def _pack(*parts: bytes) -> bytes:
    """One command in RESP. The transaction packs its commands by hand: they
    are all bytes already, and redis-py's generic packer costs about 2 µs a
    command, a tenth of a single event's CPU."""
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%b\r\n" % (len(part), part) for part in parts)


_MULTI = _pack(b"MULTI")
_EXEC = _pack(b"EXEC")

# KEYS: the flags, then the counters; ARGV: ttl, number of flags, then per
# flag the position of its counter among the counter keys and its day field.
_TRACK_SCRIPT = b"""
local ttl, n, out = ARGV[1], tonumber(ARGV[2]), {}
for i = 1, n do
  if redis.call('SET', KEYS[i], '1', 'EX', ttl, 'NX') then
    out[i] = redis.call('HINCRBY', KEYS[n + tonumber(ARGV[1 + 2 * i])], ARGV[2 + 2 * i], 1)
  else
    out[i] = 0
  end
end
return out
"""
_TRACK_SHA = hashlib.sha1(_TRACK_SCRIPT).hexdigest().encode()


class Store:
    """Lamed's data in Redis: the only object that talks to Redis."""

    def __init__(
        self,
        client: redis.Redis,
        uuid_expiry_seconds: int = 86400,
        watch_retries: int = 5,
        limits: Limits = Limits(),
        track_mode: str = "watch",
    ) -> None:
        self.client = client
        self._count = self._scripted if track_mode == "lua" else self._transaction
        self.uuid_expiry_seconds = uuid_expiry_seconds
        self.watch_retries = watch_retries
        self.limits = limits
        self._topology = topology_for(client)
        self._within_limits: set = set()  # (namespace, experiment, variant) already checked
        self._idle: dict = {}  # pool -> connections taken from it, idle between transactions
        self._idle_pid = os.getpid()

    # -- counting -------------------------------------------------------

    def track(self, event: Event, now: Optional[float] = None) -> str:
        """Counts one event exactly once: returns COUNTED or DUPLICATE."""
        return self.track_many([event], now)[0]

    def track_many(self, events: Sequence[Event], now: Optional[float] = None) -> list[str]:
        """Counts a batch in two round trips; one outcome per event, in order.

        Repeats of an event inside the batch are duplicates of its first copy.
        """
        day = utc_day(now)
        flags = [self._flag(event) for event in events]
        first_index: dict = {}
        for index, flag in enumerate(flags):
            first_index.setdefault(flag, index)
        unique = [index for index in first_index.values()]
        outcomes = [DUPLICATE] * len(events)
        self._check_limits([events[i] for i in unique])
        for group in self._topology.groups(flags, unique) if unique else ():
            counted = self._count_unique([events[i] for i in group], [flags[i] for i in group], day)
            for index, was_counted in zip(group, counted):
                outcomes[index] = COUNTED if was_counted else DUPLICATE
        return outcomes

    def _flag(self, event: Event) -> bytes:
        tag = _hash_tag(event.namespace, event.experiment)
        return keys.flag_key(tag, event.namespace, event.experiment, event.event, event.variant, event.uuid)

    def _count_unique(self, events: list, flags: list, day: str) -> list[bool]:
        for _ in range(self.watch_retries):
            result = self._attempt(events, flags, day)
            if result is not None:
                return result
        raise Contention("too many concurrent writers; retry")

    def _attempt(self, events: list, flags: list, day: str) -> Optional[list[bool]]:
        try:
            pool = self._topology.pool_for(flags[0])
            connection = self._checkout(pool)
        except (redis.ConnectionError, redis.TimeoutError, OSError, *TOPOLOGY_ERRORS) as error:
            self._topology.failed(error)
            raise StoreUnavailable(str(error)) from None
        try:
            result = self._count(connection, events, flags, day)
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError, OSError, *TOPOLOGY_ERRORS) as error:
            # The connection is in an unknown state (mid-transaction, say).
            connection.disconnect()
            pool.release(connection)
            self._topology.failed(error)
            raise StoreUnavailable(str(error)) from None
        except BaseException:
            connection.disconnect()
            pool.release(connection)
            raise
        self._idle.setdefault(pool, []).append(connection)
        return result

    def _checkout(self, pool):
        """An idle connection this store took from ``pool`` before, else a new
        one. Skips redis-py's per-checkout bookkeeping (about a tenth of an
        event's CPU) but keeps its check: a connection with something to read
        (closed by the server, say) is reconnected before use."""
        if self._idle_pid != os.getpid():  # forked: the parent's sockets are not ours
            self._idle, self._idle_pid = {}, os.getpid()
        try:
            connection = self._idle[pool].pop()
        except (KeyError, IndexError):
            return pool.get_connection()
        try:
            if connection.can_read():
                connection.disconnect()
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            connection.disconnect()
        return connection

    def _transaction(self, connection, events: list, flags: list, day: str) -> Optional[list[bool]]:
        connection.send_packed_command([_pack(b"WATCH", *flags) + _pack(b"MGET", *flags)])
        connection.read_response()
        existing = connection.read_response()
        is_new = [value is None for value in existing]
        if not any(is_new):
            connection.send_command("UNWATCH")
            connection.read_response()
            return is_new
        increments: dict = defaultdict(int)
        set_flags: list = []
        ttl = b"%d" % self.uuid_expiry_seconds
        for event, flag, new in zip(events, flags, is_new):
            if new:
                set_flags.append(_pack(b"SET", flag, b"1", b"EX", ttl))
                counter = _counts_key(event.namespace, event.experiment)
                increments[(counter, _day_field(day, event.event, event.variant))] += 1
        counters = [_pack(b"HINCRBY", key, day_field, b"%d" % n) for (key, day_field), n in increments.items()]
        durability = [_pack(*command) for command in self._topology.after_exec(flags[0])]
        connection.send_packed_command([b"".join([_MULTI, *set_flags, *counters, _EXEC, *durability])])  # one write
        for _ in range(1 + len(set_flags) + len(counters)):
            connection.read_response()  # OK / QUEUED
        replies = connection.read_response()
        for _ in durability:
            connection.read_response()  # replicas that have it; a 0 still leaves the master's copy
        if replies is None:
            return None  # a watched flag changed: the caller retries
        for reply in replies:
            if isinstance(reply, Exception):
                raise redis.ResponseError(str(reply))
        new_fields = [key for key, reply in zip(increments, replies[-len(increments) :]) if reply == increments[key]]
        if new_fields:
            self._register(connection, events, new_fields)
        return is_new

    def _scripted(self, connection, events: list, flags: list, day: str) -> list[bool]:
        """The optional one-round-trip mode (see the module's docstring)."""
        counters: dict = {}
        fields = []
        args = [b"%d" % self.uuid_expiry_seconds, b"%d" % len(flags)]
        for event in events:
            counter = _counts_key(event.namespace, event.experiment)
            fields.append((counter, _day_field(day, event.event, event.variant)))
            args += [b"%d" % counters.setdefault(counter, len(counters) + 1), fields[-1][1]]
        call = [b"%d" % (len(flags) + len(counters)), *flags, *counters, *args]
        durability = [_pack(*command) for command in self._topology.after_exec(flags[0])]
        connection.send_packed_command([_pack(b"EVALSHA", _TRACK_SHA, *call), *durability])
        try:
            replies = connection.read_response()
        except redis.exceptions.NoScriptError:  # first use on this server, or after SCRIPT FLUSH
            for _ in durability:
                connection.read_response()
            connection.send_packed_command([_pack(b"EVAL", _TRACK_SCRIPT, *call), *durability])
            replies = connection.read_response()
        for _ in durability:
            connection.read_response()
        new_fields = list(dict.fromkeys(field for field, reply in zip(fields, replies) if reply == 1))
        if new_fields:
            self._register(connection, events, new_fields)
        return [reply > 0 for reply in replies]

    def _register(self, connection, events: list, new_fields: list) -> None:
        """Records the experiments and variants that just got a new counter field."""
        by_key = {keys.counts_key(e.namespace, e.experiment): e for e in events}
        commands = []
        for counts_key, day_field in new_fields:
            event = by_key[counts_key]
            variant = keys.parse_day_field(day_field).variant
            commands.append(("SADD", keys.variants_key(event.namespace, event.experiment), variant))
            commands.append(("SADD", keys.experiments_key(event.namespace), event.experiment))
            commands.append(("SADD", keys.NAMESPACES, event.namespace))
        self._topology.run(connection, commands)

    def _check_limits(self, events: list) -> None:
        """Refuses a new experiment or variant beyond :class:`Limits`.

        Costs one round trip the first time this process sees an
        (experiment, variant), none after. Concurrent first events may pass
        together, so a limit can be overshot by a few: it guards the key
        space against abuse, it is not a quota.
        """
        unseen = {(e.namespace, e.experiment, e.variant) for e in events} - self._within_limits
        if not unseen:
            return
        unseen = sorted(unseen)

        def fetch() -> list:
            pipe = self.client.pipeline(transaction=False)
            for namespace, experiment, variant in unseen:
                pipe.sismember(keys.experiments_key(namespace), experiment)
                pipe.scard(keys.experiments_key(namespace))
                pipe.sismember(keys.variants_key(namespace, experiment), variant)
                pipe.scard(keys.variants_key(namespace, experiment))
            return pipe.execute()

        replies = self._call(fetch)
        # New names of this batch count too, so one batch cannot jump a limit.
        new_experiments: dict = defaultdict(set)
        new_variants: dict = defaultdict(set)
        for index, (namespace, experiment, variant) in enumerate(unseen):
            known_experiment, experiments, known_variant, variants = replies[4 * index : 4 * index + 4]
            if not known_experiment:
                new_experiments[namespace].add(experiment)
                if experiments + len(new_experiments[namespace]) > self.limits.experiments_per_namespace:
                    limit = self.limits.experiments_per_namespace
                    raise LimitExceeded(f"namespace {namespace!r} already has {limit} experiments", "experiment")
            if not known_variant:
                new_variants[(namespace, experiment)].add(variant)
                if variants + len(new_variants[(namespace, experiment)]) > self.limits.variants_per_experiment:
                    limit = self.limits.variants_per_experiment
                    raise LimitExceeded(f"experiment {experiment!r} already has {limit} variants", "variant")
        if len(self._within_limits) > 100_000:
            self._within_limits.clear()  # bounded memory in a long-lived process
        self._within_limits.update(unseen)

    # -- reading --------------------------------------------------------

    def namespaces(self) -> list[str]:
        members = self._call(lambda: self.client.smembers(keys.NAMESPACES))
        return sorted(member.decode("utf-8") for member in members)

    def experiment_names(self, namespace: str) -> list[str]:
        members = self._call(lambda: self.client.smembers(keys.experiments_key(namespace)))
        return sorted(member.decode("utf-8") for member in members)

    def results(self, namespace: str, experiments: Iterable[str]) -> list[ExperimentCounts]:
        """Counters of many experiments in one round trip."""
        names = list(experiments)

        def fetch() -> list:
            pipe = self.client.pipeline(transaction=False)
            for name in names:
                pipe.hgetall(_counts_key(namespace, name))
            return pipe.execute()

        hashes = self._call(fetch) if names else []
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
        except (redis.ConnectionError, redis.TimeoutError, OSError, *TOPOLOGY_ERRORS) as error:
            self._topology.failed(error)
            raise StoreUnavailable(str(error)) from None


def _experiment_counts(namespace: str, name: str, fields: dict) -> ExperimentCounts:
    counts = ExperimentCounts(namespace, name)
    for raw_field, raw_value in fields.items():
        day, event, variant = _parse_day_field(raw_field)
        value = int(raw_value)
        counts.daily[(day, event, variant)] = value
        counts.totals[(event, variant)] = counts.totals.get((event, variant), 0) + value
    return counts
