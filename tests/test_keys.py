"""The key schema: compact flags, shared hash tags, no collisions."""

import itertools

from lamed import keys
from lamed.events import Event

NAMES = ["a", "a:b", "b", ":", "a:", ":b", "{x}", "}", "{", '"', "\\", "é", "🎉", "a b", '["a","b"]']


def slot_tag(key: bytes) -> bytes:
    """What Redis Cluster hashes: the text between the first { and the next }."""
    start = key.index(b"{")
    end = key.index(b"}", start + 1)
    return key[start + 1 : end]


def test_flags_are_six_bytes_and_a_shared_integer_or_fourteen_bytes_in_the_experiment_slot():
    flag = keys.flag(Event("ns", "exp", "red", "participate", "uuid-1"))
    assert len(flag.compact) == 6 and flag.key[4:10] == flag.compact  # 48 bits of the same digest
    assert 0 <= int(flag.value) < 10_000 and flag.value == b"%d" % int(flag.value)
    assert len(flag.key) == 14
    assert slot_tag(flag.key) == slot_tag(keys.counts_key("ns", "exp"))


def test_tags_spread_experiments_and_never_hold_braces():
    tags = {keys.hash_tag("ns", f"experiment {i}") for i in range(100_000)}
    assert len(tags) == 4096
    assert all(len(tag) == 4 and b"{" not in tag[1:] and b"}" not in tag[:-1] for tag in tags)


def test_no_two_identities_share_a_flag():
    seen = {}
    for identity in itertools.product(NAMES[:6], NAMES[:6], NAMES[:4], ["participate", "p"], ["u", "u:1"]):
        flag = keys.flag(Event(*identity))
        assert seen.setdefault(flag.key, identity) == identity
        assert seen.setdefault((flag.compact, flag.value), identity) == identity


def test_counts_keys_never_collide_whatever_the_characters():
    pairs = list(itertools.product(NAMES, NAMES))
    assert len({keys.counts_key(ns, exp) for ns, exp in pairs}) == len(pairs)


def test_day_fields_round_trip_and_never_collide():
    triples = list(itertools.product(["20261122"], NAMES, NAMES))
    fields = {keys.day_field(*triple) for triple in triples}
    assert len(fields) == len(triples)
    for triple in triples:
        assert tuple(keys.parse_day_field(keys.day_field(*triple))) == triple


def test_registry_keys_are_per_namespace():
    assert keys.experiments_key("a:b") != keys.experiments_key("a")
    assert keys.experiments_key("x") != keys.NAMESPACES


def test_flags_are_the_same_bytes_from_one_version_to_the_next():
    """Dedup works across deploys only if an event's flag never changes:
    these values were computed when the compact form was introduced."""
    flag = keys.flag(Event("ns", "exp", "red", "participate", "uuid-1"))
    assert flag == (b"{iw}\xddJ\xd1\xc8\xe3\x18\xae\xf38k", b"\xddJ\xd1\xc8\xe3\x18", b"5275")
    flag = keys.flag(Event("alephbet", "my a/b test", "é🎉", "participate", "u:1"))
    assert flag == (b"{Jd}A\x8b\x86<\xca\xba\x12J27", b"A\x8b\x86<\xca\xba", b"2407")
