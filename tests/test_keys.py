"""The key schema: every key under the prefix, one flag form, shared hash tags, no collisions."""

import itertools

import pytest

from lamed.core import keys
from lamed.core.errors import SettingsError
from lamed.core.events import Event

NAMES = ["a", "a:b", "b", ":", "a:", ":b", "{x}", "}", "{", '"', "\\", "é", "🎉", "a b", '["a","b"]']


def slot_tag(key: bytes) -> bytes:
    """What Redis Cluster hashes: the text between the first { and the next }."""
    start = key.index(b"{")
    end = key.index(b"}", start + 1)
    return key[start + 1 : end]


def flag(event: Event, schema: keys.KeySchema = keys.DEFAULT_KEYS) -> bytes:
    return schema.flag(*event)


def test_flags_are_prefixed_printable_in_the_experiment_slot_and_at_most_30_bytes():
    found = flag(Event("ns", "exp", "red", "participate", "uuid-1"))
    assert found.startswith(b"lamed:{") and found.isascii() and found.decode().isprintable()
    assert len(found) == len("lamed:") + 4 + 1 + 14 <= 30  # Redis's 32-byte block (bench/README.md)
    assert slot_tag(found) == slot_tag(keys.DEFAULT_KEYS.counts_key("ns", "exp"))
    longest = keys.KeySchema("p" * keys.MAX_PREFIX_BYTES)
    assert len(flag(Event("ns", "exp", "red", "participate", "uuid-1"), longest)) == 30


def test_every_key_starts_with_the_prefix():
    schema = keys.KeySchema("shop:ab:")
    event = Event("ns", "exp", "red", "participate", "u")
    for key in (
        flag(event, schema), schema.counts_key("ns", "exp"), schema.variants_key("ns", "exp"),
        schema.experiments_key("ns"), schema.namespaces, schema.definitions, schema.preflight,
        schema.notified, schema.notify_lock, schema.notify_due,
    ):  # fmt: skip
        assert key.startswith(b"shop:ab:"), key
    assert flag(event, schema) != flag(event)  # two prefixes never share a flag


@pytest.mark.parametrize("prefix", ["", "a{b", "a}", "x*", "x?", "[x]", "a\\b", "with space", "é:", "p" * 12, "tab\t"])
def test_prefixes_that_would_break_hash_tags_scan_patterns_or_the_memory_class_are_refused(prefix):
    with pytest.raises(SettingsError):
        keys.KeySchema(prefix)


def test_tags_spread_experiments_and_never_hold_braces():
    tags = {keys.hash_tag("ns", f"experiment {i}") for i in range(100_000)}
    assert len(tags) == 4096
    assert all(len(tag) == 4 and b"{" not in tag[1:] and b"}" not in tag[:-1] for tag in tags)


def test_no_two_identities_share_a_flag():
    seen = {}
    for identity in itertools.product(NAMES[:6], NAMES[:6], NAMES[:4], ["participate", "p"], ["u", "u:1"]):
        assert seen.setdefault(flag(Event(*identity)), identity) == identity


def test_counts_keys_never_collide_whatever_the_characters():
    pairs = list(itertools.product(NAMES, NAMES))
    assert len({keys.DEFAULT_KEYS.counts_key(ns, exp) for ns, exp in pairs}) == len(pairs)


def test_day_fields_round_trip_and_never_collide():
    triples = list(itertools.product(["20261122"], NAMES, NAMES))
    fields = {keys.day_field(*triple) for triple in triples}
    assert len(fields) == len(triples)
    for triple in triples:
        assert tuple(keys.parse_day_field(keys.day_field(*triple))) == triple


def test_registry_keys_are_per_namespace():
    assert keys.DEFAULT_KEYS.experiments_key("a:b") != keys.DEFAULT_KEYS.experiments_key("a")
    assert keys.DEFAULT_KEYS.experiments_key("x") != keys.DEFAULT_KEYS.namespaces


def test_flags_are_the_same_bytes_from_one_version_to_the_next():
    """Dedup works across deploys only if an event's flag never changes:
    these values were computed when the prefixed form was introduced (2.0)."""
    assert flag(Event("ns", "exp", "red", "participate", "uuid-1")) == b"lamed:{iw}:3UrRyOMYrvM4aw"
    assert flag(Event("alephbet", "my a/b test", "é🎉", "participate", "u:1")) == b"lamed:{Jd}:QYuGPMq6EkoyNw"
