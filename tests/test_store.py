"""Counting, results and deletion in the Store, on fakeredis (fast) and on a
real redis-server (the same tests, parametrized)."""

import calendar

import pytest

from lamed.core import keys
from lamed.core.counting import COUNTED, DUPLICATE
from lamed.core.events import Event


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
    flag = keys.DEFAULT_KEYS.flag(*ev("a"))
    assert store.client.get(flag) == b"1"
    assert 86390 < store.client.ttl(flag) <= 86400


def test_short_expiry_lets_an_old_uuid_count_again(store):
    assert store.track(ev("a")) == COUNTED
    store.client.pexpire(keys.DEFAULT_KEYS.flag(*ev("a")), 1)
    import time

    time.sleep(0.05)
    assert store.track(ev("a")) == COUNTED


def test_only_lamed_keys_are_written(store):
    store.track_many([ev("a"), ev("b", event="buy")])
    assert list(store.client.scan_iter())
    for key in store.client.scan_iter():
        assert key.startswith(b"lamed:"), key


class _Interloper:
    """A connection that lets another writer commit the same event inside
    this transaction's round trip, once: right after its WATCH and
    ``SET .. XX`` found no flag, before its MULTI..EXEC, where Redis may
    run another client's commands between those of a pipeline."""

    def __init__(self, connection, interfere) -> None:
        self._connection = connection
        self._interfere = interfere

    def call(self, commands):
        split = next(index for index, command in enumerate(commands) if command[0] == b"MULTI")
        before = self._connection.call(commands[:split])
        self._interfere()
        return before + self._connection.call(commands[split:])

    def __getattr__(self, name):
        return getattr(self._connection, name)


def _interfered_once(store, settings, event):
    from lamed.web.runtime import build_store

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
    from lamed.core.errors import Contention

    store.tracker.settings = store.tracker.settings.replace(watch_retries=1)
    event = ev("raced")
    _interfered_once(store, settings, event)
    with pytest.raises(Contention):
        store.track(event)
    assert store.experiment("ns", "exp").count("participate", "red") == 1


# -- flags that collide (a digest shortened to force it) ----------------------


@pytest.mark.parametrize("track_mode", ["watch", "lua"])
def test_colliding_flags_inside_a_batch_count_once_per_distinct_digest(settings, monkeypatch, track_mode):
    """One-byte digests (at most 256 flags) make 300 events collide often,
    in the same batch and across batches: the counts equal the number of
    distinct flags, never more."""
    from lamed.web.runtime import build_store

    monkeypatch.setattr(keys, "FLAG_DIGEST_BYTES", 1)
    store = build_store(settings.replace(track_mode=track_mode))
    events = [ev(f"crowded {n}") for n in range(300)]
    distinct = len({keys.DEFAULT_KEYS.flag(*event) for event in events})
    assert distinct < 256  # collisions, surely
    first = store.track_many(events[:150])
    second = store.track_many(events)
    assert store.track_many(events[::-1]) == [DUPLICATE] * 300
    assert first.count(COUNTED) + second.count(COUNTED) == distinct
    assert store.experiment("ns", "exp").count("participate", "red") == distinct


@pytest.mark.parametrize("track_mode", ["watch", "lua"])
def test_concurrent_writers_on_colliding_flags_count_once_per_distinct_digest(settings, monkeypatch, track_mode):
    """Eight trackers send the same 200 events, in different orders and
    batch sizes, with one-byte digests and transactions of 1 to 3 events:
    writers race on shared flags; the count is the number of distinct flags."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    from lamed.web.runtime import build_tracker

    monkeypatch.setattr(keys, "FLAG_DIGEST_BYTES", 1)
    config = settings.replace(track_mode=track_mode, watch_retries=100)
    events = [ev(f"raced {n}") for n in range(200)]
    distinct = len({keys.DEFAULT_KEYS.flag(*event) for event in events})

    def send(seed: int) -> list:
        tracker, order = build_tracker(config), random.Random(seed).sample(events, len(events))
        size = 1 + seed % 7
        return [o for i in range(0, len(order), size) for o in tracker.track_many(order[i : i + size])]

    with ThreadPoolExecutor(8) as pool:
        monkeypatch.setattr("lamed.core.counting.TRANSACTION_EVENTS", 3)
        outcomes = [o for found in pool.map(send, range(8)) for o in found]
    assert outcomes.count(COUNTED) == distinct
    observer = build_tracker(config).read_hash(keys.DEFAULT_KEYS.counts_key("ns", "exp"))
    assert sum(int(value) for value in observer.values()) == distinct
