"""Two checkouts side by side: is a change faster, beyond this machine's noise?

    .venv/bin/python -m bench.compare --figure batch /path/to/before /path/to/after

Alternates fresh driver processes of each checkout (``bench/driver.py``,
``--impl ours``) against one private redis-server, and prints per checkout
the median events/s and the median CPU µs per event of the driver process
and of redis-server, over every run of every round, then the ratio of the
median rates.
``git worktree add /tmp/before HEAD~1`` makes a checkout to compare with.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from bench.report import median
from lamed.embedded import RedisServer

ROOT = Path(__file__).resolve().parent.parent


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
    parser.add_argument("--rounds", type=int, default=6, help="driver processes per checkout, alternating")
    args = parser.parse_args()
    found: dict = {tree: [] for tree in args.trees}
    with RedisServer() as server:
        for _ in range(args.rounds):
            for tree in args.trees:
                found[tree] += drive(tree.resolve(), server.port, args.figure, args.events, args.runs)
    rates = {tree: median(run["events_per_second"] for run in runs) for tree, runs in found.items()}
    for tree, runs in found.items():
        cpu = median(run["cpu_us_per_event"] for run in runs)
        redis_cpu = median(run["redis_cpu_us_per_event"] for run in runs)
        print(
            f"{tree}: {rates[tree]:,.0f} events/s; per event {cpu:.2f} µs CPU in the driver, "
            f"{redis_cpu:.2f} µs in redis-server (medians of {len(runs)} runs)"
        )
    before, after = args.trees
    print(f"after / before: {rates[after] / rates[before]:.2f}×")


if __name__ == "__main__":
    main()
