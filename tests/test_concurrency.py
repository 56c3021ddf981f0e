"""Exactly once under concurrency: many threads and several processes deliver
overlapping duplicates at the same time; counts equal the distinct events."""

import json
import random
import subprocess
import sys
import threading
from collections import Counter

from lamed.core.events import Event
from lamed.web.runtime import build_store

WORKER = r"""
import json, sys, threading
from lamed.core.events import Event
from lamed.web.runtime import build_store
from lamed.core.settings import Settings

url, path = sys.argv[1], sys.argv[2]
deliveries = [Event(*item) for item in json.load(open(path))]
store = build_store(Settings(redis_url=url, watch_retries=50))
start = threading.Barrier(4)

def deliver(share):
    start.wait()
    for index in range(0, len(share), 7):
        chunk = share[index:index + 7]
        if index % 2:
            store.track_many(chunk)
        else:
            for event in chunk:
                store.track(event)

threads = [threading.Thread(target=deliver, args=(deliveries[i::4],)) for i in range(4)]
for t in threads: t.start()
for t in threads: t.join()
"""


def distinct_events(count: int) -> list:
    return [
        Event("ns", f"exp {i % 3}", ["red", "blue"][i % 2], ["participate", "buy", "a:b"][i % 3], f"uuid-{i % 97}")
        for i in range(count)
    ]


def expected_counts(events) -> Counter:
    return Counter((e.experiment, e.event, e.variant) for e in set(events))


def observed_counts(store) -> Counter:
    observed = Counter()
    for counts in store.results("ns", store.experiment_names("ns")):
        for (event, variant), value in counts.totals.items():
            observed[(counts.name, event, variant)] = value
    return observed


def test_threads_and_processes_count_each_distinct_event_once(store, settings, tmp_path):
    events = distinct_events(600)
    assert len(set(events)) > 500  # overlapping uuids across experiments and variants
    deliveries = events * 4
    random.Random(7).shuffle(deliveries)

    shares = [deliveries[i::4] for i in range(4)]  # 3 processes + this process's threads
    processes = []
    for index, share in enumerate(shares[:3]):
        path = tmp_path / f"share{index}.json"
        path.write_text(json.dumps([[e.namespace, e.experiment, e.variant, e.event, e.uuid] for e in share]))
        processes.append(subprocess.Popen([sys.executable, "-c", WORKER, settings.redis_url, str(path)]))

    local = build_store(settings.replace(watch_retries=50))
    local_shares = [shares[3][i::8] for i in range(8)]
    threads = [threading.Thread(target=lambda s=s: [local.track(e) for e in s]) for s in local_shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for process in processes:
        assert process.wait(120) == 0

    assert observed_counts(store) == expected_counts(events)


def test_one_hot_event_from_many_threads_counts_once(store, settings):
    """All writers race on one flag: WATCH makes every loser a duplicate."""
    stores = [build_store(settings.replace(watch_retries=50)) for _ in range(16)]
    barrier = threading.Barrier(16)
    outcomes = []

    def race(own_store):
        barrier.wait()
        outcomes.append(own_store.track(Event("ns", "hot", "a", "participate", "same-uuid")))

    threads = [threading.Thread(target=race, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["counted"] + ["duplicate"] * 15
    assert store.experiment("ns", "hot").count("participate", "a") == 1


def test_http_clients_in_parallel(live_server, store):
    from conftest import http

    events = distinct_events(200)
    deliveries = events * 3
    random.Random(3).shuffle(deliveries)
    failures = []

    def send(share):
        for e in share:
            body = e._asdict()
            response = http("POST", f"{live_server.url}/track", body)
            if response.status != 200:
                failures.append(response.status)

    threads = [threading.Thread(target=send, args=(deliveries[i::6],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert observed_counts(store) == expected_counts(events)
