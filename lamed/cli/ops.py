"""The operator's commands: configure, preflight, deploy, status, snippet,
canary, promote, rollback. Each is thin: it reads settings, calls ``lamed.deploy``
and prints. Every expected failure is one ``Error: ...`` line and exit 1.

boto3 is imported only inside ``lamed.deploy``, when a command needs AWS, so
``lamed --help`` and ``lamed serve`` stay quick."""

from __future__ import annotations

import functools
import json
import secrets
import sys
from typing import Any, Callable, Optional, Sequence

import click

from lamed.cli import errors as cli_errors
from lamed.core.errors import SettingsError
from lamed.core.settings import (
    ARCHITECTURES,
    NOTIFY_FORMATS,
    TRACK_ENDPOINTS,
    default_config_path,
    load_settings,
    read_config_file,
    settings_from_mapping,
)


def _deploy_errors() -> tuple:
    from lamed.deploy.aws import AwsError
    from lamed.deploy.package import PackageError
    from lamed.deploy.plan import PlanError

    return (PlanError, AwsError, PackageError)


def operator_errors(command: Callable) -> Callable:
    """Turns the errors an operator can fix, AWS's included, into one line."""

    @functools.wraps(command)
    def with_aws_errors(*args: Any, **kwargs: Any) -> Any:
        from lamed.deploy.aws import aws_errors

        with aws_errors():
            return command(*args, **kwargs)

    return cli_errors.one_line_errors(_deploy_errors)(with_aws_errors)


def generate_api_key() -> str:
    return secrets.token_urlsafe(32)


@click.command()
@click.option("--redis-url", help="Redis URL the function uses, e.g. redis://host:6379/0.")
@click.option("--api-key", help="API key for results, delete and the dashboard (20+ characters).")
@click.option("--new-api-key", is_flag=True, help="Generate a new random API key.")
@click.option("--region", "aws_region", help="AWS region to deploy to.")
@click.option("--namespace", help="Default namespace for the JS snippet.")
@click.option("--track-path", "track_paths", multiple=True, help="Extra path served like /track (repeatable).")
@click.option("--uuid-expiry-seconds", type=int, help="How long a uuid is remembered to drop duplicates.")
@click.option("--deploy-name", help="Name of the Lambda function, API and other AWS resources.")
@click.option("--vpc-subnet-ids", metavar="IDS", help="The function's VPC subnets, comma-separated.")
@click.option("--vpc-security-group-ids", metavar="IDS", help="The function's security groups, comma-separated.")
@click.option("--no-vpc", is_flag=True, help="Take the function out of its VPC on the next deploy.")
@click.option("--architecture", type=click.Choice(ARCHITECTURES), help="The function's CPU (arm64 costs less).")
@click.option("--track-rate-limit", type=float, help="API Gateway throttling of the stage: requests/s (all clients).")
@click.option("--track-burst-limit", type=int, help="API Gateway throttling of the stage: burst.")
@click.option("--notify-url", help="Where to POST when an experiment's decision changes (https).")
@click.option("--notify-format", type=click.Choice(NOTIFY_FORMATS), help="Body of that POST: slack or json.")
@click.option("--notify-interval-seconds", type=int, help="How often decisions are checked (default 3600).")
@click.option("--public-url", help="This deployment's base URL, for dashboard links in notifications.")
@click.option(
    "--track-endpoint", type=click.Choice(TRACK_ENDPOINTS), help="Where snippets send /track (function_url costs less)."
)
@click.option("--reserved-concurrency", type=int, help="The function's reserved concurrency (0: none).")
@click.option("--log-retention-days", type=int, help="How long the function's log group keeps its lines.")
@click.option("--edit/--no-edit", default=None, help="Open the config in $EDITOR (default: when no flag is given).")
@operator_errors
def configure(new_api_key: bool, no_vpc: bool, edit: Optional[bool], **flags: Any) -> None:
    """Create or edit ~/.lamed/config.json (readable by you only)."""
    from lamed.core.settings import write_config_file

    path = default_config_path()
    values = read_config_file(path)
    given = {name: _as_config_value(name, value) for name, value in flags.items() if value not in (None, ())}
    if no_vpc:  # empty lists, not absent ones: the deploy removes the VPC config
        given.update(vpc_subnet_ids=[], vpc_security_group_ids=[])
    values.update(given)
    if new_api_key or not values.get("api_key"):
        values["api_key"] = generate_api_key()
    if edit or (edit is None and not given and not new_api_key and sys.stdin.isatty()):
        values = _edited(values)
    settings_from_mapping(values, source=str(path))  # refuse to write an invalid config
    write_config_file(path, values)
    click.echo(f"Wrote {path}")
    for name in sorted(values):
        click.echo(f"  {name}: {values[name]}")


def _as_config_value(name: str, value: Any) -> Any:
    """Lists as JSON lists: repeated flags (track paths) or comma-separated ids."""
    if name in ("vpc_subnet_ids", "vpc_security_group_ids"):
        return [part.strip() for part in value.split(",") if part.strip()]
    return list(value) if isinstance(value, tuple) else value


def _edited(values: dict) -> dict:
    text = click.edit(json.dumps(values, indent=2, sort_keys=True) + "\n", extension=".json")
    if text is None:
        return values
    try:
        edited = json.loads(text)
    except ValueError as error:
        raise SettingsError(f"the edited config is not valid JSON: {error}") from None
    if not isinstance(edited, dict):
        raise SettingsError("the edited config must be a JSON object")
    return edited


@click.command()
def preflight() -> None:
    """Check AWS credentials and region, Redis and the config; exit 1 if any fails."""
    from lamed.deploy.preflight import run_checks

    checks = run_checks()
    for check in checks:
        click.echo(check.line())
    if not all(check.ok for check in checks):
        sys.exit(1)


def _canary_percent(ctx: click.Context, param: click.Parameter, value: Optional[float]) -> Optional[float]:
    from lamed.deploy.plan import PlanError, check_canary

    try:
        return None if value is None else check_canary(value)
    except PlanError as error:
        raise click.BadParameter(str(error).removeprefix("--canary ")) from None


@click.command()
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
@click.option(
    "--canary", type=float, metavar="P", callback=_canary_percent, help="Send P% (0.1-50) to the new version."
)
@operator_errors
def deploy(dry_run: bool, canary: Optional[float]) -> None:
    """Package the app and create or update everything on AWS."""
    from lamed.core.settings import NEW_FUNCTION_ARCHITECTURE
    from lamed.deploy.aws import Aws, resolve_region
    from lamed.deploy.deployer import HealthCheckFailed
    from lamed.deploy.deployer import deploy as run_deploy
    from lamed.deploy.function import with_architecture
    from lamed.deploy.health import describe_health
    from lamed.deploy.package import build_bundle
    from lamed.deploy.plan import build_plan, describe
    from lamed.deploy.schedule import describe_notify, notify_warnings

    settings = load_settings()
    plan = build_plan(settings, resolve_region(settings.aws_region), canary)
    aws = None if dry_run else Aws(plan.region)
    if aws is not None:
        plan = with_architecture(aws, plan)
    bundle = build_bundle(plan.architecture or NEW_FUNCTION_ARCHITECTURE)
    for warning in [*bundle.warnings, *notify_warnings(plan)]:
        click.echo(f"Warning: {warning}", err=True)
    if aws is None:
        click.echo(f"Plan (dry run, nothing changed; bundle {bundle.size / 1024:.0f} KiB):")
        for line in describe(plan) + describe_notify(plan):
            click.echo(f"  {line}")
        return
    try:
        deployment = run_deploy(aws, plan, bundle, settings.api_key, lambda step: click.echo(f"✓ {step}"))
    except HealthCheckFailed as failed:
        for line in describe_health(failed.check, plan.vpc):
            click.echo(line)
        raise click.ClickException(f"{failed}; fix that, then run `lamed deploy` again") from None
    _remember_endpoint(deployment.endpoint)
    click.echo(f"\nEndpoint: {deployment.endpoint}")
    for route in plan.routes:
        click.echo(f"  {deployment.endpoint}{route.path}")
    track_url = _track_url(deployment.track_base, settings.track_paths)
    click.echo(f"\nTrack URL ({_front_door_name(settings)}): {track_url}")
    click.echo(f"\n{_snippet_text(settings, deployment.track_base, None)}")
    _report_health(deployment.health, plan.vpc, after_deploy=True)


def _front_door_name(settings: Any) -> str:
    return "function URL" if settings.track_endpoint == "function_url" else "REST API"


def _report_health(check: Any, vpc: Any, after_deploy: bool = False) -> None:
    """Prints the function's own Redis check; exit 1 when it failed."""
    from lamed.deploy.health import describe_health

    click.echo("")
    for line in describe_health(check, vpc):
        click.echo(line)
    if not check.ok:
        then = "; `lamed status` checks again, `lamed rollback` goes back" if after_deploy else ""
        raise click.ClickException(f"the function cannot use Redis{then}")


def _remember_endpoint(endpoint: str) -> None:
    """Saved as ``api_url`` in the config, where `lamed dashboard` looks."""
    from lamed.core.settings import write_config_file

    path = default_config_path()
    values = read_config_file(path)
    if values.get("api_url") != endpoint:
        write_config_file(path, {**values, "api_url": endpoint})


def _snippet_text(settings: Any, endpoint: str, script_src: Optional[str], batch: bool = False) -> str:
    from lamed.dashboard.snippet import DEFAULT_SCRIPT_SRC, alephbet_snippet

    url = _track_url(endpoint, settings.track_paths)
    return alephbet_snippet(url, settings.namespace, script_src or DEFAULT_SCRIPT_SRC, batch)


def _track_url(endpoint: str, track_paths: Sequence[str]) -> str:
    """The first extra track path when there is one: ad-blockers know /track."""
    from lamed.web.tracking import TRACK_PATH

    return endpoint.rstrip("/") + (track_paths[0] if track_paths else TRACK_PATH)


@click.command()
@click.option("--url", help="Base URL of a server (e.g. from `lamed serve`) instead of the AWS deployment.")
@click.option("--script-src", help="Where your page loads alephbet.min.js from.")
@click.option("--experiment", help="Build the experiment from its definition (`lamed experiments`).")
@click.option("--batch", is_flag=True, help="Send events in batches (the batching adapter, inline): fewer requests.")
@operator_errors
def snippet(url: Optional[str], script_src: Optional[str], experiment: Optional[str], batch: bool) -> None:
    """Print the Alephbet snippet for the current deployment."""
    settings = load_settings()
    endpoint = url or _deployed_track_base(settings)
    front_door = "--url" if url else _front_door_name(settings)
    # On stderr: stdout stays the snippet alone, ready to paste.
    click.echo(f"Track URL ({front_door}): {_track_url(endpoint, settings.track_paths)}", err=True)
    if experiment:
        from lamed.cli.experiments import definition_snippet

        click.echo(definition_snippet(experiment, _track_url(endpoint, settings.track_paths)))
        return
    click.echo(_snippet_text(settings, endpoint, script_src, batch))


def _deployed_track_base(settings: Any) -> str:
    """The base of the deployed /track: the function URL on ``live``, or the
    REST API's endpoint with track_endpoint rest_api."""
    from lamed.deploy.api import endpoint_url, find_rest_api
    from lamed.deploy.aws import Aws, AwsError, resolve_region
    from lamed.deploy.function_url import find_function_url
    from lamed.deploy.plan import deploy_names

    names = deploy_names(settings)
    aws = Aws(resolve_region(settings.aws_region))
    if settings.track_endpoint == "function_url":
        config = find_function_url(aws, names)
        if config is None:
            raise AwsError(f"{names.function} has no function URL in {aws.region}: run `lamed deploy`, or pass --url")
        return config["FunctionUrl"]
    api_id = find_rest_api(aws, names)
    if api_id is None:
        raise AwsError(f"no API named {names.base} in {aws.region}: run `lamed deploy` first, or pass --url")
    return endpoint_url(api_id, aws.region)


def _aws_and_names() -> tuple:
    from lamed.deploy.aws import Aws, resolve_region
    from lamed.deploy.plan import deploy_names

    settings = load_settings()
    return Aws(resolve_region(settings.aws_region)), deploy_names(settings)


@click.group()
def canary() -> None:
    """Watch and guard a canary started with `lamed deploy --canary P`."""


@canary.command("status")
@click.option("--minutes", default=60, show_default=True, type=click.IntRange(1, 1440), help="Window to report on.")
@operator_errors
def canary_status(minutes: int) -> None:
    """Per-version requests, errors and latency of the live alias."""
    from lamed.deploy.canary import format_stats, version_stats
    from lamed.deploy.function import require_alias

    aws, names = _aws_and_names()
    alias = require_alias(aws, names)
    state = (
        f"canary version {alias.canary_version} at {alias.canary_weight:.1%}" if alias.canary_version else "no canary"
    )
    click.echo(f"live: version {alias.version}, {state} (last {minutes} min)")
    for line in format_stats(version_stats(aws, names, alias, minutes)):
        click.echo(line)
    _echo_lamed_metrics(aws, names, alias, minutes)


def _echo_lamed_metrics(aws: Any, names: Any, alias: Any, minutes: int) -> None:
    """Counted events, 503s and /track's p99 per live version (the function's EMF metrics)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from lamed.deploy.metrics import format_lamed_stats, lamed_stats

    versions = [version for version in (alias.version, alias.canary_version) if version]
    try:
        stats = lamed_stats(aws, names, versions, minutes)
    except (BotoCoreError, ClientError) as error:
        click.echo(f"Lamed's metrics: not readable ({error})")
        return
    for line in format_lamed_stats(stats):
        click.echo(line)


@canary.command("guard")
@click.option(
    "--threshold",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0, 100),
    help="Roll back when the canary's error rate exceeds the stable one's by more points than this.",
)
@click.option(
    "--min-requests",
    default=100,
    show_default=True,
    type=click.IntRange(1),
    help="Judge only after this many canary requests.",
)
@click.option("--minutes", default=15, show_default=True, type=click.IntRange(1, 1440), help="Window to judge.")
@operator_errors
def canary_guard(threshold: float, min_requests: int, minutes: int) -> None:
    """Roll the canary back if it errs more than the stable version (for cron)."""
    from lamed.deploy.canary import guard_verdict, version_stats
    from lamed.deploy.function import require_alias
    from lamed.deploy.release import rollback as roll_back

    aws, names = _aws_and_names()
    alias = require_alias(aws, names)
    if not alias.canary_version:
        click.echo(f"no canary in progress: live serves version {alias.version}")
        return
    verdict = guard_verdict(version_stats(aws, names, alias, minutes), threshold, min_requests)
    if verdict is None:
        click.echo(f"canary version {alias.canary_version} looks healthy: kept")
        return
    click.echo(f"{verdict}; {roll_back(aws, names)}")


@click.command()
@operator_errors
def promote() -> None:
    """Move 100% of the live alias to the canary version."""
    from lamed.deploy.release import promote as run_promote

    click.echo(run_promote(*_aws_and_names()))


@click.command()
@click.option("--to", "to_version", help="Version to go back to (default: the previous one).")
@operator_errors
def rollback(to_version: Optional[str]) -> None:
    """Point the live alias back at the previous version (or drop a canary)."""
    from lamed.deploy.release import rollback as run_rollback

    click.echo(run_rollback(*_aws_and_names(), to_version))


@click.command()
@operator_errors
def status() -> None:
    """The deployed function and the live alias, and Redis checked from inside each live version."""
    from lamed.deploy.function import require_alias
    from lamed.deploy.function_url import find_function_url
    from lamed.deploy.health import check_from_inside, describe_health
    from lamed.deploy.plan import describe_vpc
    from lamed.deploy.vpc import current_vpc

    aws, names = _aws_and_names()
    alias = require_alias(aws, names)
    function = aws.client("lambda").get_function_configuration(FunctionName=names.function, Qualifier=alias.version)
    vpc = current_vpc(function)
    click.echo(
        f"{names.function}: {function.get('Runtime')} on {', '.join(function.get('Architectures') or ['x86_64'])}, "
        f"state {function.get('State', '?')}, {describe_vpc(vpc) if not vpc.is_none else 'VPC: none'}"
    )
    canary_note = (
        f", canary version {alias.canary_version} at {alias.canary_weight:.1%}" if alias.canary_version else ""
    )
    click.echo(f"live: version {alias.version}{canary_note}")
    url = find_function_url(aws, names)
    click.echo(f"function URL: {url['FunctionUrl']} (auth type {url.get('AuthType')})" if url else "function URL: none")
    checks = [check_from_inside(aws, names, version) for version in (alias.version, alias.canary_version) if version]
    for check in checks:
        for line in describe_health(check, vpc):
            click.echo(line)
    click.echo("last 60 min:")
    _echo_lamed_metrics(aws, names, alias, 60)
    if not all(check.ok for check in checks):
        raise click.ClickException("the function cannot use Redis")


COMMANDS = (configure, preflight, deploy, status, snippet, canary, promote, rollback)
