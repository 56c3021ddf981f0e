"""Counting events exactly once in Redis: the :class:`Tracker`.

The protocol, per transaction (a batch is split by hash slot, then into
transactions of at most :data:`TRANSACTION_EVENTS` events, run one after
the other on one connection):

1. one round trip: ``WATCH`` the events' flags (:mod:`lamed.core.keys`);
   ``SET flag 1 XX KEEPTTL`` each, which writes (unchanged) only a flag that
   exists, and a write to a watched key aborts the connection's own
   transaction too; then ``MULTI``, ``SET flag 1 EX uuid_expiry_seconds`` and
   ``HINCRBY`` per (counter, day field), ``EXEC``;
2. an ``EXEC`` that ran counted every event of the transaction;
3. a nil ``EXEC`` counted none: an event whose ``SET .. XX`` found its flag
   is a duplicate (a flag exists only where its event was counted); the
   others' flags were set by another writer meanwhile, or not: back to 1
   with them. An attempt that no flag of its own aborted was lost to another
   writer; after ``watch_retries`` such attempts,
   :class:`~lamed.core.errors.Contention` (503).
4. ``EXEC`` does not roll back: if an ``HINCRBY`` failed inside it (a counts
   key of the wrong type, say), the flags of its events are deleted again
   and the answer is a 503, so the client's retry counts them instead of
   calling them duplicates.

5. where the master has replicas (Redis Cluster), ``WAIT`` goes with
   ``EXEC`` in the same round trip; if no replica acknowledged the write in
   :data:`REPLICA_WAIT_MS`, the answer is a 503 (the client's retry finds
   the flag, or counts on the master a failover promoted).

A single event thus costs 6 commands in 1 round trip, counted or a
duplicate. The registry (which namespaces, experiments, variants and goals
exist) is written before the transaction, the first time this process sees an event's names
(:meth:`~lamed.core.limits.KeySpaceLimits.admit`): a failure anywhere
leaves at worst a listed experiment without counts, never counts that no
listing shows. An ``HINCRBY`` that creates a field (about once per
experiment, event and variant a day) lists its names again, in case they
were removed since.

``track_mode = "lua"`` (never the default) counts a transaction with one
script instead (3 commands an event, also one round trip): it sets each flag
with ``SET NX`` and counts the events whose flag it set; Redis runs a script
atomically, so it needs no WATCH.

Connections belong to the nodes (:meth:`lamed.core.nodes.Nodes.exchange`):
one lost before its answer is replaced and the transaction tried once more
within the request. Any other Redis trouble surfaces as
:class:`~lamed.core.errors.StoreUnavailable`: the caller answers 503 and
the client retries. Retrying is always safe: a retry of an event that was in
fact counted finds its flag and is a duplicate.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple, Union

from lamed.core import keys, observe
from lamed.core.errors import Contention, LimitExceeded, ReplicaTimeout, ReplyError, StoreUnavailable
from lamed.core.events import Event
from lamed.core.limits import KeySpaceLimits
from lamed.core.redis_safety import MemoryRefusals
from lamed.core.settings import DEFAULTS, Settings

COUNTED = "counted"
DUPLICATE = "duplicate"
REFUSED = "refused"  # the status of an event over a limit (its LimitExceeded says which)
Outcome = Union[str, LimitExceeded]
# Redis 7.0 compares each watched key with those the connection already
# watches, so one transaction's WATCH costs the square of its events.
TRANSACTION_EVENTS = 100
# How long a write waits for a replica where its master has one (Redis Cluster).
REPLICA_WAIT_MS = 200


class Write(NamedTuple):
    """One new event's writes: its flag, the counter (key, day field) it adds
    to, and for an event with a value the (values key, sum field, squares
    field) its value adds to."""

    event: Event
    flag: bytes
    counter: bytes
    field: bytes
    sums: tuple[bytes, bytes, bytes] | None = None


# What an EXEC writes, by target: a count (counter, field), or a value's
# (command, values key, field); the amount each event adds to each.
Target = Union[tuple[bytes, bytes], tuple[bytes, bytes, bytes]]


def contributions(write: Write) -> list[tuple[Target, int]]:
    """What one event adds, to which target: 1 to its counter; with a value,
    the value (micro-units, HINCRBY: exact) and its square (HINCRBYFLOAT:
    no overflow; see docs/counting.md, "Values")."""
    added: list[tuple[Target, int]] = [((write.counter, write.field), 1)]
    if write.sums is not None and write.event.value is not None:
        key, sum_field, squares_field = write.sums
        value = write.event.value
        added += [((b"HINCRBY", key, sum_field), value), ((b"HINCRBYFLOAT", key, squares_field), value * value)]
    return added


if TYPE_CHECKING:
    from lamed.core.interfaces import Command, Link, Reply
    from lamed.core.nodes import Nodes

TRACK_SCRIPT = b"""
-- KEYS: n flags, n counters, and in a transaction with values n values keys.
-- ARGV: ttl, n, n counter fields, and with values 5 per event: sum field,
-- squares field, value, its square, minus the value ('' for no value).
local ttl, n, out = ARGV[1], tonumber(ARGV[2]), {}
local valued = #KEYS > 2 * n
local function failed(reply) return type(reply) == 'table' and reply.err end
for i = 1, n do
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ttl) then
    local counted = redis.pcall('HINCRBY', KEYS[n + i], ARGV[2 + i], 1)
    if failed(counted) then
      redis.call('DEL', KEYS[i])  -- a script is not rolled back: unflag what was not counted
      return counted
    end
    local at = 2 + n + 5 * (i - 1)
    if valued and ARGV[at + 3] ~= '' then
      local values = KEYS[2 * n + i]
      local summed = redis.pcall('HINCRBY', values, ARGV[at + 1], ARGV[at + 3])
      local squared = summed
      if not failed(summed) then
        squared = redis.pcall('HINCRBYFLOAT', values, ARGV[at + 2], ARGV[at + 4])
        if failed(squared) then redis.call('HINCRBY', values, ARGV[at + 1], ARGV[at + 5]) end
      end
      if failed(squared) then  -- undo the count too: the retry counts the event whole
        if counted == 1 then redis.call('HDEL', KEYS[n + i], ARGV[2 + i])
        else redis.call('HINCRBY', KEYS[n + i], ARGV[2 + i], -1) end
        redis.call('DEL', KEYS[i])
        return squared
      end
    end
    out[i] = counted
  else
    out[i] = 0
  end
end
return out
"""


def _sum_by_target(writes: list[Write]) -> dict[Target, int]:
    """The values' increments of a transaction, summed by (command, key, field)."""
    totals: Counter[Target] = Counter()
    for write in writes:
        for target, amount in contributions(write)[1:]:
            totals[target] += amount
    return totals


def _script_values(write: Write) -> tuple[object, ...]:
    """An event's five values arguments of TRACK_SCRIPT."""
    if write.sums is None or write.event.value is None:
        return (b"", b"", b"", b"", b"")
    value = write.event.value
    return (write.sums[1], write.sums[2], value, value * value, -value)


def utc_day(now: float | None = None) -> str:
    return time.strftime("%Y%m%d", time.gmtime(now))


class Tracker:
    """Counts events exactly once; the only writer of flags and counters.

    ``nodes`` says where commands go and owns the connections
    (:mod:`lamed.core.nodes`); ``settings`` gives the key prefix,
    ``uuid_expiry_seconds``, ``watch_retries``, ``track_mode`` and the limits."""

    def __init__(self, nodes: Nodes, settings: Settings = DEFAULTS) -> None:
        self.nodes = nodes
        self.settings = settings
        self.keys = keys.KeySchema(settings.key_prefix)
        self.limits = KeySpaceLimits(self.keys, settings)
        self.memory = MemoryRefusals()
        self._ttl = b"%d" % settings.uuid_expiry_seconds
        self._count = self._count_scripted if settings.track_mode == "lua" else self._count_watched

    def track(self, event: Event, now: float | None = None) -> Outcome:
        """Counts one event exactly once (see :meth:`track_many`)."""
        return self.track_many([event], now)[0]

    def track_many(self, events: Sequence[Event], now: float | None = None) -> list[Outcome]:
        """Counts a batch; one outcome per event, in order: COUNTED, DUPLICATE,
        or the LimitExceeded that kept it from being counted (nothing is
        written for it). Repeats inside the batch share their first copy's.

        Names new to this process are listed in the registry before anything
        is counted for them (:meth:`KeySpaceLimits.admit`), so no order of
        failures leaves counts that listings miss."""
        day = utc_day(now)
        flags = [self.keys.flag(*event) for event in events]
        first: dict[bytes, int] = {}
        for index, flag in enumerate(flags):
            first.setdefault(flag, index)
        candidates = [self._write(events[index], flag, day) for flag, index in first.items()]
        try:
            refusals = self.limits.admit([write.event for write in candidates], self.run_anywhere)
            refused = {candidates[index].flag: refusal for index, refusal in refusals.items()}
            counted = self._count_all([write for write in candidates if write.flag not in refused])
        except StoreUnavailable as error:
            self.memory.failed(error)
            raise
        if counted:
            self.memory.wrote()
        return [
            refused.get(flag) or (COUNTED if first[flag] == index and flag in counted else DUPLICATE)
            for index, flag in enumerate(flags)
        ]

    def _write(self, event: Event, flag: bytes, day: str) -> Write:
        counter = self.keys.counts_key(event.namespace, event.experiment)
        write = Write(event, flag, counter, keys.day_field(day, event.event, event.variant))
        if event.value is None:
            return write
        values = self.keys.values_key(event.namespace, event.experiment)
        return write._replace(sums=(values, *keys.value_fields(day, event.event, event.variant)))

    def _count_all(self, writes: list[Write]) -> set[bytes]:
        """The flags of the events counted now: the batch split by hash slot,
        then into transactions of at most TRANSACTION_EVENTS events."""
        counted: set[bytes] = set()
        for group in self.nodes.groups([write.counter for write in writes]):
            for start in range(0, len(group), TRANSACTION_EVENTS):
                chunk = [writes[index] for index in group[start : start + TRANSACTION_EVENTS]]
                outcomes = self.nodes.exchange(chunk[0].counter, self._count, chunk)
                counted.update(write.flag for write, is_new in zip(chunk, outcomes) if is_new)
        return counted

    # -- the protocol -----------------------------------------------------

    def _count_watched(self, connection: Link, writes: list[Write]) -> list[bool]:
        """Steps 1-3 of the module's doc: which of ``writes`` were counted now."""
        is_new = [False] * len(writes)
        pending = list(range(len(writes)))
        lost = 0
        while True:
            flagged = self._attempt(connection, [writes[index] for index in pending])
            if flagged is None:
                for index in pending:
                    is_new[index] = True
                return is_new
            pending = [index for index, found in zip(pending, flagged) if not found]
            if not pending:
                return is_new
            if not any(flagged):  # no flag of ours explains the nil EXEC: another writer's does
                lost += 1
                if lost == self.settings.watch_retries:
                    observe.watching.redis_error(observe.CONTENTION)
                    raise Contention("too many concurrent writers; retry")
                observe.watching.watch_retry()

    def _attempt(self, connection: Link, writes: list[Write]) -> list[bool] | None:
        """One round trip: WATCH the flags, ``SET flag 1 XX KEEPTTL`` each (a
        write only where the flag exists, which aborts the transaction), then
        MULTI..EXEC of the flags, counters and values' sums. None when EXEC
        ran (every event counted), else which flags existed."""
        flags = [write.flag for write in writes]
        increments = Counter((write.counter, write.field) for write in writes)
        valued = [write for write in writes if write.sums is not None]
        sums = _sum_by_target(valued) if valued else {}
        commands = [
            (b"WATCH", *flags),
            *[(b"SET", flag, b"1", b"XX", b"KEEPTTL") for flag in flags],
            (b"MULTI",),
            *[(b"SET", flag, b"1", b"EX", self._ttl) for flag in flags],
            *[(b"HINCRBY", key, field, count) for (key, field), count in increments.items()],
            *[(*target, amount) for target, amount in sums.items()],
            (b"EXEC",),
        ]
        durable = self._durable(writes[0].counter)
        all_replies = connection.call(commands + durable)
        replies = all_replies[len(commands) - 1]
        if replies is None:
            return [reply is not None for reply in all_replies[1 : 1 + len(flags)]]
        written: dict[Target, Reply] = dict(zip([*increments, *sums], replies[len(writes) :]))
        failed = {target for target, reply in written.items() if isinstance(reply, Exception)}
        if failed:
            self._undo(connection, writes, failed)
            raise ReplyError(str(written[next(iter(failed))]))
        created = [counter for counter in increments if written[counter] == increments[counter]]  # a new field
        self._register(connection, writes, created)
        self._check_replicas(durable, all_replies[len(commands) :])
        return None

    @staticmethod
    def _undo(connection: Link, new: list[Write], failed: set[Target]) -> None:
        """EXEC does not roll back: an event with any failed write is taken
        back whole (its flag deleted, what it added elsewhere subtracted),
        so the client's retry counts it instead of calling it a duplicate."""
        failing = [write for write in new if any(target in failed for target, _ in contributions(write))]
        undone: Counter[Target] = Counter()
        for write in failing:
            for target, amount in contributions(write):
                if target not in failed:
                    undone[target] -= amount
        connection.call([
            (b"DEL", *[write.flag for write in failing]),
            *[(b"HINCRBY", *target, amount) if len(target) == 2 else (*target, amount)
              for target, amount in undone.items()],
        ])  # fmt: skip

    def _count_scripted(self, connection: Link, writes: list[Write]) -> list[bool]:
        """The optional one-round-trip mode (see the module's doc)."""
        import hashlib  # lua mode only: hashlib loads OpenSSL, 3 ms of a cold start

        flag_keys = [write.flag for write in writes] + [write.counter for write in writes]
        arguments: list[object] = [self._ttl, len(writes), *[write.field for write in writes]]
        if any(write.sums is not None for write in writes):
            flag_keys += [write.sums[0] if write.sums else write.counter for write in writes]
            arguments += [part for write in writes for part in _script_values(write)]
        durable = self._durable(writes[0].counter)
        sha = hashlib.sha1(TRACK_SCRIPT).hexdigest().encode()
        try:
            all_replies = connection.call([(b"EVALSHA", sha, len(flag_keys), *flag_keys, *arguments), *durable])
        except ReplyError as error:
            if not str(error).startswith("NOSCRIPT"):
                raise
            all_replies = connection.call([(b"EVAL", TRACK_SCRIPT, len(flag_keys), *flag_keys, *arguments), *durable])
        replies = all_replies[0]
        new_fields = {(write.counter, write.field) for write, reply in zip(writes, replies) if reply == 1}
        self._register(connection, writes, list(new_fields))
        self._check_replicas(durable, all_replies[1:])
        return [reply > 0 for reply in replies]

    def _durable(self, key: bytes) -> list[Command]:
        """``WAIT``, sent with the write where ``key``'s master has replicas: a
        failover promotes a replica, which must already hold the event."""
        replicas = self.nodes.replicas_to_wait_for(key)
        return [(b"WAIT", replicas, REPLICA_WAIT_MS)] if replicas else []

    @staticmethod
    def _check_replicas(durable: list[Command], replies: list[Reply]) -> None:
        """A write no replica acknowledged in time may be lost by a failover:
        503, and the client's retry finds the flag (or counts on the new master)."""
        if durable and replies[0] < durable[0][1]:
            observe.watching.redis_error(observe.REPLICA)
            raise ReplicaTimeout(f"no replica acknowledged the write within {REPLICA_WAIT_MS} ms; retry")

    def _register(self, connection: Link, writes: list[Write], new_fields: list[tuple[bytes, bytes]]) -> None:
        """Lists again the names that just got a new counter field: the names
        this process remembers may have been removed since (``lamed keys
        remove``, a deleted experiment)."""
        if not new_fields:
            return
        by_field = {(write.counter, write.field): write.event for write in writes}
        self.nodes.run(connection, self.limits.registrations([by_field[field] for field in new_fields]))

    def run_anywhere(self, commands: Sequence[Command]) -> list[Reply]:
        """Commands whose keys may live anywhere (on a cluster, any slot)."""
        return self.nodes.run_commands(self.keys.namespaces, commands)

    def can_write(self) -> bool:
        """Whether Redis takes a write now (the prefix's preflight key): False
        for an OOM refusal, StoreUnavailable for other trouble."""
        try:
            self.run_anywhere([(b"SET", self.keys.preflight, b"1", b"EX", b"60")])
        except StoreUnavailable as error:
            self.memory.failed(error)
            if error.code == "OOM":
                return False
            raise
        self.memory.wrote()
        return True

    def ping(self) -> bool:
        """True if Redis answers on a kept connection (which keeps its flow alive)."""
        return self.run_anywhere([(b"PING",)]) == [b"PONG"]

    # -- reading ------------------------------------------------------------

    def read_hash(self, key: bytes) -> dict[bytes, bytes]:
        return self.read_hashes([key])[0]

    def read_hashes(self, hash_keys: list[bytes]) -> list[dict[bytes, bytes]]:
        """Whole hashes (experiments' counters, the definitions): one round
        trip on a single Redis."""
        if not hash_keys:
            return []
        replies = self.run_anywhere([(b"HGETALL", key) for key in hash_keys])
        return [dict(zip(reply[::2], reply[1::2])) for reply in replies]


def lean_tracker(settings: Settings) -> Tracker:
    """A tracker on lean connections to the single Redis of ``settings.redis_url``
    (``redis://``, ``rediss://`` or ``unix://``); ValueError for a bad URL."""
    from lamed.core.nodes import SingleRedis
    from lamed.core.redis_url import connection_options

    options = connection_options(settings.redis_url or "", settings.redis_timeout_seconds)
    if options.cluster:
        raise ValueError("a Redis Cluster URL needs the cluster client (lamed.store.cluster)")
    return Tracker(SingleRedis(options), settings)
