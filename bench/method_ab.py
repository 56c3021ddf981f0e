"""A method of lamed.core.counting.Tracker against another definition of it, in
one process: batches of 100 through ``app.handler`` on a private
redis-server, the two swapped from one batch to the next, so that the
machine's drift hits both alike.

    .venv/bin/python -m bench.method_ab _attempt /tmp/old_attempt.py

The file defines a function of that name; it runs in lamed.core.counting's
namespace (its imports and helpers are there). Prints both medians per
batch and the file's speed against the current method.
"""

from __future__ import annotations

import argparse
from functools import partial

from bench.inprocess import alternate, batches, private_handler


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.method_ab", description=__doc__)
    parser.add_argument("method", help="a method of lamed.core.counting.Tracker")
    parser.add_argument("file", help="a Python file defining a function of that name")
    parser.add_argument("--batches", type=int, default=3000, help="in all, half each")
    args = parser.parse_args()
    with private_handler(batches(0, 20_000)) as (handler, _):
        from lamed.core import counting

        namespace = dict(vars(counting))
        with open(args.file) as source:
            exec(compile(source.read(), args.file, "exec"), namespace)
        versions = {"current": getattr(counting.Tracker, args.method), args.file: namespace[args.method]}
        variants = {name: partial(setattr, counting.Tracker, args.method, method) for name, method in versions.items()}
        found = alternate(handler, variants, args.batches)
    for name, (spent, count) in found.items():
        print(f"{name}: {spent / 1000:.1f} µs per batch (median of {count})")
    speed = found["current"][0] / found[args.file][0]
    print(f"{args.file} runs at {speed:.3f}× the speed of the current {args.method}")


if __name__ == "__main__":
    main()
