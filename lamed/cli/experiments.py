"""``lamed experiments``: manage experiment definitions from the command line.

It talks to Redis directly (``LAMED_REDIS_URL`` or ``lamed configure``), with
the same validation as the API: Redis is the source of truth that every
running handler reads (within the cache TTL), so no API key, deployed API or
HTTP round trip is needed, and it works before anything is deployed. Where
Redis is only reachable from inside the VPC, use the API instead
(``PUT /definitions/{name}`` and friends).
"""

from __future__ import annotations

import json
from typing import Any, Callable, Optional

import click

from lamed.cli.errors import one_line_errors, settings_or_fail, store_or_fail
from lamed.core.definitions import Definition, definition_from_dict, updated
from lamed.core.errors import DefinitionExists, DefinitionNotFound
from lamed.core.lifecycle import DRAFT, PAUSED, RUNNING, STOPPED
from lamed.store.definitions import DefinitionStore


class Context:
    """Settings and the definition store, built once per command."""

    def __init__(self, namespace: Optional[str]) -> None:
        self.settings = settings_or_fail()
        self.namespace = namespace or self.settings.namespace
        self._store: Optional[DefinitionStore] = None

    @property
    def store(self) -> DefinitionStore:
        if self._store is None:
            store = store_or_fail(self.settings)
            self._store = DefinitionStore(store.client, store.keys)
        return self._store


def _definition_errors() -> tuple:
    return (DefinitionExists, DefinitionNotFound)


def _run(action: Callable[[], Any]) -> Any:
    """Core errors as one clear line and exit status 1, never a traceback."""
    return one_line_errors(_definition_errors)(action)()


def _pairs(values: tuple, option: str) -> dict:
    """``NAME=VALUE`` options (split at the last ``=``, so names may hold one)."""
    pairs = {}
    for value in values:
        name, sep, right = value.rpartition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected NAME=VALUE, got {value!r}", param_hint=option)
        pairs[name] = right
    return pairs


def _weights(values: tuple) -> dict:
    weights = {}
    for name, text in _pairs(values, "--variant").items():
        try:
            weights[name] = float(text) if "." in text else int(text)
        except ValueError:
            message = f"weight of {name!r} must be a number, got {text!r}"
            raise click.BadParameter(message, param_hint="--variant") from None
    return weights


def _fields_from_options(options: dict) -> dict:
    """The definition fields given on the command line (file first, options on top)."""
    fields: dict = {}
    if options.get("file"):
        document = json.load(options["file"])
        if not isinstance(document, dict):
            raise click.BadParameter("the file must hold a JSON object", param_hint="--file")
        fields.update(document)
    if options.get("variant"):
        fields["variants"] = _weights(options["variant"])
    if options.get("force"):
        fields["forced"] = _pairs(options["force"], "--force")
    for name in ("control", "coverage", "status", "seed", "description"):
        if options.get(name) is not None:
            fields[name] = options[name]
    return fields


def _show(definition: Definition, namespace: str) -> None:
    click.echo(json.dumps(definition.public_dict(namespace), indent=2, ensure_ascii=False))


namespace_option = click.option("--namespace", "-n", default=None, help="Namespace (default: the configured one).")


def definition_options(command: Callable) -> Callable:
    options = [
        click.option("--variant", "-v", multiple=True, metavar="NAME=WEIGHT", help="A variant and its weight."),
        click.option("--control", help="The control variant (default: the first)."),
        click.option("--coverage", type=float, help="Percent of users in the experiment (0-100)."),
        click.option("--status", type=click.Choice([DRAFT, RUNNING, PAUSED]), help="Lifecycle status."),
        click.option("--seed", help="Hash seed (default: the experiment name); a new seed reshuffles users."),
        click.option("--force", multiple=True, metavar="USER=VARIANT", help="Force a variant for a user (QA)."),
        click.option("--description", help="Free text."),
        click.option("--file", "-f", type=click.File("r"), help="JSON definition (e.g. with rules); - for stdin."),
        namespace_option,
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.group("experiments")
def experiments() -> None:
    """Experiment definitions: weights, targeting, lifecycle (runtime config).

    Running handlers see a change within the definition cache TTL
    (LAMED_DEFINITION_CACHE_SECONDS, default 10 s)."""


@experiments.command()
@click.argument("name")
@definition_options
def create(name: str, namespace: Optional[str], **options: Any) -> None:
    """Create a definition (status draft unless --status is given)."""
    context = Context(namespace)
    definition = _run(lambda: definition_from_dict(name, _fields_from_options(options)))
    _run(lambda: context.store.create(context.namespace, definition))
    _show(definition, context.namespace)


@experiments.command()
@click.argument("name")
@definition_options
def update(name: str, namespace: Optional[str], **options: Any) -> None:
    """Change the given fields of a definition; the others stay."""
    _change(name, namespace, _fields_from_options(options))


@experiments.command("list")
@namespace_option
def list_command(namespace: Optional[str]) -> None:
    """One line per definition: name, status, weights, coverage."""
    context = Context(namespace)
    for definition in _run(lambda: context.store.list(context.namespace)):
        weights = " ".join(f"{variant}={weight:g}" for variant, weight in definition.variants.items())
        winner = f" winner={definition.winner}" if definition.winner else ""
        click.echo(f"{definition.name}\t{definition.status}{winner}\t{weights}\tcoverage={definition.coverage:g}%")


@experiments.command()
@click.argument("name")
@namespace_option
def show(name: str, namespace: Optional[str]) -> None:
    """The definition as JSON."""
    context = Context(namespace)
    definition = _run(lambda: context.store.get(context.namespace, name))
    if definition is None:
        raise click.ClickException(f"experiment {name!r} has no definition")
    _show(definition, context.namespace)


@experiments.command()
@click.argument("name")
@namespace_option
def pause(name: str, namespace: Optional[str]) -> None:
    """Everyone gets the control; nothing is counted."""
    _change(name, namespace, {"status": PAUSED, "winner": None})


@experiments.command()
@click.argument("name")
@namespace_option
def resume(name: str, namespace: Optional[str]) -> None:
    """Start a draft, or resume a paused or stopped experiment."""
    _change(name, namespace, {"status": RUNNING, "winner": None})


@experiments.command()
@click.argument("name")
@click.option("--winner", required=True, help="The variant everyone gets from now on.")
@namespace_option
def stop(name: str, winner: str, namespace: Optional[str]) -> None:
    """Everyone gets the winner; nothing is counted, /track says not_counted."""
    _change(name, namespace, {"status": STOPPED, "winner": winner})


@experiments.command()
@click.argument("name")
@namespace_option
def delete(name: str, namespace: Optional[str]) -> None:
    """Delete the definition (the experiment's counters stay)."""
    context = Context(namespace)
    if not _run(lambda: context.store.delete(context.namespace, name)):
        raise click.ClickException(f"experiment {name!r} has no definition")
    click.echo(f"deleted the definition of {name!r}")


@experiments.command()
@click.argument("name")
@click.option("--track-url", required=True, help="The public /track URL the browser reports to.")
@namespace_option
def snippet(name: str, track_url: str, namespace: Optional[str]) -> None:
    """An Alephbet snippet with the definition's variants and weights."""
    click.echo(definition_snippet(name, track_url, namespace))


def definition_snippet(name: str, track_url: str, namespace: Optional[str] = None) -> str:
    """A ``<script>`` block creating the experiment from its stored definition
    (also behind ``lamed snippet --experiment NAME``); ClickException if none."""
    from lamed.dashboard.snippet import alephbet_snippet_for_definition

    context = Context(namespace)
    definition = _run(lambda: context.store.get(context.namespace, name))
    if definition is None:
        raise click.ClickException(f"experiment {name!r} has no definition")
    script = alephbet_snippet_for_definition(definition, track_url, context.namespace)
    return f"<!-- load alephbet.min.js before this -->\n<script>\n{script}</script>"


def _change(name: str, namespace: Optional[str], changes: dict) -> None:
    context = Context(namespace)
    definition = _run(lambda: context.store.update(context.namespace, name, lambda current: updated(current, changes)))
    _show(definition, context.namespace)
