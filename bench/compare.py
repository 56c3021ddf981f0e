"""Two checkouts side by side: is a change faster, beyond this machine's noise?

    .venv/bin/python -m bench.compare --figure batch /path/to/before /path/to/after

Runs fresh driver processes of each checkout (``bench/driver.py``, ``--impl
ours``) against one private redis-server, in pairs whose order alternates
(before-after, after-before, ...), so drift on a shared machine hits both
alike. Prints per checkout the median events/s and the median CPU µs per
event of the driver process and of redis-server, then the median of the
pairs' ratios (after / before) with their quartiles: a change whose
quartiles straddle 1.00 is within the noise. ``git worktree add
/tmp/before HEAD~1`` makes a checkout to compare with.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from bench.report import median
from lamed.cli.embedded import RedisServer


def drive(tree: Path, port: int, figure: str, events: int, runs: int) -> list:
    command = [sys.executable, str(tree / "bench" / "driver.py"), "--impl", "ours", "--redis", f"127.0.0.1:{port}"]
    command += ["--figure", figure, "--events", str(events), "--runs", str(runs)]
    done = subprocess.run(command, cwd=tree, env={"PYTHONPATH": str(tree)}, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)["runs"]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("trees", nargs=2, type=Path, help="two checkouts: before and after")
    parser.add_argument("--figure", choices=("single", "batch"), default="batch")
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--runs", type=int, default=3, help="runs per driver process")
    parser.add_argument("--rounds", type=int, default=10, help="pairs of driver processes")
    args = parser.parse_args()
    before, after = args.trees
    found: dict = {before: [], after: []}
    ratios = []
    with RedisServer() as server:
        for round_number in range(args.rounds):
            rates = {}
            for tree in (before, after) if round_number % 2 == 0 else (after, before):
                runs = drive(tree.resolve(), server.port, args.figure, args.events, args.runs)
                found[tree] += runs
                rates[tree] = median(run["events_per_second"] for run in runs)
            ratios.append(rates[after] / rates[before])
    for tree, runs in found.items():
        rate = median(run["events_per_second"] for run in runs)
        cpu = median(run["cpu_us_per_event"] for run in runs)
        redis_cpu = median(run["redis_cpu_us_per_event"] for run in runs)
        print(
            f"{tree}: {rate:,.0f} events/s; per event {cpu:.2f} µs CPU in the driver, "
            f"{redis_cpu:.2f} µs in redis-server (medians of {len(runs)} runs)"
        )
    low, middle, high = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    print(f"after / before: {median(ratios):.2f}× (median of {len(ratios)} pairs; quartiles {low:.2f}–{high:.2f})")


if __name__ == "__main__":
    main()
