"""What the function's CloudWatch metrics cost (``.venv/bin/python -m bench.metrics_cost``).

Nothing per event: one EMF line a minute per busy execution environment,
and a fixed charge per custom metric and version. This prints the line's
size (measured on lamed.web.emf's own line for a quiet minute and a busy
one), the monthly bill and what that is per million events at steady
rates, from bench/prices.json."""

from __future__ import annotations

import json
import random
import timeit
from pathlib import Path

from lamed.web import emf

PRICES = json.loads((Path(__file__).parent / "prices.json").read_text())["prices"]
MINUTES_A_MONTH = 60 * 24 * 30
RATES = (1, 10, 100)  # events per second, one busy environment (a request takes about a millisecond)


def line_bytes(requests: int) -> int:
    sizes: list[int] = []
    metrics = emf.CloudWatchMetrics(
        "lamed", "12", write=lambda line: sizes.append(len(line.encode()) + 1), clock=lambda: 1.8e9
    )
    chance = random.Random(24)
    for _ in range(requests):
        metrics.request(200, chance.lognormvariate(-6.5, 0.5))
        for _ in range(2):
            metrics.round_trip(chance.lognormvariate(-8, 0.4))
    metrics.events(
        {"counted": requests * 8 // 10, "duplicate": requests // 10, "invalid": requests - requests * 9 // 10}
    )
    metrics.flush()
    return sizes[0]


def observer_cpu_per_event() -> float:
    """µs of the function's observer for one counted single event: two round
    trips, the outcome, the request, the end of the invocation."""
    metrics = emf.CloudWatchMetrics("lamed", "12", write=lambda line: None)

    def one_event() -> None:
        metrics.round_trip(0.00021)
        metrics.round_trip(0.00034)
        metrics.events({"counted": 1})
        metrics.request(200, 0.00113)
        metrics.invoked()

    return min(timeit.repeat(one_event, number=100_000, repeat=5)) / 100_000 * 1e6


def main() -> None:
    metric_month = PRICES["cloudwatch_custom_metric_month"]["usd"]
    per_gb = PRICES["logs_ingestion_per_gb"]["usd"]
    declared = len(emf.COUNT_METRICS) + len(emf.DURATION_METRICS)
    quiet, busy = line_bytes(1), line_bytes(6000)
    logs_month = busy * MINUTES_A_MONTH / 1e9 * per_gb
    fixed = declared * metric_month
    print(f"EMF line: {quiet} bytes (a quiet minute), {busy} bytes (a busy one); at most one a minute per environment")
    print(f"metrics: {declared} per version x ${metric_month:.2f} a month = ${fixed:.2f} a month per version published")
    print(f"log lines: ${logs_month:.4f} a month per environment busy every minute (${per_gb:.2f}/GB)")
    print(f"CPU: {observer_cpu_per_event():.2f} µs of the observer per single event (best of 5 x 100,000)")
    print("per million events, one version, one environment busy every minute of a 30-day month:")
    for rate in RATES:
        millions = rate * 60 * MINUTES_A_MONTH / 1e6
        print(
            f"  {rate:>4} events/s ({millions:,.1f} M a month): ${(fixed + logs_month) / millions:.4f} per million "
            f"(metrics ${fixed / millions:.4f}, log lines ${logs_month / millions:.5f}); per extra event: $0"
        )


if __name__ == "__main__":
    main()
