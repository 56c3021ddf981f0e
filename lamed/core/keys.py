"""The Redis key schema. No other module builds or parses Lamed's keys.

Every key starts with the configured prefix ``P`` (``key_prefix``, default
``lamed:``), so ``SCAN MATCH lamed:*`` finds, counts and removes all of
Lamed's data in a Redis shared with other applications. ``{T}`` is the
experiment's Redis Cluster hash tag (see :func:`hash_tag`).

``P{T}:<digest>``, value ``1``
    Dedup flag of one event (namespace, experiment, event, variant, uuid),
    expiring after ``uuid_expiry_seconds``. The digest is an 80-bit BLAKE2b
    of the length-prefixed identity, in 14 characters of URL-safe base64.
    It is the one key per counted event, so its size is the memory cost per
    event: with a prefix of at most :data:`MAX_PREFIX_BYTES` bytes a flag is
    at most 30 bytes, which Redis keeps in a 32-byte block (``bench/README.md``,
    "Memory"); the value ``1`` is one of Redis's shared integers.
``P{T}:counts:["namespace","experiment"]``
    Hash of per-day counters. Field ``["YYYYMMDD","event","variant"]``
    (JSON), value the count. Totals are the sum over days, so one HINCRBY
    per event keeps both the total and the daily chart.
``P{T}:variants:["namespace","experiment"]``
    Set of the experiment's variant names (bounds variants per experiment).
``Pexperiments:["namespace"]``
    Set of experiment names that have counters in the namespace.
``P{T}:goals:["namespace","experiment"]``
    Set of the experiment's goals (event names but ``participate``; bounds goals per experiment).
``Pexperiment-index``
    Set of every experiment, as ``["namespace","experiment"]`` (bounds experiments in all).
``Pnamespaces``
    Set of namespaces that have experiments.
``Pdefinitions``
    Hash of experiment definitions. Field ``["namespace","experiment"]``
    (JSON), value the definition as JSON. One key, read whole by each
    process's definitions snapshot; no hash tag is needed.
``Ppreflight``
    Written, read back and deleted by ``lamed preflight`` (expires in 60 s).
``Pnotified``
    Hash of the last decision notified per experiment. Field
    ``["namespace","experiment"]`` (JSON), value ``{"kind": ..., "decision":
    {...}}`` as JSON (see :mod:`lamed.web.notify`). At most one field per
    experiment with counters.
``Pnotify-lock``
    Held (a random token, expiring) by the one process running a notify check.
``Pnotify-due``
    Set for ``notify_interval_seconds`` by the ``lamed serve`` process that
    runs this interval's check; the others skip it.
``Psession:<digest>``, value ``1``
    An open dashboard session, expiring with it; logout deletes it. The
    digest is a 128-bit BLAKE2b of the session token (the key never holds
    the token itself).
``Plogin-failures:["client address",window]``
    Count of wrong logins from one client address in one minute-long
    window (the window's number since the epoch); expires with the window.

Every key one tracking transaction touches (flags and counts) carries the
experiment's hash tag, so the transaction runs unchanged on Redis Cluster.
Names enter keys only length-prefixed (inside the digest) or JSON-encoded,
so no name, whatever characters it holds (``:``, ``{``, quotes, emoji), can
collide with or leak into another namespace, experiment, event or variant.
"""

from __future__ import annotations

import json
from binascii import b2a_base64
from functools import lru_cache

from lamed.core.errors import SettingsError

try:  # hashlib's own BLAKE2, without hashlib's load of OpenSSL (3 ms of a Lambda cold start)
    from _blake2 import blake2b
except ImportError:  # an interpreter that has it only through hashlib
    from hashlib import blake2b

DEFAULT_PREFIX = "lamed:"
# A flag is prefix + "{T}:" (5 bytes) + 14 characters: 30 bytes at most keeps
# it in Redis's 32-byte block, as measured in bench/README.md.
MAX_PREFIX_BYTES = 11
FLAG_DIGEST_BYTES = 10
# Characters a prefix must not hold: braces would take over the hash tag (and
# put every key in one cluster slot); the rest are SCAN MATCH's pattern syntax.
FORBIDDEN_PREFIX_CHARACTERS = "{}*?[]\\"
_TAG_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_URL_SAFE = bytes.maketrans(b"+/", b"-_")


def check_prefix(prefix: str) -> bytes:
    """The prefix as bytes, or SettingsError saying what is wrong with it."""
    if not prefix or not prefix.isascii() or not prefix.isprintable() or " " in prefix:
        raise SettingsError(f"key_prefix must be printable ASCII without spaces, got {prefix!r}")
    if len(prefix) > MAX_PREFIX_BYTES:
        raise SettingsError(f"key_prefix must be at most {MAX_PREFIX_BYTES} characters (flags stay in 32 bytes)")
    bad = sorted(set(prefix) & set(FORBIDDEN_PREFIX_CHARACTERS))
    if bad:
        raise SettingsError(f"key_prefix must not contain {' '.join(bad)} (hash tags and SCAN patterns)")
    return prefix.encode("ascii")


def _length_prefixed(*parts: str) -> bytes:
    out = b""
    for part in parts:
        raw = part.encode("utf-8")
        out += len(raw).to_bytes(4, "big") + raw
    return out


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# The track path builds the same few keys again and again; bounded, so names
# a client invents cannot grow the caches.
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


@lru_cache(maxsize=4096)
def day_field(day: str, event: str, variant: str) -> bytes:
    return _json([day, event, variant])


@lru_cache(maxsize=4096)
def _experiment(namespace: str, experiment: str) -> tuple[bytes, bytes]:
    """An experiment's hash tag and JSON identity, as its keys hold them."""
    return hash_tag(namespace, experiment), _json([namespace, experiment])


def parse_day_field(field: bytes) -> tuple[str, str, str]:
    """(day, event, variant) of a counts hash field."""
    day, event, variant = json.loads(field)
    return day, event, variant


def definition_field(namespace: str, experiment: str) -> bytes:
    return _json([namespace, experiment])


def notified_field(namespace: str, experiment: str) -> bytes:
    """An experiment's field in ``notified``: its identity, as in ``definitions``."""
    return definition_field(namespace, experiment)


def parse_definition_field(field: bytes) -> tuple[str, str]:
    namespace, experiment = json.loads(field)
    return namespace, experiment


class KeySchema:
    """Lamed's keys under one prefix (see the module's doc)."""

    __slots__ = (
        "prefix", "namespaces", "experiment_index", "definitions", "preflight", "notified", "notify_lock", "notify_due",
    )  # fmt: skip

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = check_prefix(prefix)
        self.namespaces = self.prefix + b"namespaces"
        self.experiment_index = self.prefix + b"experiment-index"
        self.definitions = self.prefix + b"definitions"
        self.preflight = self.prefix + b"preflight"
        self.notified = self.prefix + b"notified"
        self.notify_lock = self.prefix + b"notify-lock"
        self.notify_due = self.prefix + b"notify-due"

    def __repr__(self) -> str:
        return f"KeySchema({self.prefix.decode()!r})"

    def flag(self, namespace: str, experiment: str, variant: str, event: str, uuid: str) -> bytes:
        """The dedup flag of one event (arguments in ``lamed.core.events.Event``'s order)."""
        identity = _length_prefixed(namespace, experiment, event, variant, uuid)
        digest = blake2b(identity, digest_size=FLAG_DIGEST_BYTES).digest()
        text = b2a_base64(digest, newline=False).translate(_URL_SAFE).rstrip(b"=")
        return self.prefix + hash_tag(namespace, experiment) + b":" + text

    def counts_key(self, namespace: str, experiment: str) -> bytes:
        tag, identity = _experiment(namespace, experiment)
        return self.prefix + tag + b":counts:" + identity

    def variants_key(self, namespace: str, experiment: str) -> bytes:
        tag, identity = _experiment(namespace, experiment)
        return self.prefix + tag + b":variants:" + identity

    def goals_key(self, namespace: str, experiment: str) -> bytes:
        tag, identity = _experiment(namespace, experiment)
        return self.prefix + tag + b":goals:" + identity

    def experiment_index_member(self, namespace: str, experiment: str) -> bytes:
        """How ``experiment_index`` holds an experiment."""
        return _experiment(namespace, experiment)[1]

    def experiments_key(self, namespace: str) -> bytes:
        return self.prefix + b"experiments:" + _json([namespace])

    def session_key(self, token: str) -> bytes:
        digest = blake2b(token.encode("utf-8", "replace"), digest_size=16).digest()
        return self.prefix + b"session:" + b2a_base64(digest, newline=False).translate(_URL_SAFE).rstrip(b"=")

    def login_failures_key(self, client_address: str, window: int) -> bytes:
        return self.prefix + b"login-failures:" + _json([client_address, window])


DEFAULT_KEYS = KeySchema()
