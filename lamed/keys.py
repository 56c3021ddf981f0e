"""The Redis key schema. No other module builds or parses Lamed's keys.

Layout (``T`` is the experiment's hash tag, see :func:`hash_tag`):

``<6 bytes of the digest>``, value ``<a number below 10000>``
    Dedup flag of one event (namespace, experiment, event, variant, uuid),
    compact form, expiring after ``uuid_expiry_seconds``. The digest is an
    80-bit BLAKE2b of the length-prefixed identity; the key holds 48 of its
    bits, the value 13.3 more (4 bytes modulo 10000). It is the one key per
    counted event, so its size is the memory cost per event: Redis stores a
    key of up to 6 bytes in an 8-byte block (14 bytes: 16, more: 32), and
    shares the objects of integers below 10000, so the value costs nothing.
    A flag matches only if key and value match: 61 bits of identity.
``{T}<10-byte digest>``
    The same flag, full form (80 bits), value ``1``: used where the compact
    key already holds another event's flag (a 48-bit prefix collision), on
    Redis Cluster (the compact key has no hash tag), and by flags written
    before the compact form. Tracking checks both forms of every event.
``lamed:{T}:counts:["namespace","experiment"]``
    Hash of per-day counters. Field ``["YYYYMMDD","event","variant"]``
    (JSON), value the count. Totals are the sum over days, so one HINCRBY
    per event keeps both the total and the daily chart.
``lamed:{T}:variants:["namespace","experiment"]``
    Set of the experiment's variant names (bounds variants per experiment).
``lamed:experiments:["namespace"]``
    Set of experiment names that have counters in the namespace.
``lamed:namespaces``
    Set of namespaces that have experiments.
``lamed:definitions``
    Hash of experiment definitions (runtime config, :mod:`lamed.definitions`).
    Field ``["namespace","experiment"]`` (JSON), value the definition as JSON.
    One key, read whole by each process's definition cache once per TTL;
    every write touches only this key, so no hash tag is needed.
``lamed:preflight``
    Written, read back and deleted by ``lamed preflight`` (expires in 60 s).

Every key one tracking transaction touches (flag and counts) carries the same
Redis Cluster hash tag ``{T}``, so the transaction runs unchanged on Redis
Cluster. Names enter keys only length-prefixed or JSON-encoded, so no name,
whatever characters it holds (``:``, ``{``, quotes, emoji), can collide with
or leak into another namespace, experiment, event or variant.
"""

from __future__ import annotations

import json
from collections import namedtuple
from collections.abc import Iterable
from functools import lru_cache

try:  # hashlib's own BLAKE2, without hashlib's load of OpenSSL (3 ms of a Lambda cold start)
    from _blake2 import blake2b
except ImportError:  # an interpreter that has it only through hashlib
    from hashlib import blake2b

FLAG_DIGEST_BYTES = 10
NAMESPACES = b"lamed:namespaces"


def _length_prefixed(*parts: str) -> bytes:
    out = b""
    for part in parts:
        raw = part.encode("utf-8")
        out += len(raw).to_bytes(4, "big") + raw
    return out


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


_TAG_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


# The hot path builds the same few keys again and again: a cache lookup costs
# less than hashing and JSON-encoding. Bounded, so names cannot grow it.
@lru_cache(maxsize=4096)
def hash_tag(namespace: str, experiment: str) -> bytes:
    """``{xx}``: 12 bits of a digest of the experiment's identity, as two
    characters (4096 tags spread experiments over a cluster's 16384 slots).

    Only the slot depends on it; a tag collision between two experiments puts
    them in one slot and changes nothing else, since every key also carries
    the full identity (in the digest or in JSON).
    """
    digest = blake2b(_length_prefixed(namespace, experiment), digest_size=2).digest()
    bits = int.from_bytes(digest, "big") >> 4
    return b"{" + bytes((_TAG_ALPHABET[bits >> 6], _TAG_ALPHABET[bits & 63])) + b"}"


# Redis keeps one shared object for each integer below this: a compact flag's value.
COMPACT_VALUES = 10_000
COMPACT_FLAG_BYTES = 6

# The flags of a batch, column by column, as the tracker sends them (whole
# columns are packed at once). keys: the full forms, also the events'
# identities within a batch; compacts: the compact keys; values: the compact
# values (see the module's doc).
Flags = namedtuple("Flags", "keys compacts values")
# One event's flag: key, compact and value as in Flags.
Flag = namedtuple("Flag", "key compact value")


@lru_cache(maxsize=4096)
def _flag_start(namespace: str, experiment: str, event: str, variant: str) -> tuple:
    """(hash tag, the digest having read the identity up to the uuid): the
    same for many events, which copy it (cheaper than hashing it again)."""
    identity = _length_prefixed(namespace, experiment, event, variant)
    return hash_tag(namespace, experiment), blake2b(identity, digest_size=FLAG_DIGEST_BYTES)


def flags(events: Iterable[tuple]) -> Flags:
    """The dedup flags, in both forms, of events given as (namespace,
    experiment, variant, event, uuid), the field order of ``lamed.events.Event``."""
    full, compacts, values = [], [], []
    for namespace, experiment, variant, event, uuid in events:
        tag, start = _flag_start(namespace, experiment, event, variant)
        raw, state = uuid.encode("utf-8"), start.copy()
        state.update(len(raw).to_bytes(4, "big") + raw)
        digest = state.digest()
        full.append(tag + digest)
        compacts.append(digest[:COMPACT_FLAG_BYTES])
        values.append(b"%d" % (int.from_bytes(digest[COMPACT_FLAG_BYTES:], "big") % COMPACT_VALUES))
    return Flags(full, compacts, values)


def flag(event: tuple) -> Flag:
    """The dedup flag of one event (a tuple as :func:`flags` takes)."""
    return Flag._make(column[0] for column in flags([event]))


@lru_cache(maxsize=4096)
def counts_key(namespace: str, experiment: str, tag: bytes | None = None) -> bytes:
    tag = tag or hash_tag(namespace, experiment)
    return b"lamed:" + tag + b":counts:" + _json([namespace, experiment])


def experiments_key(namespace: str) -> bytes:
    return b"lamed:experiments:" + _json([namespace])


@lru_cache(maxsize=4096)
def day_field(day: str, event: str, variant: str) -> bytes:
    return _json([day, event, variant])


DayCount = namedtuple("DayCount", "day event variant")


@lru_cache(maxsize=4096)
def parse_day_field(field: bytes) -> DayCount:
    day, event, variant = json.loads(field)
    return DayCount(day, event, variant)


def variants_key(namespace: str, experiment: str, tag: bytes | None = None) -> bytes:
    tag = tag or hash_tag(namespace, experiment)
    return b"lamed:" + tag + b":variants:" + _json([namespace, experiment])


DEFINITIONS = b"lamed:definitions"


def definition_field(namespace: str, experiment: str) -> bytes:
    return _json([namespace, experiment])


def parse_definition_field(field: bytes) -> tuple[str, str]:
    namespace, experiment = json.loads(field)
    return namespace, experiment


def preflight_key() -> bytes:
    """The scratch key ``lamed preflight`` writes to prove Redis is writable."""
    return b"lamed:preflight"
