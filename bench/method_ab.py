"""A method of lamed.counting.Tracker against another definition of it, in
one process: batches of 100 through ``app.handler`` on a private
redis-server, the two swapped from one batch to the next, so that the
machine's drift hits both alike.

    .venv/bin/python -m bench.method_ab _steps /tmp/old_steps.py

The file defines a function of that name; it runs in lamed.counting's
namespace (its imports and helpers are there). Prints both medians per
batch and the file's speed against the current method.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from bench.profile_track import batches
from lamed.embedded import RedisServer


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.method_ab", description=__doc__)
    parser.add_argument("method", help="a method of lamed.counting.Tracker")
    parser.add_argument("file", help="a Python file defining a function of that name")
    parser.add_argument("--batches", type=int, default=3000, help="in all, half each")
    args = parser.parse_args()
    with RedisServer() as server:
        os.environ.update(LAMED_REDIS_URL=server.url, LAMED_API_KEY="k" * 20, LAMED_CONFIG="/nonexistent")
        import app
        from lamed import counting

        namespace = dict(vars(counting))
        with open(args.file) as source:
            exec(compile(source.read(), args.file, "exec"), namespace)
        versions = {"current": getattr(counting.Tracker, args.method), args.file: namespace[args.method]}
        for event in batches(0, 20_000):  # connections, registry, caches
            app.handler(event, None)
        times: dict = {name: [] for name in versions}
        for number, event in enumerate(batches(10**6, args.batches * 100)):
            name = list(versions)[number % 2]
            setattr(counting.Tracker, args.method, versions[name])
            started = time.perf_counter_ns()
            response = app.handler(event, None)
            times[name].append(time.perf_counter_ns() - started)
            if response["statusCode"] != 200:
                raise SystemExit(f"handler answered {response['statusCode']}: {response['body']}")
    medians = {name: statistics.median(found) for name, found in times.items()}
    for name, spent in medians.items():
        print(f"{name}: {spent / 1000:.1f} µs per batch (median of {len(times[name])})")
    print(f"{args.file} runs at {medians['current'] / medians[args.file]:.3f}× the speed of the current {args.method}")


if __name__ == "__main__":
    main()
