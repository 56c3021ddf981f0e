"""Counting, results and deletion in the Store, on fakeredis (fast) and on a
real redis-server (the same tests, parametrized)."""

import calendar

import pytest

from lamed import keys
from lamed.events import Event
from lamed.store import COUNTED, DUPLICATE


@pytest.fixture(params=["fakeredis", "redis-server"])
def any_store(request):
    name = "fake_store" if request.param == "fakeredis" else "store"
    return request.getfixturevalue(name)


def ev(uuid, variant="red", event="participate", experiment="exp", namespace="ns"):
    return Event(namespace, experiment, variant, event, uuid)


DAY1 = calendar.timegm((2026, 11, 20, 12, 0, 0))
DAY2 = calendar.timegm((2026, 11, 21, 23, 59, 59))


def test_an_event_counts_once(any_store):
    assert any_store.track(ev("u1")) == COUNTED
    assert any_store.track(ev("u1")) == DUPLICATE
    assert any_store.experiment("ns", "exp").count("participate", "red") == 1


def test_any_difference_in_identity_counts_again(any_store):
    base = ev("u1")
    variations = [
        ev("u2"),
        ev("u1", variant="blue"),
        ev("u1", event="buy"),
        ev("u1", experiment="other"),
        ev("u1", namespace="other"),
    ]
    assert [any_store.track(e) for e in [base, *variations]] == [COUNTED] * 6


def test_batch_outcomes_in_order_with_duplicates_inside_and_across(any_store):
    any_store.track(ev("old"))
    batch = [ev("a"), ev("old"), ev("a"), ev("b", variant="blue"), ev("c", event="buy")]
    assert any_store.track_many(batch) == [COUNTED, DUPLICATE, DUPLICATE, COUNTED, COUNTED]
    counts = any_store.experiment("ns", "exp")
    assert counts.totals == {("participate", "red"): 2, ("participate", "blue"): 1, ("buy", "red"): 1}


def test_all_duplicate_batch_leaves_the_connection_usable(any_store):
    any_store.track_many([ev("a"), ev("b")])
    assert any_store.track_many([ev("a"), ev("b")]) == [DUPLICATE, DUPLICATE]
    assert any_store.track(ev("c")) == COUNTED


def test_daily_buckets_and_totals(any_store):
    any_store.track(ev("a"), now=DAY1)
    any_store.track(ev("b"), now=DAY2)
    any_store.track(ev("c"), now=DAY2)
    counts = any_store.experiment("ns", "exp")
    assert counts.daily == {("20261120", "participate", "red"): 1, ("20261121", "participate", "red"): 2}
    assert counts.totals == {("participate", "red"): 3}


def test_registry_lists_experiments_and_namespaces(any_store):
    any_store.track(ev("a", experiment="one"))
    any_store.track(ev("a", experiment="two: ünï 🎉"))
    any_store.track(ev("a", namespace="elsewhere"))
    assert any_store.experiment_names("ns") == ["one", "two: ünï 🎉"]
    assert any_store.namespaces() == ["elsewhere", "ns"]


def test_results_of_many_experiments(any_store):
    any_store.track_many([ev(str(i), experiment=f"e{i % 3}") for i in range(9)])
    results = any_store.results("ns", ["e0", "e1", "e2", "missing"])
    assert [r.count("participate", "red") for r in results] == [3, 3, 3, 0]
    assert results[3].is_empty


def test_delete_resets_and_later_events_register_again(any_store):
    any_store.track(ev("a"))
    assert any_store.delete("ns", "exp") is True
    assert any_store.experiment("ns", "exp").is_empty
    assert any_store.experiment_names("ns") == []
    assert any_store.delete("ns", "exp") is False
    # The flag outlives the reset (uuid expiry), new events count and re-register.
    assert any_store.track(ev("a")) == DUPLICATE
    assert any_store.track(ev("b")) == COUNTED
    assert any_store.experiment_names("ns") == ["exp"]


def test_delete_leaves_other_experiments_alone(any_store):
    any_store.track_many([ev("a"), ev("a", experiment="exp:2"), ev("a", namespace="ns2")])
    any_store.delete("ns", "exp")
    assert any_store.experiment("ns", "exp:2").count("participate", "red") == 1
    assert any_store.experiment("ns2", "exp").count("participate", "red") == 1


def test_flag_expires_after_uuid_expiry(store):
    store.track(ev("a"))
    flag = keys.flag(ev("a"))
    assert store.client.get(flag.compact) == flag.value
    assert 86390 < store.client.ttl(flag.compact) <= 86400


def test_short_expiry_lets_an_old_uuid_count_again(store):
    store.uuid_expiry_seconds = 1
    assert store.track(ev("a")) == COUNTED
    store.client.pexpire(keys.flag(ev("a")).compact, 1)
    import time

    time.sleep(0.05)
    assert store.track(ev("a")) == COUNTED


def test_only_lamed_keys_are_written(store):
    store.track_many([ev("a"), ev("b", event="buy")])
    flags = {keys.flag(event).compact for event in (ev("a"), ev("b", event="buy"))}
    for key in store.client.scan_iter():
        assert key.startswith(b"lamed:") or key in flags, key


class _Interloper:
    """A connection that lets another writer commit the same event right
    between this transaction's WATCH/MGET and its MULTI..EXEC, once."""

    def __init__(self, connection, interfere) -> None:
        self._connection = connection
        self._interfere = interfere
        self._sends = 0

    def send(self, data):
        self._sends += 1
        if self._sends == 2:
            self._interfere()
        return self._connection.send(data)

    def __getattr__(self, name):
        return getattr(self._connection, name)


def _interfered_once(store, settings, event):
    from lamed.runtime import build_store

    other = build_store(settings)
    pending = [lambda: other.track(event)]
    original = store.tracker._count

    def count(connection, *args):
        interfere = pending.pop() if pending else (lambda: None)
        return original(_Interloper(connection, interfere), *args)

    store.tracker._count = count


def test_a_lost_watch_is_retried_and_the_event_counts_once(store, settings):
    event = ev("raced")
    _interfered_once(store, settings, event)
    assert store.track(event) == DUPLICATE  # the other writer won; our retry sees its flag
    assert store.experiment("ns", "exp").count("participate", "red") == 1


def test_retries_are_bounded_then_contention(store, settings):
    from lamed.store import Contention

    store.tracker.watch_retries = 1
    event = ev("raced")
    _interfered_once(store, settings, event)
    with pytest.raises(Contention):
        store.track(event)
    assert store.experiment("ns", "exp").count("participate", "red") == 1


# -- the two forms of a flag (lamed.keys) ------------------------------------


def test_a_compact_key_held_by_another_event_sends_the_flag_to_its_full_form(store):
    event = ev("collides")
    flag = keys.flag(event)
    other_value = b"%d" % ((int(flag.value) + 1) % 10_000)
    store.client.set(flag.compact, other_value, ex=600)  # another event's flag, 48-bit prefix collision
    assert store.track(event) == COUNTED
    assert store.client.get(flag.compact) == other_value  # not clobbered
    assert store.client.get(flag.key) == b"1"
    assert store.track(event) == DUPLICATE
    assert store.experiment("ns", "exp").count("participate", "red") == 1


def test_flags_written_in_the_full_form_before_still_count_as_seen(store):
    event = ev("from before the compact form")
    store.client.set(keys.flag(event).key, b"1", ex=600)
    assert store.track(event) == DUPLICATE
    assert store.experiment("ns", "exp").is_empty


@pytest.mark.parametrize("track_mode", ["watch", "lua"])
def test_compact_key_collisions_inside_a_batch_still_count_each_event_once(settings, monkeypatch, track_mode):
    """One-byte compact keys (256 of them) make 300 events collide often, in
    the same batch and across batches; each is still counted exactly once."""
    from lamed.runtime import build_store

    monkeypatch.setattr(keys, "COMPACT_FLAG_BYTES", 1)
    store = build_store(settings.replace(track_mode=track_mode))
    events = [ev(f"crowded {n}") for n in range(300)]
    flags = [keys.flag(event) for event in events]
    assert len({flag.compact for flag in flags}) < 256  # collisions, surely
    assert len({(flag.compact, flag.value) for flag in flags}) == 300  # but no two events share both
    assert store.track_many(events[:150]) == [COUNTED] * 150
    assert store.track_many(events) == [DUPLICATE] * 150 + [COUNTED] * 150
    assert store.track_many(events[::-1]) == [DUPLICATE] * 300
    assert store.experiment("ns", "exp").count("participate", "red") == 300
    full_forms = [flag.key for flag in flags if store.client.exists(flag.key)]
    assert 0 < len(full_forms) < 300


@pytest.mark.parametrize("track_mode", ["watch", "lua"])
def test_concurrent_writers_on_colliding_compact_keys_count_each_event_once(settings, monkeypatch, track_mode):
    """Eight processes' worth of trackers send the same 200 events, in
    different orders and batch sizes, with one-byte compact keys: writers of
    one event race on its compact key, on its full key, or on both. Batches
    are split into transactions of 1 to 3 events, run side by side."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    from lamed.runtime import build_tracker

    monkeypatch.setattr(keys, "COMPACT_FLAG_BYTES", 1)
    config = settings.replace(track_mode=track_mode, watch_retries=100)
    events = [ev(f"raced {n}") for n in range(200)]

    def send(seed: int) -> list:
        tracker, order = build_tracker(config), random.Random(seed).sample(events, len(events))
        tracker.transaction_events = 1 + seed % 3
        size = 1 + seed % 7
        return [o for i in range(0, len(order), size) for o in tracker.track_many(order[i : i + size])]

    with ThreadPoolExecutor(8) as pool:
        outcomes = [o for found in pool.map(send, range(8)) for o in found]
    assert outcomes.count(COUNTED) == 200
    observer = build_tracker(config).read_hash(keys.counts_key("ns", "exp"))
    assert sum(int(value) for value in observer.values()) == 200
