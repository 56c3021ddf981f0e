"""Runs every figure, ours beside Lamed 0.4.3, on one redis-server it starts,
and prints the markdown table (``.venv/bin/python -m bench``)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from bench import coldstart, http_load, legacy, machine
from bench.report import Row, machine_line, median, number, ratio, table
from lamed.cli.embedded import RedisServer
from lamed.web.gateway import proxy_event

ROOT = Path(__file__).resolve().parent.parent
FIRST_EVENT = {"namespace": "alephbet", "experiment": "cold start", "variant": "a", "event": "participate"}
DRIVER = ROOT / "bench" / "driver.py"
# A batch run tracks this many times the events of a single-event run: about
# a quarter of the time of the Lamed run beside it, long enough that a
# scheduler hiccup of a few ms does not decide the round.
BATCH_EVENTS_PER_SINGLE = 10
# The floors of the 2.0 core (CHANGES.md): batches give back part of 1.x's 45-97x for plainer code.
BATCH_FLOOR = 30


@dataclass
class Side:
    impl: str
    python: Path
    cwd: Path
    env: dict
    import_statement: str
    first_event_statement: str
    first_event: Callable  # uuid -> the event first_event_statement tracks

    def drive(self, redis_port: int, figure: str, events: int, runs: int = 1, extra: tuple = ()) -> dict:
        command = [str(self.python), str(DRIVER), "--impl", self.impl, "--redis", f"127.0.0.1:{redis_port}"]
        command += ["--figure", figure, "--events", str(events), "--runs", str(runs), *extra]
        # stderr to a file: Lamed 0.4.3 logs three lines per event (CloudWatch's job on Lambda);
        # its tail is shown if a driver fails.
        with tempfile.TemporaryFile("w+") as errors:
            done = subprocess.run(command, cwd=self.cwd, env=self.env, stdout=subprocess.PIPE, stderr=errors, text=True)
            errors.seek(0, os.SEEK_END)
            stderr_bytes = errors.tell()
            if done.returncode:
                errors.seek(max(0, stderr_bytes - 3000))
                raise SystemExit(f"bench: {self.impl} {figure} failed:\n{errors.read()}")
        return {**json.loads(done.stdout), "stderr_bytes": stderr_bytes}  # bench.cost: the log lines written


def sides(redis_port: int) -> tuple:
    base_env = {name: value for name, value in os.environ.items() if not name.startswith(("LAMED_", "PYTHON"))}
    ours_env = {**base_env, "PYTHONPATH": str(ROOT), "BENCH_PATH": str(ROOT)}
    ours_env["LAMED_REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"  # the driver sets its own
    ours = Side(
        "ours",
        ROOT / ".venv" / "bin" / "python",
        ROOT,
        ours_env,
        "import app",
        "import app\nassert app.handler(EVENT, None)['statusCode'] == 200",
        lambda uuid: proxy_event("GET", "/track", query={**FIRST_EVENT, "uuid": uuid}),
    )
    old = legacy.prepare("127.0.0.1", redis_port)
    lamed = Side(
        "lamed043",
        old.python,
        old.workdir,
        old.environment(base_env),
        "from lamed import lamed",
        "from lamed import lamed\nlamed.track(EVENT, None)",
        lambda uuid: {**FIRST_EVENT, "uuid": uuid},
    )
    return ours, lamed


@dataclass
class Options:
    rounds: int
    events: int
    memory_events: int
    experiments: int
    cold_runs: int
    http_seconds: int
    skip_http: bool


def single_event_rows(ours: Side, lamed: Side, port: int, options: Options) -> tuple:
    """Alternates fresh processes of each side, so drift on a shared machine
    hits both alike; the median over rounds is reported."""
    variants = {"lua": ("--track-mode", "lua"), "python": ("--no-hiredis",)}
    runs: dict = {"ours": [], "lamed043": [], **{name: [] for name in variants}}
    for _ in range(options.rounds):
        for side in (ours, lamed):
            runs[side.impl].append(side.drive(port, "single", options.events)["runs"][0])
        for name, extra in variants.items():
            runs[name].append(ours.drive(port, "single", options.events, extra=extra)["runs"][0])
    o_rate = median(r["events_per_second"] for r in runs["ours"])
    l_rate = median(r["events_per_second"] for r in runs["lamed043"])
    lua = {key: median(r[key] for r in runs["lua"]) for key in runs["lua"][0] if key != "calls"}
    python_rate = median(r["events_per_second"] for r in runs["python"])

    def per_event(key: str, digits: int, target: str, limit: float) -> Row:
        o_value = median(r[key] for r in runs["ours"])
        l_value = median(r[key] for r in runs["lamed043"])
        return Row(
            key.replace("_", " "), number(l_value, digits), number(o_value, digits), "", target, o_value <= limit
        )

    where = f"median of {options.rounds} processes × {options.events:,} new events"
    rows = [
        Row(
            f"single-event track, events/s, `app.handler` in process ({where})",
            number(l_rate),
            number(o_rate),
            ratio(o_rate, l_rate),
            "≥ 3× Lamed",
            o_rate >= 3 * l_rate,
        ),
        Row(
            "the same with the Python reply parser "
            "(no hiredis: as in a Lambda bundle deployed from other than Linux x86_64)",
            number(l_rate),
            number(python_rate),
            ratio(python_rate, l_rate),
            "≥ 3× Lamed",
            python_rate >= 3 * l_rate,
        ),
        Row(
            "optional `track_mode=lua` (not the default): events/s; commands / round trips per event",
            number(l_rate),
            f"{number(lua['events_per_second'])}; {lua['commands_per_event']:.1f} / {lua['round_trips_per_event']:.1f}",
            ratio(lua["events_per_second"], l_rate),
            "",
            None,
        ),
        per_event("commands_per_event", 1, "≤ 6", 6),
        per_event("round_trips_per_event", 1, "≤ 2", 2),
        per_event("connections_per_event", 2, "0", 0),
    ]
    return rows, l_rate, runs


def batch_rows(ours: Side, lamed: Side, port: int, options: Options) -> list:
    """Batches are CPU-bound, Lamed's single events wait on Redis: a slow
    spell of a shared machine hits them differently. So each round runs
    Lamed's single events beside our batches, and the ratio is the median of
    the rounds' ratios, each taken under the same conditions."""
    parsers = {"": (), " with the Python reply parser (no hiredis)": ("--no-hiredis",)}
    lamed_runs: list = []
    runs: dict = {name: [] for name in parsers}
    for _ in range(options.rounds):
        lamed_runs.append(lamed.drive(port, "single", options.events)["runs"][0])
        for name, extra in parsers.items():
            runs[name].append(ours.drive(port, "batch", options.events * BATCH_EVENTS_PER_SINGLE, 1, extra)["runs"][0])
    lamed_rates = [r["events_per_second"] for r in lamed_runs]
    rows = []
    for name, found in runs.items():
        rates = [r["events_per_second"] for r in found]
        ratios = [rate / lamed_rate for rate, lamed_rate in zip(rates, lamed_rates)]
        rows.append(
            Row(
                f"batch of 100 events, POST /track{name}, events/s (median of {options.rounds} runs, "
                f"each beside a run of Lamed's single events)",
                number(median(lamed_rates)),
                number(median(rates)),
                f"{median(ratios):.1f}× Lamed single",
                f"≥ {BATCH_FLOOR}× Lamed single",
                median(ratios) >= BATCH_FLOOR,
            )
        )
        if not name:
            commands = median(r["commands_per_event"] for r in found)
            trips = median(r["round_trips_per_event"] for r in found)
            cost = f"{commands:.2f} / {trips:.3f}"
            rows.append(Row("batch: commands / round trips per event", "n/a", cost, "", "", None))
    return rows


def memory_row(ours: Side, lamed: Side, port: int, options: Options) -> Row:
    o_bytes = ours.drive(port, "memory", options.memory_events)["bytes_per_event"]
    l_bytes = lamed.drive(port, "memory", options.memory_events)["bytes_per_event"]
    over = f"`used_memory` delta over {options.memory_events:,} events, 24 h expiry"
    figure = f"Redis memory per counted event, bytes ({over})"
    return Row(figure, number(l_bytes), number(o_bytes), ratio(o_bytes, l_bytes, 2), "< Lamed", o_bytes < l_bytes)


def results_rows(ours: Side, lamed: Side, port: int, options: Options) -> list:
    count = options.experiments
    o_runs = ours.drive(port, "results", count, options.rounds)["runs"]
    l_runs = lamed.drive(port, "results", count, options.rounds)["runs"]
    o_trips, l_trips = median(r["round_trips"] for r in o_runs), median(r["round_trips"] for r in l_runs)
    o_ms = median(r["seconds"] for r in o_runs) * 1000
    l_ms = median(r["seconds"] for r in l_runs) * 1000
    return [
        Row(
            f"results for {count:,} experiments: round trips (ours `GET /experiments`, Lamed `all`)",
            number(l_trips),
            number(o_trips),
            "",
            "constant",
            o_trips <= 3,
        ),
        Row(
            f"results for {count:,} experiments: ms (median of {options.rounds})",
            number(l_ms, 1),
            number(o_ms, 1),
            f"{ratio(l_ms, o_ms)} faster",
            "≥ 10× faster",
            l_ms >= 10 * o_ms,
        ),
    ]


def cold_start_rows(ours: Side, lamed: Side, options: Options) -> tuple:
    ways = {
        "import of the track path, fresh interpreter in its virtualenv": (False, False),
        "import of the track path, fresh interpreter as on Lambda (`python -I -S`, only the bundle's paths)": (
            True,
            False,
        ),
        "import and first tracked event (connect included), as on Lambda": (True, True),
    }
    rows, heavy = [], None
    for way, (lambda_like, first_event) in ways.items():
        times = [
            coldstart.import_times(
                side.python,
                side.first_event_statement if first_event else side.import_statement,
                side.cwd,
                side.env,
                options.cold_runs,
                lambda_like,
                side.first_event if first_event else None,
            )
            for side in (ours, lamed)
        ]
        o_ms, l_ms = (median(found["seconds"]) * 1000 for found in times)
        figure = f"cold start: {way}, ms (median of {options.cold_runs})"
        met = o_ms <= l_ms / 2
        rows.append(Row(figure, number(l_ms, 1), number(o_ms, 1), ratio(o_ms, l_ms, 2), "≤ 0.5× Lamed", met))
        heavy = times[0]["heavy"]  # the last way imports the most: import and first event
    return rows, coldstart.heavy_note(heavy)


def http_rows(redis_url: str, options: Options) -> tuple:
    missing = http_load.wrk_missing()
    if missing or options.skip_http:
        return [], [missing or "HTTP ingest skipped (--skip-http)"]
    from lamed.core.settings import Settings
    from lamed.store.results import open_store

    store = open_store(Settings(redis_url=redis_url))
    rows, notes = [], []
    for workers in sorted({os.cpu_count() or 2, 1}, reverse=True):
        load = http_load.run(redis_url, store, workers, options.http_seconds)
        server = f"{workers} waitress processes under gunicorn" if workers > 1 else "waitress, 1 process"
        rows.append(
            Row(
                f"HTTP ingest, `lamed serve --workers {workers}` ({server}), wrk 2 threads × 32 connections, "
                f"{options.http_seconds} s: requests/s, p50 / p99 ms",
                "n/a",
                f"{number(load['requests_per_second'])}, {load['p50_ms']:.2f} / {load['p99_ms']:.2f}",
                "",
                "report",
                None,
            )
        )
        notes.append(
            f"--workers {workers}: {load['ok']:,.0f} answered 200, {load['counted']:,} counted in Redis "
            f"(requests still in flight when wrk stops are counted but not seen by wrk)"
        )
    store.client.close()
    return rows, notes


def parse_options(argv: Optional[list]) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller runs, for trying the suite out")
    parser.add_argument("--skip-http", action="store_true", help="leave out the wrk figures")
    args = parser.parse_args(argv)
    quick = args.quick
    return Options(
        rounds=3 if quick else 7,
        events=1000 if quick else 3000,
        memory_events=10_000 if quick else 100_000,
        experiments=1000,
        cold_runs=5 if quick else 15,
        http_seconds=3 if quick else 10,
        skip_http=args.skip_http,
    )


def main(argv: Optional[list] = None) -> None:
    options = parse_options(argv)
    described = machine.describe()
    with RedisServer() as redis_server:
        ours, lamed = sides(redis_server.port)
        port = redis_server.port
        try:
            rows = single_event_rows(ours, lamed, port, options)[0]
            rows += batch_rows(ours, lamed, port, options)
            rows.append(memory_row(ours, lamed, port, options))
            rows += results_rows(ours, lamed, port, options)
            cold_rows, heavy = cold_start_rows(ours, lamed, options)
            rows += cold_rows
            web_rows, notes = http_rows(redis_server.url, options)
            rows += web_rows
        finally:
            shutil.rmtree(lamed.cwd, ignore_errors=True)  # the temporary directory with Lamed's config.json
    print(table(rows))
    print()
    print(machine_line(described))
    print(f"Our track path {heavy}. " + " ".join(notes))
    sys.stdout.flush()
