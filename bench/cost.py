"""The bill per million tracked events, ours beside Lamed 0.4.3's deployment
shape, from figures measured in this run and the prices in bench/prices.json:

    .venv/bin/python -m bench.cost            # or --quick; --rtt-ms for another VPC round trip

Lambda bills each request, and its duration in 1 ms steps times the memory
configured. The duration is computed, not measured on Lambda: the handler's
CPU time per event, measured here in process (``bench/driver.py``, the
median of the rounds), scaled by the CPU share Lambda gives the configured
memory (1,769 MB is one vCPU, so 256 MB gets 14.5% of one), plus the
request's Redis round trips and new connections times a stated VPC round
trip. Assumed, and said in the output: a Lambda vCPU (x86_64 or Graviton) as
fast as one core of this machine; the runtime's own work per invocation
(reading the event, writing the answer) left out, for both sides alike.

Logs: Lamed 0.4.3's function writes Lambda's START, END and REPORT lines
(text format) and its own log lines (measured: the bytes its driver writes
to stderr per event); ours is deployed with JSON logs at level WARN
(``LOGGING_CONFIG`` in lamed/deploy/plan.py), so an event that went well
writes nothing (measured the same way: our driver's stderr).

Redis: the memory a counted event holds (measured: ``used_memory`` delta)
times events per second times ``uuid_expiry_seconds``, on the smallest
ElastiCache node and on ElastiCache Serverless; and what a flood costs at the
bound the deployment puts on it (reserved concurrency).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from bench.report import median, number
from bench.run import sides
from lamed.cli.embedded import RedisServer
from lamed.core.settings import DEFAULTS, NEW_FUNCTION_ARCHITECTURE
from lamed.deploy.plan import DeployPlan

PRICES = Path(__file__).resolve().parent / "prices.json"
ONE_VCPU_MB = 1769  # Lambda gives one full vCPU at this much memory, a share of one below it
DEFAULT_RTT_MS = 0.5  # a round trip to ElastiCache in the function's VPC, same region (stated, not measured)
GIB = 2**30
HOURS_PER_MONTH = 730
# ElastiCache keeps 25% of a node's memory for itself by default (reserved-memory-percent).
NODE_USABLE_SHARE = 0.75
REDIS_RATES = (10, 100, 1000)  # events per second
OUR_MEMORY_MB = DeployPlan.__dataclass_fields__["memory_mb"].default
REQUEST_ID = "6f7c2a4e-7b1d-4c52-9a77-3f0f6b1c2d3e"
# Lambda's own lines per invocation in the text log format (what Lamed 0.4.3's function writes).
PLATFORM_LINES = (
    f"START RequestId: {REQUEST_ID} Version: $LATEST\n"
    f"END RequestId: {REQUEST_ID}\n"
    f"REPORT RequestId: {REQUEST_ID}\tDuration: 18.72 ms\tBilled Duration: 19 ms\tMemory Size: 128 MB\t"
    "Max Memory Used: 52 MB\t\n"
)


@dataclass(frozen=True)
class Shape:
    """One way of carrying events to Redis, and its measured work."""

    name: str
    front_door: str  # a key of prices.json
    architecture: str
    memory_mb: int
    events_per_request: int
    cpu_us_per_event: float
    trips_per_event: float  # Redis round trips and new connections (a TCP handshake is one round trip)
    log_bytes_per_request: float
    target: str = ""
    limit: Optional[float] = None  # $ per million events

    def billed_ms(self, rtt_ms: float) -> int:
        cpu_ms = self.cpu_us_per_event * self.events_per_request / 1000 * ONE_VCPU_MB / self.memory_mb
        waiting_ms = self.trips_per_event * self.events_per_request * rtt_ms
        return max(1, math.ceil(cpu_ms + waiting_ms))

    def bill(self, prices: dict, rtt_ms: float) -> dict:
        """Dollars per million events, by part."""
        requests = 1e6 / self.events_per_request
        gb_seconds = requests * self.billed_ms(rtt_ms) / 1000 * self.memory_mb / 1024
        parts = {
            "front door": requests / 1e6 * usd(prices, self.front_door),
            "Lambda requests": requests / 1e6 * usd(prices, "lambda_per_million_requests"),
            "Lambda duration": gb_seconds * usd(prices, f"lambda_gb_second_{self.architecture}"),
            "logs": requests * self.log_bytes_per_request / GIB * usd(prices, "logs_ingestion_per_gb"),
        }
        return {**parts, "total": sum(parts.values())}


def usd(prices: dict, name: str) -> float:
    return float(prices["prices"][name]["usd"])


def measure(rounds: int, events: int, memory_events: int) -> dict:
    """Median figures per way of tracking, each round in fresh processes."""
    ways = {
        "lamed043": ("lamed", "single", ()),
        "rest": ("ours", "single", ()),
        "url": ("ours", "single", ("--event-format", "function_url")),
        "batch10": ("ours", "batch", ("--event-format", "function_url", "--batch-size", "10")),
        "batch100": ("ours", "batch", ("--event-format", "function_url", "--batch-size", "100")),
    }
    found: dict = {name: [] for name in ways}
    with RedisServer() as redis_server:
        ours, lamed = sides(redis_server.port)
        by_side = {"ours": ours, "lamed": lamed}
        try:
            for _ in range(rounds):
                for name, (side, figure, extra) in ways.items():
                    size = events * (10 if figure == "batch" else 1)
                    output = by_side[side].drive(redis_server.port, figure, size, 1, extra)
                    tracked = size + output.get("warm_up_events", 0)
                    found[name].append({**output["runs"][0], "log_bytes_per_event": output["stderr_bytes"] / tracked})
            memory = ours.drive(redis_server.port, "memory", memory_events)
        finally:
            shutil.rmtree(lamed.cwd, ignore_errors=True)
    figures = {
        name: {key: median(run[key] for run in runs) for key in runs[0] if isinstance(runs[0][key], (int, float))}
        for name, runs in found.items()
    }
    figures["memory"] = memory
    return figures


def shapes(figures: dict) -> list[Shape]:
    def work(name: str) -> dict:
        found = figures[name]
        return {
            "cpu_us_per_event": found["cpu_us_per_event"],
            "trips_per_event": found["round_trips_per_event"] + found["connections_per_event"],
        }

    def ours_logs(name: str, size: int) -> float:
        return figures[name]["log_bytes_per_event"] * size  # nothing from Lambda itself at level WARN

    lamed_logs = len(PLATFORM_LINES.encode()) + figures["lamed043"]["log_bytes_per_event"]
    arch, memory = NEW_FUNCTION_ARCHITECTURE, OUR_MEMORY_MB
    return [
        Shape("Lamed 0.4.3: REST API, x86_64, 128 MB, a connection per event", "rest_api_per_million_requests",
              "x86_64", 128, 1, log_bytes_per_request=lamed_logs, **work("lamed043")),
        Shape(f"ours, single events on the REST API ({arch}, {memory} MB)", "rest_api_per_million_requests",
              arch, memory, 1, log_bytes_per_request=ours_logs("rest", 1), **work("rest")),
        Shape(f"ours, single events on the function URL ({arch}, {memory} MB)", "function_url_per_million_requests",
              arch, memory, 1, log_bytes_per_request=ours_logs("url", 1), target="≤ $0.25 and ≥ 15× cheaper",
              limit=0.25, **work("url")),
        Shape("ours, the batching adapter, 10 events a request, function URL", "function_url_per_million_requests",
              arch, memory, 10, log_bytes_per_request=ours_logs("batch10", 10), target="≤ $0.05", limit=0.05,
              **work("batch10")),
        Shape("ours, the batching adapter, 100 events a request, function URL", "function_url_per_million_requests",
              arch, memory, 100, log_bytes_per_request=ours_logs("batch100", 100), **work("batch100")),
    ]  # fmt: skip


def bill_table(rows: list[Shape], prices: dict, rtt_ms: float) -> list[str]:
    base = rows[0].bill(prices, rtt_ms)["total"]
    lines = [
        "| $ per million events | requests | billed ms / request | front door | Lambda requests | Lambda duration "
        "| logs (bytes / request) | total | Lamed 0.4.3 / this | target | met |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for row in rows:
        bill = row.bill(prices, rtt_ms)
        met = "" if row.limit is None else ("yes" if _met(row, bill["total"], base) else "**no**")
        lines.append(
            f"| {row.name} | {number(1e6 / row.events_per_request)} | {row.billed_ms(rtt_ms)} "
            f"| {bill['front door']:.4f} | {bill['Lambda requests']:.4f} | {bill['Lambda duration']:.4f} "
            f"| {bill['logs']:.4f} ({number(row.log_bytes_per_request)}) | **{bill['total']:.4f}** "
            f"| {base / bill['total']:.1f}× | {row.target} | {met} |"
        )
    return lines


def _met(row: Shape, total: float, base: float) -> bool:
    cheaper_enough = "15×" not in row.target or base / total >= 15
    return row.limit is not None and total <= row.limit and cheaper_enough


def redis_table(figures: dict, prices: dict) -> list[str]:
    bytes_per_event = figures["memory"]["bytes_per_event"]
    commands = figures["url"]["commands_per_event"]
    expiry = DEFAULTS.uuid_expiry_seconds
    node = prices["prices"]["elasticache_smallest_node_hour"]
    usable_gib = node["memory_gib"] * NODE_USABLE_SHARE
    serverless = prices["prices"]["elasticache_serverless_gb_hour"]
    lines = [
        f"| Redis, per month (uuid_expiry_seconds {expiry:,}, {bytes_per_event:.0f} bytes per counted event, "
        f"{commands:.0f} commands per event) | memory held | {node['node']} ({usable_gib:.3g} GiB usable) "
        "| ElastiCache Serverless: data | ECPUs | Serverless total | Serverless $ per million events |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    seconds_per_month = HOURS_PER_MONTH * 3600
    for rate in REDIS_RATES:
        held_gib = rate * expiry * bytes_per_event / GIB
        fits = held_gib <= usable_gib
        node_cell = f"${node['usd'] * HOURS_PER_MONTH:.2f}" if fits else f"does not fit ({held_gib:.2f} GiB)"
        data = max(held_gib, serverless["minimum_gb"]) * serverless["usd"] * HOURS_PER_MONTH
        ecpus = rate * seconds_per_month * commands / 1e6 * usd(prices, "elasticache_serverless_per_million_ecpu")
        per_million = (data + ecpus) / (rate * seconds_per_month / 1e6)
        lines.append(
            f"| {rate:,} events/s | {held_gib:.3f} GiB | {node_cell} | ${data:.2f} | ${ecpus:.2f} "
            f"| ${data + ecpus:.2f} | ${per_million:.4f} |"
        )
    return lines


def flood_lines(rows: list[Shape], prices: dict, rtt_ms: float) -> list[str]:
    """The most a flood of single events can cost per hour at the bounds the
    deployment sets: reserved concurrency on the function URL, stage
    throttling on the REST API."""
    url = rows[2]
    concurrency = DEFAULTS.reserved_concurrency
    lines = []
    for ms in (url.billed_ms(rtt_ms), 1):
        rate = concurrency * 1000 / ms
        floor = replace_ms(url, ms)
        cost = rate * 3600 * floor.bill(prices, rtt_ms)["total"] / 1e6
        lines.append(
            f"Flood at reserved_concurrency {concurrency}, {ms} ms a request"
            f"{' (measured here)' if ms != 1 else ' (Lambda floor: the worst case)'}: "
            f"at most {number(rate)} requests/s, ${cost:.2f} an hour"
        )
    throttle = DEFAULTS.track_rate_limit
    rest = rows[1]
    lines.append(
        f"Flood on the REST API at its stage throttling of {throttle:g} requests/s: "
        f"${throttle * 3600 * rest.bill(prices, rtt_ms)['total'] / 1e6:.2f} an hour"
    )
    return lines


def replace_ms(shape: Shape, billed_ms: int) -> Shape:
    """The shape with its work set so that a request bills ``billed_ms``."""
    from dataclasses import replace

    cpu_us = billed_ms * 1000 * shape.memory_mb / ONE_VCPU_MB / shape.events_per_request
    return replace(shape, cpu_us_per_event=cpu_us * 0.999, trips_per_event=0)


def main(argv: Optional[list] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs")
    parser.add_argument("--rtt-ms", type=float, default=DEFAULT_RTT_MS, help="VPC round trip to Redis, ms")
    args = parser.parse_args(argv)
    prices = json.loads(PRICES.read_text())
    rounds, events, memory_events = (3, 1000, 20_000) if args.quick else (5, 3000, 100_000)
    figures = measure(rounds, events, memory_events)
    rows = shapes(figures)
    print("\n".join(bill_table(rows, prices, args.rtt_ms)))
    print()
    print("\n".join(redis_table(figures, prices)))
    print()
    print("\n".join(flood_lines(rows, prices, args.rtt_ms)))
    cpu = ", ".join(f"{name} {figures[name]['cpu_us_per_event']:.0f}" for name in ("lamed043", "rest", "url"))
    unconfirmed = [name for name, price in prices["prices"].items() if not price.get("confirmed")]
    print(
        f"\nMeasured CPU per event, µs (median of {rounds} rounds): {cpu}; batches of 10: "
        f"{figures['batch10']['cpu_us_per_event']:.0f}, of 100: {figures['batch100']['cpu_us_per_event']:.0f}. "
        f"VPC round trip {args.rtt_ms:g} ms (stated). A Lambda vCPU assumed as fast as a core here. "
        f"Prices: {prices['region']}, {prices['date']}, bench/prices.json"
        + (f" (not confirmed by a stored page: {', '.join(unconfirmed)})" if unconfirmed else "")
        + "."
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
