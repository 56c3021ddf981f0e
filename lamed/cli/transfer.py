"""``lamed export`` and ``lamed import``: backups, restores, and moving over
from an old Lamed/Gimel Redis (see :mod:`lamed.store.transfer`)."""

from __future__ import annotations

import json
import sys
from typing import Optional

import click

from lamed.cli.errors import one_line_errors, settings_or_fail, store_or_fail
from lamed.cli.progress import progress


def _transfer_errors() -> tuple:
    from lamed.core.errors import TransferError

    return (TransferError, OSError)


def _store():
    return store_or_fail(settings_or_fail())


@click.command("export")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@one_line_errors(_transfer_errors)
def export_command(output: Optional[str]) -> None:
    """Write all counters and definitions as JSON."""
    from lamed.store.transfer import export_document

    with progress("experiments exported") as tell:
        text = json.dumps(export_document(_store(), tell), ensure_ascii=False, indent=1) + "\n"
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)


@click.command("import")
@click.argument("source", required=False)
@click.option("--from-lamed", "from_lamed", metavar="REDIS_URL", help="Read an old Lamed/Gimel Redis instead.")
@click.option("--namespace", "namespaces", multiple=True, default=["alephbet"], show_default=True)
@click.option("--day", help="Day bucket (YYYYMMDD) for --from-lamed counters; default today (UTC).")
@one_line_errors(_transfer_errors)
def import_command(source: Optional[str], from_lamed: Optional[str], namespaces: tuple, day: Optional[str]) -> None:
    """Restore a `lamed export` file (SOURCE, or - for stdin), or copy --from-lamed."""
    from lamed.store import transfer

    if from_lamed:
        from lamed.store.redis_client import connect

        old = connect(from_lamed, 5.0)  # the same connection policy as every Lamed client
        try:
            with progress("experiments imported") as tell:
                summary = transfer.import_from_lamed(_store(), old, namespaces, day, tell)
        finally:
            old.close()
    else:
        if not source:
            raise click.UsageError("give an export file (or -), or --from-lamed REDIS_URL")
        with click.open_file(source, encoding="utf-8") as handle:
            try:
                document = json.load(handle)
            except ValueError as error:
                raise transfer.TransferError(f"{source}: not JSON: {error}") from None
        with progress("experiments imported") as tell:
            summary = transfer.import_document(_store(), document, tell)
    click.echo("imported " + ", ".join(f"{value} {name}" for name, value in summary.items()))


COMMANDS = (export_command, import_command)
