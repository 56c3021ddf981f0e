"""A counting setting compared with itself, in one process: batches of 100
through ``app.handler`` on a private redis-server, the setting changed from
one batch to the next, so that the machine's drift hits every value alike.
The setting is a constant of ``lamed.core.counting`` or a field of the
tracker's ``Settings``.

    .venv/bin/python -m bench.setting_ab TRANSACTION_EVENTS 100 50 25
    .venv/bin/python -m bench.setting_ab watch_retries 5 1

Prints each value's median time per batch, and its speed against the first.
"""

from __future__ import annotations

import argparse
from functools import partial

from bench.inprocess import alternate, batches, private_handler


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.setting_ab", description=__doc__)
    parser.add_argument("setting", help="a constant of lamed.core.counting or a Settings field")
    parser.add_argument("values", nargs="+", type=int)
    parser.add_argument("--batches", type=int, default=3000, help="in all, shared among the values")
    args = parser.parse_args()
    with private_handler(batches(0, 20_000)) as (handler, _):
        from lamed.core import counting
        from lamed.web import runtime

        tracker = runtime.tracker()

        def use(value: int) -> None:
            if hasattr(counting, args.setting):
                setattr(counting, args.setting, value)
            else:
                tracker.settings = tracker.settings.replace(**{args.setting: value})

        variants = {value: partial(use, value) for value in args.values}
        found = alternate(handler, variants, args.batches)
    first = found[args.values[0]][0]
    for value, (spent, count) in found.items():
        print(f"{args.setting}={value}: {spent / 1000:.1f} µs per batch (median of {count}), "
              f"{first / spent:.3f}× the speed of {args.values[0]}")  # fmt: skip


if __name__ == "__main__":
    main()
