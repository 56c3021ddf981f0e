"""A bounded soak of ``lamed serve``: several client processes send single
events and batches with duplicates for ``LAMED_SOAK_SECONDS`` (default 20).
No 5xx, counts equal the ground truth exactly, and memory stays flat: the
server's RSS after warm-up, and Redis's memory per counted event."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import redis
from conftest import API_KEY, ROOT

SOAK_SECONDS = float(os.environ.get("LAMED_SOAK_SECONDS", "20"))
CLIENTS = 3
EXPERIMENTS = [f"soak {i}" for i in range(5)]
GOALS = ["participate", "participate", "buy"]


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _send(request: urllib.request.Request) -> int:
    for _ in range(50):
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
                return response.status
        except urllib.error.HTTPError as error:
            if error.code != 503:
                return error.code
            time.sleep(0.05)  # the client's resend
    return 503


def _client(base_url: str, worker: int, seconds: float) -> tuple:
    """Sends until the time is up; returns (distinct events per counter, statuses, requests)."""
    rng = random.Random(worker)
    sent: list = []
    distinct: set = set()
    statuses: Counter = Counter()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        fresh = [
            (rng.choice(EXPERIMENTS), rng.choice("AB"), rng.choice(GOALS), f"w{worker}-{len(sent) + k}")
            for k in range(20)
        ]
        resent = rng.sample(sent, min(len(sent), 5))  # duplicates the server must not count
        if rng.random() < 0.5:
            batch = fresh + resent + fresh[:3]
            body = json.dumps([dict(zip(("experiment", "variant", "event", "uuid"), item)) for item in batch])
            request = urllib.request.Request(
                f"{base_url}/track", body.encode(), {"Content-Type": "application/json"}, method="POST"
            )
            statuses[_send(request)] += 1
        else:
            for item in fresh[:5] + resent[:2]:
                query = urllib.parse.urlencode(dict(zip(("experiment", "variant", "event", "uuid"), item)))
                statuses[_send(urllib.request.Request(f"{base_url}/track?{query}"))] += 1
            fresh = fresh[:5]
        sent.extend(fresh)
        distinct.update(fresh)
    truth = Counter((experiment, variant, goal) for experiment, variant, goal, _ in distinct)
    return dict(truth), dict(statuses)


def _start_server(redis_url: str) -> tuple:
    env = {**os.environ, "LAMED_REDIS_URL": redis_url, "LAMED_API_KEY": API_KEY, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-c", "from lamed.cli.main import main; main()", "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    for line in process.stdout:
        if line.startswith("Lamed is serving on "):
            return process, line.split()[4]
    raise AssertionError(f"lamed serve did not start (exit {process.wait()})")


def test_soak_counts_exactly_with_flat_memory(redis_url):
    server, base_url = _start_server(redis_url)
    admin = redis.Redis.from_url(redis_url)
    try:
        with multiprocessing.get_context("spawn").Pool(CLIENTS) as pool:
            jobs = [pool.apply_async(_client, (base_url, worker, SOAK_SECONDS)) for worker in range(CLIENTS)]
            time.sleep(SOAK_SECONDS * 0.25)  # warm-up: pools, caches, allocator arenas
            rss_start, redis_start, keys_start = (
                _rss_kib(server.pid),
                admin.info("memory")["used_memory"],
                admin.dbsize(),
            )
            results = [job.get(SOAK_SECONDS + 120) for job in jobs]
        rss_end, redis_end, keys_end = _rss_kib(server.pid), admin.info("memory")["used_memory"], admin.dbsize()
        truth: Counter = Counter()
        statuses: Counter = Counter()
        for distinct, seen in results:
            truth.update(distinct)
            statuses.update(seen)
        with urllib.request.urlopen(
            urllib.request.Request(f"{base_url}/experiments", headers={"x-api-key": API_KEY}), timeout=10
        ):
            pass  # the API-key results route still answers (urlopen raises on a 4xx/5xx)
        measured = _counts(redis_url)
        assert set(statuses) == {200}, statuses
        assert measured == truth
        events = sum(truth.values())
        new_flags = keys_end - keys_start
        bytes_per_event = (redis_end - redis_start) / max(new_flags, 1)
        print(
            f"soak {SOAK_SECONDS:.0f} s, {CLIENTS} client processes: {sum(statuses.values())} requests, "
            f"{events} distinct events counted exactly; server RSS {rss_start} -> {rss_end} KiB after warm-up; "
            f"Redis used_memory +{redis_end - redis_start} B for {new_flags} new keys ({bytes_per_event:.0f} B/key)"
        )
        assert rss_end - rss_start < 30 * 1024, (rss_start, rss_end)
        assert bytes_per_event < 300
    finally:
        server.terminate()
        server.wait(10)
        admin.close()


def _counts(redis_url: str) -> Counter:
    from lamed.core.settings import Settings
    from lamed.store.results import open_store

    store = open_store(Settings(redis_url=redis_url))
    counts: Counter = Counter()
    for experiment in store.results("alephbet", store.experiment_names("alephbet")):
        for (event, variant), value in experiment.totals.items():
            counts[(experiment.name, variant, event)] += value
    store.client.close()
    return counts
