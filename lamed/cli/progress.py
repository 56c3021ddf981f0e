"""Counts as long work goes, on a terminal only: piped or in CI, commands stay quiet."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click


@contextmanager
def progress(what: str) -> Iterator[Callable[[int], None]]:
    """``with progress("experiments exported") as tell: tell(n)`` rewrites one
    line on stderr while on a terminal, and ends it when done."""
    if not sys.stderr.isatty():
        yield lambda count: None
        return
    told = [False]

    def tell(count: int) -> None:
        told[0] = True
        click.echo(f"\r{count:,} {what}", err=True, nl=False)

    try:
        yield tell
    finally:
        if told[0]:
            click.echo("", err=True)
