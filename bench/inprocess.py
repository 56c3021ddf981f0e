"""What the in-process bench tools share: requests shaped as the bench
driver's, ``app.handler`` on a private redis-server, and timing variants of
the code against each other batch by batch (``setting_ab``, ``method_ab``)."""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from lamed.cli.embedded import RedisServer
from lamed.web.gateway import proxy_event

BATCH = 100


def _fields(i: int) -> dict:
    """A new event, shaped as the bench driver's (bench/driver.py)."""
    variant = ("control", "treatment")[i % 2]
    return {"namespace": "alephbet", "experiment": "bench experiment", "variant": variant, "event": "participate",
            "uuid": f"0123456789ab-profile-{i}"}  # fmt: skip


def single_events(first: int, count: int) -> list:
    return [proxy_event("GET", "/track", query=_fields(i)) for i in range(first, first + count)]


def batches(first: int, count: int) -> list:
    """POST /track events of BATCH events each, ``count`` events in all."""
    return [
        proxy_event(
            "POST",
            "/track",
            headers={"content-type": "application/json"},
            body=json.dumps({"events": [_fields(j) for j in range(i, i + BATCH)]}).encode(),
        )
        for i in range(first, first + count, BATCH)
    ]


@contextmanager
def private_handler(warm_up: list) -> Iterator[tuple]:
    """(app.handler, the redis-server) after the ``warm_up`` requests have
    opened connections, registered the experiment and filled the caches."""
    with RedisServer() as server:
        os.environ.update(LAMED_REDIS_URL=server.url, LAMED_API_KEY="k" * 20, LAMED_CONFIG="/nonexistent")
        import app

        for event in warm_up:
            app.handler(event, None)
        yield app.handler, server


def alternate(handler: Callable, variants: dict, batch_count: int) -> dict:
    """Runs ``batch_count`` batches, calling the next of ``variants`` (name
    -> a function that puts that variant in place) before each; returns
    each variant's median ns per batch and how many batches it ran."""
    names = list(variants)
    times: dict = {name: [] for name in names}
    for number, event in enumerate(batches(10**6, batch_count * BATCH)):
        name = names[number % len(names)]
        variants[name]()
        started = time.perf_counter_ns()
        response = handler(event, None)
        times[name].append(time.perf_counter_ns() - started)
        if response["statusCode"] != 200:
            raise SystemExit(f"handler answered {response['statusCode']}: {response['body']}")
    return {name: (statistics.median(found), len(found)) for name, found in times.items()}
