"""Where ``/track`` spends its time: wall and CPU per event through
``app.handler`` on a private redis-server, then a cProfile of the same loop.

    .venv/bin/python -m bench.profile_track            # single GET events
    .venv/bin/python -m bench.profile_track --batch    # POST batches of 100

The redis-server's own CPU time over the timed loop is printed too (from
``INFO cpu``), so the Python and Redis shares of a request can be told apart.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time

from bench.inprocess import BATCH, batches, private_handler, single_events
from lamed.cli.embedded import RedisServer

EVENTS = 3000


def _redis_cpu(server: RedisServer) -> float:
    import redis

    info = redis.Redis.from_url(server.url).info("cpu")
    return info["used_cpu_sys"] + info["used_cpu_user"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", action="store_true", help=f"POST batches of {BATCH} instead of single GETs")
    args = parser.parse_args()
    requests = batches if args.batch else single_events
    with private_handler(requests(0, 1000)) as (handler, server):
        timed = requests(100_000, EVENTS * (10 if args.batch else 1))
        count = len(timed) * (BATCH if args.batch else 1)
        redis_cpu = _redis_cpu(server)
        wall, cpu = time.perf_counter(), os.times()
        for event in timed:
            handler(event, None)
        wall, after = time.perf_counter() - wall, os.times()
        user, system = after.user - cpu.user, after.system - cpu.system
        redis_cpu = _redis_cpu(server) - redis_cpu
        print(f"{count} events: {count / wall:,.0f} events/s, per event {wall / count * 1e6:.1f} µs wall, "
              f"{user / count * 1e6:.1f} µs user and {system / count * 1e6:.1f} µs system CPU here, "
              f"{redis_cpu / count * 1e6:.1f} µs CPU in redis-server")  # fmt: skip
        profile = cProfile.Profile()
        timed = requests(1_000_000, EVENTS * (10 if args.batch else 1))
        profile.enable()
        for event in timed:
            handler(event, None)
        profile.disable()
        pstats.Stats(profile).sort_stats(os.environ.get("PROFILE_SORT", "tottime")).print_stats(25)


if __name__ == "__main__":
    main()
