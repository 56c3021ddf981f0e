"""The optional ``track_mode = "lua"``: exactly once in one round trip, on a
real redis-server. The default (WATCH/MULTI) is covered by test_store and
test_hot_path."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from lamed.core import keys
from lamed.core.connection import Connection
from lamed.core.counting import COUNTED, DUPLICATE
from lamed.core.errors import SettingsError
from lamed.core.events import Event
from lamed.core.settings import Settings, load_settings
from lamed.store.results import Store, open_store
from lamed.web import runtime


@pytest.fixture
def lua_store(redis_url) -> Store:
    store = open_store(Settings(redis_url=redis_url, track_mode="lua"))
    yield store
    store.client.close()


def command_calls(client) -> dict:
    calls = {name: stats["calls"] for name, stats in client.info("commandstats").items()}
    calls.pop("cmdstat_info", None)
    return calls


def test_counts_each_event_once_and_repeats_are_duplicates(lua_store):
    events = [Event("ns", "exp", ("a", "b")[n % 2], "participate", f"u{n}") for n in range(10)]
    goal = Event("ns", "exp", "a", "signup", "u0")
    assert lua_store.track_many([*events, events[3], goal]) == [COUNTED] * 10 + [DUPLICATE, COUNTED]
    assert lua_store.track_many(events) == [DUPLICATE] * 10
    assert lua_store.track(goal) == DUPLICATE
    counts = lua_store.experiment("ns", "exp")
    assert counts.totals == {("participate", "a"): 5, ("participate", "b"): 5, ("signup", "a"): 1}
    assert lua_store.experiment_names("ns") == ["exp"]


def test_flags_expire_like_the_default_mode(redis_url):
    store = open_store(Settings(redis_url=redis_url, uuid_expiry_seconds=600, track_mode="lua"))
    event = Event("ns", "exp", "a", "participate", "u1")
    store.track(event)
    assert 590 <= store.client.ttl(keys.DEFAULT_KEYS.flag(*event)) <= 600
    store.client.close()


def test_one_round_trip_three_commands_no_new_connection(lua_store, redis_url):
    lua_store.track(Event("ns", "exp", "a", "participate", "warm-up"))  # loads the script, registers
    observer = redis.Redis.from_url(redis_url)
    connections = observer.info("stats")["total_connections_received"]
    before = command_calls(observer)
    writes = []
    original = Connection.send

    def counting(self, data):
        writes.append(data)
        return original(self, data)

    Connection.send = counting
    try:
        for n in range(20):
            lua_store.track(Event("ns", "exp", "a", "participate", f"u{n}"))
    finally:
        Connection.send = original
    after = command_calls(observer)
    spent = {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}
    assert spent == {"cmdstat_evalsha": 20, "cmdstat_set": 20, "cmdstat_hincrby": 20}
    assert len(writes) == 20
    assert observer.info("stats")["total_connections_received"] == connections
    observer.close()


def test_reloads_the_script_after_script_flush(lua_store):
    lua_store.track(Event("ns", "exp", "a", "participate", "u1"))
    lua_store.client.script_flush()
    assert lua_store.track(Event("ns", "exp", "a", "participate", "u2")) == COUNTED
    assert lua_store.track(Event("ns", "exp", "a", "participate", "u1")) == DUPLICATE


def test_concurrent_writers_count_each_distinct_event_once(lua_store):
    distinct = [Event("ns", "race", "a", "participate", f"u{n}") for n in range(200)]

    def send(offset: int) -> list:
        rotated = distinct[offset:] + distinct[:offset]
        return [lua_store.track(event) for event in rotated]

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = [status for batch in pool.map(send, range(0, 60, 10)) for status in batch]
    assert outcomes.count(COUNTED) == len(distinct)
    assert lua_store.experiment("ns", "race").count("participate", "a") == len(distinct)


def test_track_mode_setting(monkeypatch, redis_url):
    monkeypatch.setenv("LAMED_REDIS_URL", redis_url)
    monkeypatch.setenv("LAMED_TRACK_MODE", "lua")
    store = runtime.build_store(load_settings())
    assert store.track(Event("ns", "exp", "a", "participate", "u1")) == COUNTED
    assert store.client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0) >= 1
    store.client.close()
    monkeypatch.setenv("LAMED_TRACK_MODE", "fast")
    with pytest.raises(SettingsError, match="track_mode"):
        load_settings()
