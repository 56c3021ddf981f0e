"""Where a batch's wall time goes: medians, over many batches of 100 through
``app.handler`` on a private redis-server, of when counting starts, when
each request to Redis is sent and how long each read waits; then what
redis-server spent per event on each command (``INFO commandstats``).

    .venv/bin/python -m bench.timeline
"""

from __future__ import annotations

import statistics
import time

from bench.inprocess import batches, private_handler

BATCHES = 2000


def main() -> None:
    with private_handler(batches(0, 20_000)) as (handler, server):
        import redis

        from lamed.core import connection as resp
        from lamed.core import counting

        log: list = []
        _record(resp.Connection, "send", log)
        _record(resp.Connection, "_fill", log, "read")
        _record(counting.Tracker, "track_many", log)
        observer = redis.Redis.from_url(server.url)
        observer.config_resetstat()
        rows = []
        for event in batches(10**6, BATCHES * 100):
            log.clear()
            start = time.perf_counter_ns()
            handler(event, None)
            steps = [(name, (at - start) / 1000, spent / 1000) for name, at, spent in log]
            rows.append(sorted(steps, key=lambda step: step[1]))
            rows[-1].append(("answered", (time.perf_counter_ns() - start) / 1000, 0.0))
        shapes: dict = {}
        for row in rows:
            shapes.setdefault(tuple(name for name, _, _ in row), []).append(row)
        shape, same = max(shapes.items(), key=lambda item: len(item[1]))
        print(f"{len(same)} of {len(rows)} batches took these steps; medians, µs from the handler's start:")
        for index, name in enumerate(shape):
            at = statistics.median(row[index][1] for row in same)
            spent = statistics.median(row[index][2] for row in same)
            print(f"{at:8.1f}  {name}" + (f" ({spent:.1f} µs)" if spent else ""))
        events = BATCHES * 100
        print("redis-server, µs per event by command:")
        for name, stats in observer.info("commandstats").items():
            if stats["calls"] and not name.startswith(("cmdstat_info", "cmdstat_config")):
                print(f"  {name[len('cmdstat_') :]:10s} {stats['usec'] / events:.2f}")


def _record(owner: type, method: str, log: list, name: str | None = None) -> None:
    """Wraps ``owner.method`` to log (name, start, duration) of each call."""
    original = getattr(owner, method)

    def recorded(*args, **kwargs):
        started = time.perf_counter_ns()
        try:
            return original(*args, **kwargs)
        finally:
            log.append((name or method, started, time.perf_counter_ns() - started))

    setattr(owner, method, recorded)


if __name__ == "__main__":
    main()
