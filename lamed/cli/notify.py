"""``lamed notify``: one notification check now (docs/notifications.md).

For a cron job on any machine that reaches Redis, instead of (or besides)
``lamed serve``'s and the Lambda schedule's checks: all of them share one
lock and one record in Redis, so a change is announced once.
"""

from __future__ import annotations

from typing import Optional

import click

from lamed.cli.errors import one_line_errors, settings_or_fail, store_or_fail


@click.command()
@click.option("--redis-url", help="Read this Redis instead of the configured one.")
@one_line_errors()
def notify(redis_url: Optional[str]) -> None:
    """POST a message to notify_url for each experiment whose decision changed.

    Exits 1 when a POST failed: the change stays pending and the next check sends it.
    """
    from lamed.web.notify import check

    settings = settings_or_fail()
    if redis_url:
        settings = settings.replace(redis_url=redis_url)
    report = check(store_or_fail(settings), settings)
    if not report.ran:
        click.echo("Another check is running now: nothing to do.")
        return
    for change in report.sent:
        click.echo(f"sent: {change.namespace} / {change.experiment}: {change.previous or '(new)'} -> {change.kind}")
    for change in report.failed:
        click.echo(f"not delivered: {change.namespace} / {change.experiment} -> {change.kind}")
    click.echo(f"{len(report.sent)} sent, {len(report.failed)} to retry, {len(report.recorded)} recorded silently")
    if report.failed:
        raise click.ClickException(f"{len(report.failed)} message(s) not delivered; the next check sends them again")
