"""``lamed keys``: what Lamed holds in Redis, and removing a namespace or
everything under the key prefix (see :mod:`lamed.store.keyspace`)."""

from __future__ import annotations

from typing import Optional

import click

from lamed.cli.errors import one_line_errors, settings_or_fail, store_or_fail
from lamed.cli.progress import progress


@click.group(invoke_without_command=True)
@click.pass_context
@one_line_errors()
def keys(ctx: click.Context) -> None:
    """List namespaces and experiments with their memory (default), or remove them."""
    if ctx.invoked_subcommand is not None:
        return
    from lamed.store.keyspace import flag_count, usage

    store = store_or_fail(settings_or_fail())
    rows = usage(store)
    for row in rows:
        click.echo(f"{row.bytes:>12,} B  {row.namespace}  {row.experiment}")
    total = sum(row.bytes for row in rows)
    click.echo(f"{total:>12,} B  in {len(rows)} experiments; {flag_count(store):,} dedup flags (they expire)")


@keys.command("remove")
@click.option("--namespace", help="Remove this namespace's counters, registries and definitions.")
@click.option("--all", "everything", is_flag=True, help="Remove every key under the key prefix.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@one_line_errors()
def remove(namespace: Optional[str], everything: bool, yes: bool) -> None:
    """Remove a namespace (its flags expire on their own) or everything Lamed wrote."""
    from lamed.store import keyspace

    if bool(namespace) == everything:
        raise click.UsageError("give either --namespace NAME or --all")
    settings = settings_or_fail()
    store = store_or_fail(settings)
    what = f"namespace {namespace!r}" if namespace else f"every key under {settings.key_prefix!r}"
    if not yes:
        click.confirm(f"Remove {what} from Redis?", abort=True)
    if namespace:
        removed = keyspace.remove_namespace(store, namespace)
        click.echo(f"removed {removed} keys of {what}; its dedup flags expire within uuid_expiry_seconds")
        return
    with progress("keys removed") as tell:
        removed = keyspace.remove_everything(store, tell)
    click.echo(f"removed {removed:,} keys under {settings.key_prefix!r}")


COMMANDS = (keys,)
