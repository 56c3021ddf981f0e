"""A tracker setting compared with itself, in one process: batches of 100
through ``app.handler`` on a private redis-server, the setting changed from
one batch to the next, so that the machine's drift hits every value alike.

    .venv/bin/python -m bench.setting_ab transaction_events 50 25 100
    .venv/bin/python -m bench.setting_ab side_by_side 4 1

Prints each value's median time per batch, and its speed against the first.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from bench.profile_track import batches
from lamed.embedded import RedisServer


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.setting_ab", description=__doc__)
    parser.add_argument("setting", help="an attribute of lamed.counting.Tracker")
    parser.add_argument("values", nargs="+", type=int)
    parser.add_argument("--batches", type=int, default=3000, help="in all, shared among the values")
    args = parser.parse_args()
    with RedisServer() as server:
        os.environ.update(LAMED_REDIS_URL=server.url, LAMED_API_KEY="k" * 20, LAMED_CONFIG="/nonexistent")
        import app
        from lamed import runtime

        tracker = runtime.tracker()
        for event in batches(0, 20_000):  # connections, registry, caches
            app.handler(event, None)
        times: dict = {value: [] for value in args.values}
        for number, event in enumerate(batches(10**6, args.batches * 100)):
            value = args.values[number % len(args.values)]
            setattr(tracker, args.setting, value)
            started = time.perf_counter_ns()
            response = app.handler(event, None)
            times[value].append(time.perf_counter_ns() - started)
            if response["statusCode"] != 200:
                raise SystemExit(f"handler answered {response['statusCode']}: {response['body']}")
    first = statistics.median(times[args.values[0]])
    for value, found in times.items():
        spent = statistics.median(found)
        print(f"{args.setting}={value}: {spent / 1000:.1f} µs per batch (median of {len(found)}), "
              f"{first / spent:.3f}× the speed of {args.values[0]}")  # fmt: skip


if __name__ == "__main__":
    main()
