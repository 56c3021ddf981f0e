"""One measurement in one fresh process; prints its figures as JSON.

Run by ``bench`` as a script, under our interpreter (``--impl ours``) or
Lamed 0.4.3's (``--impl lamed043``, cwd holding its config.json, its vendored
redis first on PYTHONPATH), so both are driven by the same code:

    python bench/driver.py --impl ours --redis 127.0.0.1:6390 --figure single

Events are built before the clock starts, as API Gateway builds them before
Lambda calls the handler. Standard library only (plus each side's own code).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid as uuids

from probe import RedisProbe, count_round_trips, delta

API_KEY = "bench-api-key-0123456789"
EXPERIMENT = "bench experiment"
VARIANTS = ("control", "treatment")
WARM_UP_EVENTS = 1000  # tracked before each single-event figure, in the same process
NONCE = uuids.uuid4().hex[:12]  # uuids never seen by this Redis: every event is new


# --valued: every event is a goal with a value (revenue), as a shop reports a purchase.
VALUED = {"on": False}


def event_fields(index: int, run: str, experiment: str = EXPERIMENT, event: str = "participate") -> dict:
    """A distinct event: every uuid is new, so every event is counted."""
    fields = {
        "namespace": "alephbet",
        "experiment": experiment,
        "variant": VARIANTS[index % 2],
        "event": event,
        "uuid": f"{NONCE}-{run}-{index}",
    }
    if VALUED["on"] and event == "participate":
        fields.update(event="purchase", value=(index * 7919) % 100000 / 100)  # a JSON number; text in a query
    return fields


def gateway_event(method: str, path: str, query: dict | None = None, body: bytes | None = None) -> dict:
    """An API Gateway (REST, proxy) event as Lambda hands it to ``app.handler``."""
    from lamed.web.gateway import proxy_event

    headers = {"host": "bench.example", "x-api-key": API_KEY}
    if body is not None:
        headers["content-type"] = "application/json"
    return proxy_event(method, path, query=query, headers=headers, body=body, stage="bench")


def url_event(method: str, query: dict | None = None, body: bytes | None = None) -> dict:
    """A function URL's event (payload format 2.0), as the batching adapter sends a batch."""
    from urllib.parse import urlencode

    from lamed.web.gateway import function_url_event

    headers = {"host": "bench.lambda-url.us-east-1.on.aws"}
    if body is not None:
        headers["content-type"] = "text/plain;charset=UTF-8"
    return function_url_event(method, "/track", urlencode(query or {}), headers=headers, body=body)


class Ours:
    """This project's Lambda handler, invoked in process as Lambda invokes it."""

    def __init__(self, redis_url: str, event_format: str = "rest") -> None:
        os.environ["LAMED_REDIS_URL"] = redis_url
        os.environ["LAMED_API_KEY"] = API_KEY
        import app
        from lamed.web import emf

        # The function's metrics stay on (as deployed); their EMF lines go to
        # stderr with the other log lines, so stdout keeps the driver's JSON.
        emf._print = lambda line: print(line, file=sys.stderr)
        self.handler = app.handler
        self.function_url = event_format == "function_url"

    def prepare(self, fields: dict) -> dict:
        query = {name: str(value) for name, value in fields.items()}  # a value as the query's text
        if self.function_url:
            return url_event("GET", query=query)
        return gateway_event("GET", "/track", query=query)

    def prepare_batch(self, batch: list) -> dict:
        body = json.dumps({"events": batch}).encode()
        if self.function_url:
            return url_event("POST", body=body)
        return gateway_event("POST", "/track", body=body)

    def track(self, prepared: dict) -> None:
        _expect_ok(self.handler(prepared, None))

    def all_results(self) -> dict:
        """The handler's proxy response (its body is JSON text, as Lambda returns it)."""
        return self.handler(gateway_event("GET", "/experiments", query={"namespace": "alephbet"}), None)

    def listed(self, response: dict) -> list:
        _expect_ok(response)
        return json.loads(response["body"])


class Lamed043:
    """Lamed 0.4.3's ``track``/``all`` functions: its API Gateway mapping
    template hands them the query parameters as a flat dict."""

    def __init__(self, redis_url: str) -> None:
        from lamed import lamed

        self.module = lamed

    def prepare(self, fields: dict) -> dict:
        return dict(fields)

    def track(self, prepared: dict) -> None:
        self.module.track(prepared, None)

    def all_results(self) -> list:
        return self.module.all({"namespace": "alephbet"}, None)

    def listed(self, response: list) -> list:
        return response


def _expect_ok(response: dict) -> None:
    if response["statusCode"] != 200:
        raise SystemExit(f"handler answered {response['statusCode']}: {response.get('body')}")


class Bench:
    def __init__(self, impl, probe: RedisProbe, round_trips) -> None:
        self.impl = impl
        self.probe = probe
        self.round_trips = round_trips

    def measure(self, work, events: int) -> dict:
        """Runs ``work()`` and returns its time and Redis traffic per event."""
        before, trips = self.probe.snapshot(), self.round_trips.count
        started, cpu = time.perf_counter(), time.process_time()
        work()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        change = delta(before, self.probe.snapshot())
        return {
            "seconds": seconds,
            "events_per_second": events / seconds,
            "cpu_us_per_event": cpu / events * 1e6,  # this process
            "redis_cpu_us_per_event": change["cpu_seconds"] / events * 1e6,
            "commands_per_event": change["commands"] / events,
            "round_trips_per_event": (self.round_trips.count - trips) / events,
            "connections_per_event": change["connections"] / events,
            "calls": change["calls"],
            "used_memory": change["used_memory"],
        }

    def track_all(self, prepared: list):
        track = self.impl.track

        def work() -> None:
            for item in prepared:
                track(item)

        return work

    def single(self, events: int, runs: int) -> list:
        """Steady state: a warm-up first (pool open, experiment registered)."""
        self.track_all([self.impl.prepare(event_fields(i, "warm")) for i in range(WARM_UP_EVENTS)])()
        results = []
        for run in range(runs):
            prepared = [self.impl.prepare(event_fields(i, f"single{run}")) for i in range(events)]
            results.append(self.measure(self.track_all(prepared), events))
        return results

    def batch(self, events: int, runs: int, size: int = 100) -> list:
        self.single(0, 0)
        results = []
        for run in range(runs):
            prepared = [
                self.impl.prepare_batch([event_fields(i + j, f"batch{run}") for j in range(size)])
                for i in range(0, events, size)
            ]
            results.append(self.measure(self.track_all(prepared), len(prepared) * size))
        return results

    def memory(self, events: int) -> dict:
        """Memory per counted event: distinct events into an empty Redis."""
        self.probe.flushall()
        self.single(0, 0)
        prepared = self._fill(events, "memory")
        result = self.measure(self.track_all(prepared), events)
        result["bytes_per_event"] = result["used_memory"] / events
        return result

    def _fill(self, events: int, run: str) -> list:
        fields = [event_fields(i, run) for i in range(events)]
        if hasattr(self.impl, "prepare_batch"):  # same keys as singles, just faster to load
            return [self.impl.prepare_batch(fields[i : i + 100]) for i in range(0, events, 100)]
        return [self.impl.prepare(item) for item in fields]

    def results(self, experiments: int, runs: int) -> dict:
        """Reading every experiment of a namespace, as the dashboard does."""
        self.probe.flushall()
        fields = []
        for number in range(experiments):
            name = f"experiment {number}"
            fields += [event_fields(i, f"r{number}", name) for i in range(2)]
            fields += [event_fields(i, f"r{number}", name, "signup") for i in range(2)]
        if hasattr(self.impl, "prepare_batch"):
            self.track_all([self.impl.prepare_batch(fields[i : i + 100]) for i in range(0, len(fields), 100)])()
        else:
            self.track_all([self.impl.prepare(item) for item in fields])()
        self.impl.all_results()  # steady state: ours builds its Chalice app on the first such request
        bodies: list = []
        timings = [self.measure(lambda: bodies.append(self.impl.all_results()), 1) for _ in range(runs)]
        for body in map(self.impl.listed, bodies):  # read after the clock stops: the caller's work
            found = len(body) - 1  # the first item is {"meta": ...}
            if found != experiments:
                raise SystemExit(f"results listed {found} experiments, expected {experiments}")
        self.probe.flushall()  # leaves no experiments behind to count against our per-namespace limit
        return {"runs": [{"seconds": t["seconds"], "round_trips": t["round_trips_per_event"]} for t in timings]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--impl", choices=("ours", "lamed043"), required=True)
    parser.add_argument("--redis", required=True, help="host:port of the bench's redis-server")
    parser.add_argument("--figure", choices=("single", "batch", "memory", "results"), required=True)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--track-mode", default="watch", help="ours: LAMED_TRACK_MODE (watch or lua)")
    parser.add_argument("--no-hiredis", action="store_true", help="ours: hide hiredis, as in the Lambda bundle")
    parser.add_argument("--batch-size", type=int, default=100, help="events per POST of the batch figure")
    parser.add_argument("--event-format", choices=("rest", "function_url"), default="rest", help="ours: the events")
    parser.add_argument("--valued", action="store_true", help="ours: goal events with a value (issue 23)")
    args = parser.parse_args()
    VALUED["on"] = args.valued
    os.environ["LAMED_TRACK_MODE"] = args.track_mode
    if args.no_hiredis:
        sys.modules["hiredis"] = None  # lamed.core.connection then parses replies in Python
    host, port = args.redis.split(":")
    round_trips = count_round_trips()
    probe = RedisProbe(host, int(port))
    impl = Ours(f"redis://{args.redis}/0", args.event_format) if args.impl == "ours" else Lamed043(args.redis)
    bench = Bench(impl, probe, round_trips)
    if args.figure == "single":
        output = {"runs": bench.single(args.events, args.runs), "warm_up_events": WARM_UP_EVENTS}
    elif args.figure == "batch":
        output = {"runs": bench.batch(args.events, args.runs, args.batch_size)}
    elif args.figure == "memory":
        output = bench.memory(args.events)
    else:
        output = bench.results(args.events, args.runs)
    json.dump(output, sys.stdout)


if __name__ == "__main__":
    main()
