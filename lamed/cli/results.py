"""``lamed results``: every experiment's figures and decision in the terminal.

It reads Redis directly (the configured ``redis_url``, or ``--redis-url``
for a local one), as ``lamed experiments`` does, and computes what the
dashboard shows; ``--json`` prints the answer of ``GET /decisions``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Optional

import click

from lamed.cli.errors import one_line_errors, settings_or_fail, store_or_fail
from lamed.core.events import namespace_or_default

if TYPE_CHECKING:
    from lamed.dashboard.views import ExperimentView


@click.command()
@click.option("--namespace", help="Namespace [default: the configured one].")
@click.option("--experiment", "name", help="Only this experiment.")
@click.option("--json", "as_json", is_flag=True, help="Print what GET /decisions answers, as JSON.")
@click.option("--redis-url", help="Read this Redis (e.g. a local one) instead of the configured one.")
@one_line_errors()
def results(namespace: Optional[str], name: Optional[str], as_json: bool, redis_url: Optional[str]) -> None:
    """Each experiment's figures per goal and its decision."""
    from lamed.store.definitions import DefinitionStore
    from lamed.web.decisions import decisions_document, experiment_views

    settings = settings_or_fail()
    if redis_url:
        settings = settings.replace(redis_url=redis_url)
    namespace = namespace_or_default(namespace, settings.namespace)
    store = store_or_fail(settings)
    definitions = DefinitionStore(store.client, store.keys).all()  # one read, whatever the number of experiments
    views = experiment_views(
        store, lambda ns, experiment: definitions.get((ns, experiment)), settings, namespace, [name] if name else None
    )
    if name and not views:
        raise click.ClickException(f"no data for experiment {name!r} in namespace {namespace!r}")
    if as_json:
        click.echo(json.dumps(decisions_document(namespace, views), ensure_ascii=False, indent=2))
        return
    if not views:
        click.echo(f"No experiments with data in namespace {namespace!r}.")
    for index, view in enumerate(views):
        if index:
            click.echo("")
        click.echo(experiment_table(view))


def experiment_table(view: ExperimentView) -> str:
    """One experiment as text: a table per goal and the decision line."""
    from lamed.dashboard.views import TEST_NAMES, percent

    status = f", {view.definition.status}" if view.definition else ""
    lines = [f"{view.name}  ({TEST_NAMES[view.plan.deciding_test]} decides{status})"]
    for goal in view.goals:
        primary = len(view.goals) > 1 and goal.name == view.primary_goal
        lines.append(f"  goal {goal.name}" + (" (primary)" if primary else ""))
        if goal.stats is None:
            lines.append(f"    cannot compare: {goal.problem}")
            continue
        rows = [("variant", "trials", "conversions", "rate", "uplift (interval)", "p")]
        for row in goal.stats.variants:
            label = f"{row.label} (control)" if row.is_control else row.label
            rows.append((label, f"{row.trials:,}", f"{row.successes:,}", percent(row.rate), *_comparison(row)))
        lines.extend("    " + line for line in _aligned(rows))
    lines.append(f"  decision: {view.decision.text}")
    return "\n".join(lines)


def _comparison(row: Any) -> tuple[str, str]:
    """The uplift with the deciding interval, and the deciding (adjusted) p."""
    from lamed.dashboard.views import p_value, signed_percent

    comparison = row.comparison
    if comparison is None:
        return "baseline", "—"
    if not comparison.enough_data:
        return "not enough data", "—"
    interval = comparison.deciding_interval
    shown = signed_percent(comparison.uplift)
    if interval:
        shown += f" ({signed_percent(interval.low)} to {signed_percent(interval.high)})"
    return shown, p_value(comparison.adjusted_p_value)


def _aligned(rows: list[tuple[str, ...]]) -> list[str]:
    """Columns padded to their widest cell: text left, figures right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width) for i, (cell, width) in enumerate(zip(row, widths))
        )
        for row in rows
    ]
