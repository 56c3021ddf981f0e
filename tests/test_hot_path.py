"""The counting path stays lean: commands, round trips and connections per
event, and what the Lambda track path imports."""

import json
import subprocess
import sys

import redis

from lamed.core.connection import Connection
from lamed.core.events import Event
from lamed.web.gateway import proxy_event


def command_calls(client) -> dict:
    return {name: stats["calls"] for name, stats in client.info("commandstats").items()}


def delta(before: dict, after: dict) -> dict:
    return {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}


def count_round_trips(monkeypatch) -> list:
    """Every write on a tracking connection is one round trip: the protocol
    reads all its replies before it writes again. Each write is recorded as
    (connection, data)."""
    writes = []
    original = Connection.send

    def counting(self, data):
        writes.append((self, data))
        return original(self, data)

    monkeypatch.setattr(Connection, "send", counting)
    return writes


def test_single_event_costs_six_commands_one_round_trip_no_new_connection(store, redis_url, monkeypatch):
    store.track(Event("ns", "warm", "a", "participate", "warm-up"))  # registers; opens the pooled connection
    store.track(Event("ns", "e", "a", "participate", "first"))
    observer = redis.Redis.from_url(redis_url)
    connections_before = observer.info("stats")["total_connections_received"]
    before = command_calls(observer)
    writes = count_round_trips(monkeypatch)

    for index in range(50):
        store.track(Event("ns", "e", "a", "participate", f"u{index}"))

    spent = delta(before, command_calls(observer))
    spent.pop("cmdstat_info", None)
    assert spent == {
        "cmdstat_watch": 50,
        "cmdstat_set": 100,  # SET .. XX finding no flag, then SET .. EX inside the transaction
        "cmdstat_multi": 50,
        "cmdstat_hincrby": 50,
        "cmdstat_exec": 50,
    }
    assert len(writes) == 50
    assert observer.info("stats")["total_connections_received"] == connections_before


def test_duplicate_costs_one_round_trip_and_runs_nothing_of_its_transaction(store, redis_url, monkeypatch):
    event = Event("ns", "e", "a", "participate", "dup")
    store.track(event)
    observer = redis.Redis.from_url(redis_url)
    before = command_calls(observer)
    writes = count_round_trips(monkeypatch)
    assert store.track(event) == "duplicate"
    spent = delta(before, command_calls(observer))
    spent.pop("cmdstat_info", None)
    # SET .. XX finds the flag, so EXEC runs none of the queued commands (Redis counts a queued command when it runs)
    assert spent == {"cmdstat_watch": 1, "cmdstat_set": 1, "cmdstat_multi": 1, "cmdstat_exec": 1}
    assert len(writes) == 1
    assert store.experiment("ns", "e").count("participate", "a") == 1


def test_a_batch_of_100_costs_one_round_trip(store, redis_url, monkeypatch):
    store.track(Event("ns", "e", "a", "participate", "registered"))
    observer = redis.Redis.from_url(redis_url)
    before = command_calls(observer)
    writes = count_round_trips(monkeypatch)
    outcomes = store.track_many([Event("ns", "e", "a", "participate", f"b{i}") for i in range(100)])
    assert outcomes == ["counted"] * 100
    assert len(writes) == 1  # one transaction
    spent = delta(before, command_calls(observer))
    spent.pop("cmdstat_info", None)
    assert spent == {
        "cmdstat_watch": 1, "cmdstat_set": 200, "cmdstat_multi": 1, "cmdstat_hincrby": 1, "cmdstat_exec": 1,
    }  # fmt: skip


def test_a_batch_holding_duplicates_counts_the_rest_in_a_second_round_trip(store, redis_url, monkeypatch):
    """The duplicates' flags abort the first attempt; it tells which events
    they are, and the second counts the others."""
    events = [Event("ns", "e", "a", "participate", f"d{i}") for i in range(10)]
    store.track_many(events[2:5])
    writes = count_round_trips(monkeypatch)
    outcomes = store.track_many(events)
    assert outcomes == ["counted"] * 2 + ["duplicate"] * 3 + ["counted"] * 5
    assert len(writes) == 2
    assert store.experiment("ns", "e").count("participate", "a") == 10


def test_a_batch_of_500_runs_five_transactions_on_one_connection(store, redis_url, monkeypatch):
    store.track(Event("ns", "e", "a", "participate", "registered"))
    observer = redis.Redis.from_url(redis_url)
    connections_before = observer.info("stats")["total_connections_received"]
    writes = count_round_trips(monkeypatch)
    assert store.track_many([Event("ns", "e", "a", "participate", f"c{i}") for i in range(500)]) == ["counted"] * 500
    assert len(writes) == 5  # 5 transactions of 100, a round trip each
    assert len({connection for connection, _ in writes}) == 1
    assert observer.info("stats")["total_connections_received"] == connections_before
    assert store.experiment("ns", "e").count("participate", "a") == 501


LAMBDA_PROBE = r"""
import json, sys
import app
event = json.loads(sys.argv[1])
response = app.handler(event, None)
heavy = sorted({m.split('.')[0] for m in sys.modules} & {'boto3', 'botocore', 'jinja2', 'click', 'prometheus_client'})
print(json.dumps({"status": response["statusCode"], "heavy": heavy}))
"""


def test_lambda_track_path_imports_no_boto3_jinja2_or_click(redis_url):
    query = {"experiment": "e", "variant": "a", "event": "participate", "uuid": "1"}
    event = proxy_event("GET", "/track", query=query)
    env = {"LAMED_REDIS_URL": redis_url, "PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    result = subprocess.run(
        [sys.executable, "-c", LAMBDA_PROBE, json.dumps(event)], capture_output=True, text=True, env=env, check=True
    )
    assert json.loads(result.stdout) == {"status": 200, "heavy": []}


def test_an_event_with_a_value_costs_two_more_commands_in_the_same_round_trip(store, redis_url, monkeypatch):
    """The value's sum and sum of squares go in the same MULTI..EXEC as the
    flag and the count: HINCRBY and HINCRBYFLOAT, no round trip more."""
    store.track(Event("ns", "e", "a", "buy", "warm-up", 1_000_000))
    observer = redis.Redis.from_url(redis_url)
    before = command_calls(observer)
    writes = count_round_trips(monkeypatch)
    for index in range(20):
        assert store.track(Event("ns", "e", "a", "buy", f"v{index}", 2_500_000)) == "counted"
    spent = delta(before, command_calls(observer))
    spent.pop("cmdstat_info", None)
    assert spent == {
        "cmdstat_watch": 20, "cmdstat_set": 40, "cmdstat_multi": 20,
        "cmdstat_hincrby": 40, "cmdstat_hincrbyfloat": 20, "cmdstat_exec": 20,
    }  # fmt: skip
    assert len(writes) == 20
