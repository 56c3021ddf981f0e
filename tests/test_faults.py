"""Faults under load: Redis killed and restarted with AOF, Redis paused (it
accepts commands but answers none), and a WatchError storm. In every case:
503s the client retries, never a double count, never a lost acknowledged
event."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter

import pytest
import redis
from conftest import http

from lamed.cli.embedded import RedisServer
from lamed.core.counting import COUNTED, DUPLICATE
from lamed.core.errors import Contention, StoreUnavailable
from lamed.core.events import Event
from lamed.core.settings import Settings
from lamed.store.results import Store, open_store
from lamed.web import runtime

NAMESPACE = "faults"


def _event(experiment: str, uuid: str, variant: str = "A") -> Event:
    return Event(NAMESPACE, experiment, variant, "participate", uuid)


def _resend_until_answered(store: Store, events: list, deadline: float, refused: Counter) -> list:
    """The Alephbet client's behaviour: anything without a 200 is sent again."""
    while True:
        try:
            return store.track_many(events)
        except StoreUnavailable as error:
            refused[type(error).__name__] += 1
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _count_all(store: Store, experiments: list) -> Counter:
    measured = Counter()
    for counts in store.results(NAMESPACE, experiments):
        for (_, variant), value in counts.totals.items():
            measured[(counts.name, variant)] += value
    return measured


def _truth(events) -> Counter:
    return Counter((event.experiment, event.variant) for event in set(events))


def test_redis_killed_and_restarted_with_aof_always_loses_nothing_acknowledged(tmp_path):
    """SIGKILL mid-load with ``appendfsync always``: every event that got an
    answer survives the restart; the rest are resent and counted once."""
    server = RedisServer(tmp_path / "redis", persistent=True, extra_args=["--appendfsync", "always"]).start()
    try:
        store = open_store(Settings(redis_url=server.url, redis_timeout_seconds=0.5))
        experiments = [f"restart {i}" for i in range(4)]
        acknowledged: list = []
        refused: Counter = Counter()
        errors: list = []
        deadline = time.monotonic() + 30

        def writer(index: int) -> None:
            try:
                for n in range(150):
                    batch = [_event(experiments[(n + k) % 4], f"w{index}-{n}-{k}", "AB"[k % 2]) for k in range(3)]
                    batch.append(batch[0])  # a duplicate inside the batch
                    _resend_until_answered(store, batch, deadline, refused)
                    acknowledged.extend(batch)
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        while len(acknowledged) < 400 and any(t.is_alive() for t in threads):
            time.sleep(0.005)
        server.process.kill()
        server.process.wait()
        time.sleep(0.3)
        server.start()  # same port, same data dir: replays the AOF
        for thread in threads:
            thread.join(60)
        assert not errors, errors[:3]
        assert refused, "the writers should have seen Redis go away"
        assert _count_all(store, experiments) == _truth(acknowledged)
        assert set(store.track_many(acknowledged)) == {DUPLICATE}
        print(f"restart: {len(set(acknowledged))} distinct events, {sum(refused.values())} 503s retried")
    finally:
        server.stop()


@pytest.fixture
def paused_redis_server(store, live_server, redis_url):
    """The live server, and a way to make its Redis hang (CLIENT PAUSE)."""
    admin = redis.Redis.from_url(redis_url)

    def pause(milliseconds: int) -> None:
        admin.execute_command("CLIENT", "PAUSE", milliseconds, "ALL")

    yield live_server, pause
    admin.execute_command("CLIENT", "UNPAUSE")
    admin.close()


def _get(url: str) -> tuple:
    started = time.monotonic()
    result = http("GET", url)
    return result.status, json.loads(result.body or b"null"), time.monotonic() - started


def _track_url(base: str, uuid: str) -> str:
    query = {"namespace": NAMESPACE, "experiment": "paused", "variant": "A", "event": "participate", "uuid": uuid}
    return f"{base}/track?{urllib.parse.urlencode(query)}"


def test_hanging_redis_gives_503_within_budget_stays_responsive_and_recovers(paused_redis_server, store):
    server, pause = paused_redis_server
    budget = runtime.settings().redis_timeout_seconds
    assert _get(_track_url(server.url, "before"))[0] == 200  # warm: pool and limits known
    pause(2500)
    outcomes = []

    def client(uuid: str) -> None:
        outcomes.append((uuid, *_get(_track_url(server.url, uuid))))

    threads = [threading.Thread(target=client, args=(f"during {i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    # Requests that need no Redis are answered at once meanwhile.
    status, body, elapsed = _get(f"{server.url}/track?experiment=paused")
    assert status == 400 and body["field"] == "variant" and elapsed < 0.3
    for thread in threads:
        thread.join(10)
    for uuid, status, body, elapsed in outcomes:
        assert status == 503, (uuid, status, body)
        # Two socket timeouts (the kept connection's, then the fresh one's: lamed.core.nodes),
        # and a second of slack for a shared 2-core machine.
        assert body["error"] and elapsed < 2 * budget + 1.0, elapsed
    time.sleep(2.6)  # Redis answers again; the clients resend
    for uuid, *_ in outcomes:
        assert _get(_track_url(server.url, uuid))[0] == 200
        assert _get(_track_url(server.url, uuid))[1] == {"status": DUPLICATE}
    assert store.experiment(NAMESPACE, "paused").count("participate", "A") == 7
    print(f"paused Redis: 503 after at most {max(o[3] for o in outcomes):.2f} s (budget {budget} s)")


def test_watch_error_storm_is_bounded_and_counts_exactly(settings):
    """Eight writers race on the same events with one WATCH attempt each:
    any loser gets Contention (a 503) and resends, and nothing counts twice.
    A transaction is one pipeline, which Redis mostly runs without another
    client's commands in between, so losers are rare (test_store.py makes
    one on purpose)."""
    stores = [open_store(settings.replace(redis_timeout_seconds=0.5, watch_retries=1)) for _ in range(8)]
    events = [_event("storm", f"user {i}", "AB"[i % 2]) for i in range(400)]
    refused: Counter = Counter()
    outcomes: list = []
    deadline = time.monotonic() + 30
    start = threading.Barrier(len(stores))

    def writer(index: int) -> None:
        start.wait()
        for first in range(0, len(events), 10):  # every writer sends the same ten new events, rotated
            batch = events[first : first + 10]
            batch = batch[index:] + batch[:index]
            outcomes.extend(_resend_until_answered(stores[index], batch, deadline, refused))

    threads = [threading.Thread(target=writer, args=(index,)) for index in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert outcomes.count(COUNTED) == len(events)
    assert _count_all(stores[0], ["storm"]) == _truth(events)
    assert issubclass(Contention, StoreUnavailable)  # so the route answers 503
    print(f"storm: {refused['Contention']} contention 503s, {len(outcomes)} answers, {len(events)} counted")


def test_contention_is_a_503_with_retry_after(fake_store, monkeypatch):
    from chalice.test import Client

    from app import app

    def every_exec_lost(connection, writes):  # another writer always foils the EXEC
        return [False] * len(writes)

    monkeypatch.setattr(fake_store.tracker, "_attempt", every_exec_lost)
    with Client(app) as client:
        response = client.http.get("/track?experiment=e&variant=A&event=participate&uuid=u")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert json.loads(response.body)["error"]
