"""Where a single GET /track spends its time: wall and CPU per event through
``app.handler`` on a private redis-server, then a cProfile of the same loop.

    .venv/bin/python -m bench.profile_track
"""

from __future__ import annotations

import cProfile
import os
import pstats
import time

from lamed.embedded import RedisServer
from lamed.gateway import proxy_event

EVENTS = 3000


def events(first: int, count: int) -> list:
    return [
        proxy_event("GET", "/track", query={"experiment": "e", "variant": "a", "event": "participate", "uuid": f"u{i}"})
        for i in range(first, first + count)
    ]


def main() -> None:
    with RedisServer() as server:
        os.environ.update(LAMED_REDIS_URL=server.url, LAMED_API_KEY="k" * 20, LAMED_CONFIG="/nonexistent")
        import app

        for event in events(0, 200):  # connection, registry, caches
            app.handler(event, None)
        batch = events(1000, EVENTS)
        wall, cpu = time.perf_counter(), time.process_time()
        for event in batch:
            app.handler(event, None)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"{EVENTS} events: {EVENTS / wall:,.0f} events/s, {wall / EVENTS * 1e6:.0f} µs wall "
              f"and {cpu / EVENTS * 1e6:.0f} µs CPU per event")  # fmt: skip
        profile = cProfile.Profile()
        batch = events(10_000, EVENTS)
        profile.enable()
        for event in batch:
            app.handler(event, None)
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    main()
