"""Counting events exactly once in Redis: the tracking path's one module.

The counting protocol, per transaction (a batch is split into transactions
of up to TRANSACTION_EVENTS events, run side by side on their own
connections; each event's flag has two forms, see :mod:`lamed.keys`; both
are checked):

1. one round trip: ``WATCH`` the compact flags + ``MGET`` both forms;
2. an event whose compact flag holds its value, or whose full flag exists,
   is a duplicate; if none is new, ``UNWATCH``;
3. otherwise one round trip: ``MULTI``, ``SET flag value EX ttl`` per new
   event (the compact form, or the full one where the compact key holds
   another event's flag), ``HINCRBY`` per (day, event, variant), ``EXEC``.
   A nil EXEC means another writer touched a watched flag: go back to 1
   (bounded), then give up with :class:`Contention`.

A single event costs 6 commands in 2 round trips. Registry bookkeeping (which
experiments exist) happens only when an HINCRBY creates a field, i.e. about
once per experiment, event and variant a day, never per event.

An optional mode, ``track_mode = "lua"`` (never the default), counts a group
in one round trip: a script reads both forms (``MGET``), and for a new event
sets the flag and does ``HINCRBY``; Redis runs a script atomically, so it is
exactly once without WATCH (4 commands, 1 round trip per event).

Where the commands go is the job of a *nodes* object: :class:`SingleRedis`
here (lean connections, :mod:`lamed.resp`), or, in :mod:`lamed.cluster`, a
redis-py client's pools (Redis Cluster; fakeredis in unit tests). This module
imports neither redis-py nor Chalice, so a Lambda cold start on the track
path does not pay for them.

Every failure talking to Redis surfaces as :class:`StoreUnavailable`: the
caller answers 503 and the client retries. Retrying is always safe: a retry
of an event that was in fact committed finds its flag and is a duplicate.
"""

from __future__ import annotations

import os
import time
from collections import Counter, defaultdict, namedtuple
from collections.abc import Sequence
from operator import itemgetter

from lamed import keys
from lamed.events import Event, InvalidInput
from lamed.resp import (
    Address,
    Connection,
    RedisError,
    ReplyError,
    address_from_url,
    pack,
    pack_all,
    pack_keys,
)

COUNTED = "counted"
DUPLICATE = "duplicate"


class StoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time."""


class Contention(StoreUnavailable):
    """Too many concurrent writers on the same events: retry later."""


class LimitExceeded(InvalidInput):
    """A new experiment or variant beyond the configured limits (a 400)."""


# Guards the key space against a client inventing names without end.
Limits = namedtuple("Limits", "experiments_per_namespace variants_per_experiment", defaults=(1000, 50))
DEFAULT_LIMITS = Limits()


def utc_day(now: float | None = None) -> str:
    return time.strftime("%Y%m%d", time.gmtime(now))


_MULTI = pack(b"MULTI")
_EXEC = pack(b"EXEC")
_UNWATCH = pack(b"UNWATCH")

# KEYS: both forms of each flag (compact, full), then the counters; ARGV: ttl,
# number of flags, then per flag the position of its counter among the
# counter keys, its day field and its compact value. On a cluster both
# forms are the full key: it holds a value or "1", a new flag gets the value.
TRACK_SCRIPT = b"""
local ttl, n, out = ARGV[1], tonumber(ARGV[2]), {}
for i = 1, n do
  local compact, full, value = KEYS[2 * i - 1], KEYS[2 * i], ARGV[2 + 3 * i]
  local found = redis.call('MGET', compact, full)
  local held = found[1]
  if held == value or found[2] then
    out[i] = 0
  else
    local flag, stored = compact, value
    if held then flag, stored = full, '1' end  -- the compact key holds another event's flag
    redis.call('SET', flag, stored, 'EX', ttl)
    local counted = redis.pcall('HINCRBY', KEYS[2 * n + tonumber(ARGV[3 * i])], ARGV[1 + 3 * i], 1)
    if type(counted) == 'table' and counted.err then
      redis.call('DEL', flag)  -- a script is not rolled back: unflag what was not counted
      return counted
    end
    out[i] = counted
  end
end
return out
"""


# A batch is counted in transactions of up to TRANSACTION_EVENTS events, up
# to SIDE_BY_SIDE of them at once, each on its own connection: while Redis
# runs one, Python reads and packs another. `python -m bench.setting_ab
# transaction_events 50 25 34 100` (batches of 100), two runs: one
# transaction per batch ran at 0.875-0.915x the speed of two of 50, 34 or 25
# events at 0.95-0.99x (each transaction's two requests and two reads cost
# more than they overlap).
TRANSACTION_EVENTS = 50
SIDE_BY_SIDE = 4  # so a process holds at most 4 connections per request in flight


class OneServer:
    """What nodes on a single Redis share: every key on the same server."""

    compact_flags = True  # keys without a hash tag are fine on one server (lamed.keys)

    def after_exec(self, key: bytes) -> tuple:
        return ()

    def groups(self, events: Sequence[Event], indexes: list[int]) -> list[list[int]]:
        return [indexes]

    def run(self, connection, commands: list) -> list:
        """Runs commands in one round trip on ``connection`` (any key).
        Command names are str (redis-py's cluster pipeline wants them so)."""
        connection.send(pack_all(commands))
        return [connection.read() for _ in commands]

    def failed(self, error: Exception) -> None:
        pass


class SingleRedis(OneServer):
    """One Redis server, over lean connections kept idle between requests.

    A process keeps as many connections as it ran concurrent requests (one on
    Lambda). After a fork the parent's connections are dropped, not shared."""

    errors: tuple = ()  # beyond OSError and lamed.resp.RedisError

    def __init__(self, address: Address, timeout_seconds: float) -> None:
        self.address = address
        self.timeout_seconds = timeout_seconds
        self._idle: list = []
        self._pid = os.getpid()

    def checkout(self, key: bytes) -> Connection:
        if self._pid != os.getpid():
            self._idle, self._pid = [], os.getpid()
        try:
            connection = self._idle.pop()
        except IndexError:
            return Connection(self.address, self.timeout_seconds)
        if connection.is_stale():
            connection.close()  # reopened by its next send
        return connection

    def checkin(self, key: bytes, connection: Connection) -> None:
        self._idle.append(connection)

    def discard(self, connection: Connection) -> None:
        """A connection in an unknown state (mid-transaction, say)."""
        connection.close()


class Tracker:
    """Counts events exactly once; the only writer of flags and counters.

    ``nodes`` says where commands go: :class:`SingleRedis`, or a
    :class:`lamed.cluster.ClientNode` / :class:`~lamed.cluster.ClusterNodes`.
    Each has ``checkout``/``checkin``/``discard`` of connections (``send``,
    ``read``, ``read_many``), ``groups`` and ``after_exec`` for hash slots,
    ``run``, ``failed`` and the ``errors`` it can raise."""

    def __init__(
        self,
        nodes,
        uuid_expiry_seconds: int = 86400,
        watch_retries: int = 5,
        limits: Limits = DEFAULT_LIMITS,
        track_mode: str = "watch",
        transaction_events: int = TRANSACTION_EVENTS,
        side_by_side: int = SIDE_BY_SIDE,
    ) -> None:
        self.nodes = nodes
        self.uuid_expiry_seconds = uuid_expiry_seconds
        self.watch_retries = watch_retries
        self.transaction_events = transaction_events
        self.side_by_side = side_by_side
        self.limits = limits
        self._count = self._scripted if track_mode == "lua" else self._transaction
        self._errors = (OSError, RedisError, *nodes.errors)
        self._ttl = b"%d" % uuid_expiry_seconds
        self._ex_ttl = pack(b"EX", self._ttl)[4:]  # the last two arguments of every SET, packed once
        self._within_limits: set = set()  # (namespace, experiment, variant) already checked
        self._script_sha = _script_sha() if track_mode == "lua" else b""

    # -- counting -------------------------------------------------------

    def track(self, event: Event, now: float | None = None) -> str:
        """Counts one event exactly once: returns COUNTED or DUPLICATE."""
        return self.track_many([event], now)[0]

    def track_many(self, events: Sequence[Event], now: float | None = None) -> list[str]:
        """Counts a batch; one outcome per event, in order. Two round trips
        per hash slot (one on a single Redis).

        Repeats of an event inside the batch are duplicates of its first copy.
        """
        day = utc_day(now)
        unique = _first_copies(events)
        outcomes = [DUPLICATE] * len(events)
        self._check_limits(_pick(events, unique))
        size = self.transaction_events
        groups = self.nodes.groups(events, unique) if unique else []
        chunks = [group[start : start + size] for group in groups for start in range(0, len(group), size)]
        for chunk, counted in zip(chunks, self._count_side_by_side(events, chunks, day)):
            for index, was_counted in zip(chunk, counted):
                outcomes[index] = COUNTED if was_counted else DUPLICATE
        return outcomes

    def _count_side_by_side(self, events: list, chunks: list, day: str) -> list:
        """Counts each chunk (event indexes) in its own transaction on its own
        connection, ``side_by_side`` at once, taking turns: while Redis runs
        one chunk's commands, Python reads and packs another's, so a batch
        takes about the longer of the two instead of their sum. A chunk whose
        watched flags changed starts over (``watch_retries`` tries each).
        Each chunk's flags are hashed as it starts, while Redis already
        works on the chunks before it."""
        results: list = [None] * len(chunks)
        running: dict = {}  # chunk number -> (connection, its transaction's steps)
        waiting, tries = list(range(len(chunks) - 1, -1, -1)), [0] * len(chunks)  # a stack: first chunk last
        try:
            while waiting or running:
                while waiting and len(running) < self.side_by_side:
                    number = waiting.pop()
                    connection = self.nodes.checkout(slot_key(events[chunks[number][0]]))
                    running[number] = connection, self._steps(connection, _pick(events, chunks[number]), day)
                for number, (connection, steps) in list(running.items()):
                    try:
                        next(steps)  # on to its next round trip
                        continue
                    except StopIteration as done:
                        results[number] = done.value
                    del running[number]
                    self.nodes.checkin(slot_key(events[chunks[number][0]]), connection)
                    if results[number] is None:  # a watched flag changed: again
                        tries[number] += 1
                        if tries[number] >= self.watch_retries:
                            raise Contention("too many concurrent writers; retry")
                        waiting.append(number)
        except self._errors as error:
            raise self._unavailable(error, [connection for connection, _ in running.values()]) from None
        except BaseException:
            for connection, _ in running.values():
                self.nodes.discard(connection)  # left mid-transaction: its state is unknown
            raise
        return results

    def _steps(self, connection, events: list, day: str):
        """The transaction of a chunk's events, as a generator that pauses
        after each request it sends; it returns their outcomes, or None.
        The flags are hashed on its first step, not before: while Redis
        already runs the chunks started before it."""
        return (yield from self._count(connection, events, keys.flags(events), day))

    def _unavailable(self, error: Exception, connections: list) -> StoreUnavailable:
        """Redis trouble, as the 503 the client retries: the connections in
        use are dropped (their state is unknown) and the nodes told."""
        for connection in connections:
            self.nodes.discard(connection)
        self.nodes.failed(error)
        return StoreUnavailable(str(error) or type(error).__name__)

    def _exchange(self, key: bytes, talk):
        """Runs ``talk(connection)`` on a connection for ``key``; any Redis
        trouble becomes StoreUnavailable and the connection is dropped."""
        try:
            connection = self.nodes.checkout(key)
        except self._errors as error:
            raise self._unavailable(error, []) from None
        try:
            result = talk(connection)
        except self._errors as error:
            raise self._unavailable(error, [connection]) from None
        except BaseException:
            self.nodes.discard(connection)
            raise
        self.nodes.checkin(key, connection)
        return result

    def _transaction(self, connection, events: list, flags: keys.Flags, day: str):
        """The WATCH/MULTI protocol for one chunk (see the module's doc): a
        generator that yields after each request and returns the outcomes,
        or None when a watched flag changed."""
        compact = self.nodes.compact_flags
        # WATCH is quadratic in Redis 7.0 (each key is compared with those
        # already watched), so only the form that decides is watched: the
        # compact key (its holder decides the form), or on a cluster the full one.
        watched = flags.compacts if compact else flags.keys
        read = (flags.compacts, flags.keys) if compact else (flags.keys,)
        connection.send(pack_keys(b"WATCH", watched) + pack_keys(b"MGET", *read))
        # While Redis answers, the writes are packed for the usual case, all
        # events new; packed again only if the answer says otherwise.
        expected = self._places(flags, [None] * len(flags.keys) * len(read))
        set_flags, increments = self._writes(events, expected, day)
        yield
        connection.read()
        places = self._places(flags, connection.read())
        if compact and not (yield from self._watch_full_forms(connection, flags, places)):
            return None  # a full flag appeared meanwhile: the caller retries
        is_new = [place is not None for place in places]
        if not any(is_new):
            connection.send(_UNWATCH)
            connection.read()
            return is_new
        if places != expected:
            set_flags, increments = self._writes(events, places, day)
        counters = [pack(b"HINCRBY", key, day_field, b"%d" % n) for (key, day_field), n in increments.items()]
        durability = [pack(*command) for command in self.nodes.after_exec(flags.keys[0])]
        connection.send(b"".join([_MULTI, *set_flags, *counters, _EXEC, *durability]))  # one write
        yield
        connection.read_many(1 + len(set_flags) + len(counters))  # OK, QUEUED...
        replies = connection.read()
        for _ in durability:
            connection.read()  # replicas that have it; a 0 still leaves the master's copy
        if replies is None:
            return None  # a watched flag changed: the caller retries
        counted = dict(zip(increments, replies[-len(increments) :]))
        errors = [reply for reply in replies if isinstance(reply, Exception)]
        if errors:
            self._undo_uncounted(connection, events, places, day, counted)
            raise ReplyError(str(errors[0]))
        new_fields = [key for key, reply in counted.items() if reply == increments[key]]
        if new_fields:
            self._register(connection, events, new_fields)
        return is_new

    def _writes(self, events: list, places: list, day: str) -> tuple:
        """The SET of each new event's flag, packed, and the counters' increments."""
        set_flag = b"*5\r\n$3\r\nSET\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" + self._ex_ttl
        set_flags = [set_flag % (len(key), key, len(value), value) for key, value in filter(None, places)]
        new_events = [event for event, place in zip(events, places) if place is not None]
        counters = Counter(map(_COUNTER, new_events))  # in C: a batch is mostly a few counters
        return set_flags, {self._increment(counter, day): n for counter, n in counters.items()}

    def _watch_full_forms(self, connection, flags: keys.Flags, places: list):
        """Full-form writers of one event conflict through its compact key
        with compact-form writers, but must also conflict with each other:
        they watch the full key too, then check it is still free (an extra
        round trip, only after a 48-bit prefix collision)."""
        late = [key for key, place in zip(flags.keys, places) if place is not None and place[0] == key]
        if not late:
            return True
        connection.send(pack(b"WATCH", *late) + pack(b"MGET", *late))
        yield
        connection.read()
        return all(value is None for value in connection.read())

    def _places(self, flags: keys.Flags, found: list) -> list:
        """Per event, None for a duplicate, else the (key, value) to flag it
        under: the compact form, or the full one where the compact key holds
        another event's flag (now, or from earlier in this batch)."""
        if not self.nodes.compact_flags:
            return [None if held is not None else (key, b"1") for key, held in zip(flags.keys, found)]
        if not any(found) and len(set(flags.compacts)) == len(flags.compacts):
            return list(zip(flags.compacts, flags.values))  # the usual answer: all new, all compact
        places, taken = [], set()
        count = len(flags.keys)
        for key, compact, value, held, held_full in zip(*flags, found[:count], found[count:]):
            if held_full is not None or held == value:
                places.append(None)
            elif held is None and compact not in taken:
                taken.add(compact)
                places.append((compact, value))
            else:
                places.append((key, b"1"))
        return places

    def _increment(self, event: tuple, day: str) -> tuple:
        """(counts key, day field) of the counter an event adds to; ``event``
        an Event or its first four fields (namespace, experiment, variant, event)."""
        namespace, experiment, variant, name = event[:4]
        return keys.counts_key(namespace, experiment), keys.day_field(day, name, variant)

    def _undo_uncounted(self, connection, events: list, places: list, day: str, counted: dict) -> None:
        """EXEC does not roll back: when an HINCRBY failed inside it (a
        counts key of the wrong type, say), its events' flags were still set,
        and a retry would find them and call the events duplicates. Deleting
        those flags (only theirs: other events were counted) lets the retry
        count them; until the key is fixed, each retry gets its 503."""
        lost = [
            place[0]
            for event, place in zip(events, places)
            if place is not None and isinstance(counted.get(self._increment(event, day)), Exception)
        ]
        if lost:
            connection.send(pack(b"DEL", *lost))
            connection.read()

    def _scripted(self, connection, events: list, flags: keys.Flags, day: str):
        """The optional one-round-trip mode (see the module's docstring)."""
        counters: dict = {}
        fields = []
        args = [self._ttl, b"%d" % len(events)]
        for event, value in zip(events, flags.values):
            fields.append(self._increment(event, day))
            counter = fields[-1][0]
            args += [b"%d" % counters.setdefault(counter, len(counters) + 1), fields[-1][1], value]
        # The script takes both forms of each flag; on a cluster the full key twice.
        compacts = flags.compacts if self.nodes.compact_flags else flags.keys
        flag_keys = [key for pair in zip(compacts, flags.keys) for key in pair]
        call = [b"%d" % (len(flag_keys) + len(counters)), *flag_keys, *counters, *args]
        durability = [pack(*command) for command in self.nodes.after_exec(flags.keys[0])]
        connection.send(b"".join([pack(b"EVALSHA", self._script_sha, *call), *durability]))
        yield
        try:
            replies = connection.read()
        except ReplyError as error:
            if not str(error).startswith("NOSCRIPT"):
                raise
            for _ in durability:  # first use on this server, or after SCRIPT FLUSH
                connection.read()
            connection.send(b"".join([pack(b"EVAL", TRACK_SCRIPT, *call), *durability]))
            replies = connection.read()
        for _ in durability:
            connection.read()
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
        self.nodes.run(connection, commands)

    def _check_limits(self, events: list) -> None:
        """Refuses a new experiment or variant beyond :class:`Limits`.

        Costs one round trip the first time this process sees an
        (experiment, variant), none after. Concurrent first events may pass
        together, so a limit can be overshot by a few: it guards the key
        space against abuse, it is not a quota.
        """
        unseen = set(map(_VARIANT, events)) - self._within_limits
        if not unseen:
            return
        unseen = sorted(unseen)
        commands = []
        for namespace, experiment, variant in unseen:
            commands.append(("SISMEMBER", keys.experiments_key(namespace), experiment))
            commands.append(("SCARD", keys.experiments_key(namespace)))
            commands.append(("SISMEMBER", keys.variants_key(namespace, experiment), variant))
            commands.append(("SCARD", keys.variants_key(namespace, experiment)))
        replies = self._exchange(keys.NAMESPACES, lambda connection: self.nodes.run(connection, commands))
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

    # -- reading what tracking needs --------------------------------------

    def read_hash(self, key: bytes) -> dict:
        """A whole hash (the definitions, for the lifecycle check)."""
        return self.read_hashes([key])[0]

    def read_hashes(self, hash_keys: list) -> list[dict]:
        """Whole hashes (experiments' counters, for results): one round trip
        on a single Redis, one per node on a cluster."""
        if not hash_keys:
            return []
        commands = [("HGETALL", key) for key in hash_keys]
        replies = self._exchange(hash_keys[0], lambda connection: self.nodes.run(connection, commands))
        # A connection's reply is the flat list; a cluster pipeline's, a dict already.
        return [reply if isinstance(reply, dict) else dict(zip(reply[::2], reply[1::2])) for reply in replies]


# An event's counter: (namespace, experiment, variant, event), the first four fields of an Event.
_COUNTER = itemgetter(0, 1, 2, 3)
_UUID = itemgetter(4)
_VARIANT = itemgetter(0, 1, 2)  # (namespace, experiment, variant)


def _first_copies(events: Sequence[Event]) -> list[int]:
    """The index of each event's first copy in a batch: usually every index,
    which distinct uuids show without hashing whole events."""
    if len(set(map(_UUID, events))) == len(events):
        return list(range(len(events)))
    first: dict = {}
    for index, event in enumerate(events):
        first.setdefault(event, index)
    return list(first.values())


def slot_key(event: Event) -> bytes:
    """A key in the hash slot of every key an event's transaction touches
    (its experiment's hash tag): where its connection goes on a cluster."""
    return keys.hash_tag(event.namespace, event.experiment)


def _pick(items: list, indexes: list[int]) -> list:
    """The items at ``indexes`` (distinct and in order): all of them as they are."""
    return items if len(indexes) == len(items) else [items[i] for i in indexes]


def lean_tracker(redis_url: str, timeout_seconds: float, *options: object) -> Tracker:
    """A tracker on lean connections to the single Redis of a ``redis://``,
    ``rediss://`` or ``unix://`` URL (ValueError for any other); ``options``
    as Tracker takes them after ``nodes``."""
    return Tracker(SingleRedis(address_from_url(redis_url), timeout_seconds), *options)


def _script_sha() -> bytes:
    import hashlib  # lua mode only: hashlib loads OpenSSL, 3 ms of a cold start

    return hashlib.sha1(TRACK_SCRIPT).hexdigest().encode()
