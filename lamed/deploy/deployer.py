"""``lamed deploy``: the steps in order, each idempotent, with progress."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from lamed.deploy.api import endpoint_url, ensure_api_key, ensure_rest_api, ensure_throttling
from lamed.deploy.aws import Aws, AwsError
from lamed.deploy.costs import ensure_concurrency, ensure_log_retention
from lamed.deploy.function import (
    AliasState,
    allow_invoke,
    ensure_role,
    publish,
    read_alias,
    require_alias,
    upload,
)
from lamed.deploy.function_url import ensure_function_url, remove_function_url
from lamed.deploy.health import HealthCheck, check_from_inside
from lamed.deploy.metrics import ensure_dashboard
from lamed.deploy.package import Bundle
from lamed.deploy.plan import ALIAS, DeployPlan, Names, describe_vpc
from lamed.deploy.release import release, require_new_canary
from lamed.deploy.schedule import ensure_notify_rule, ensure_warmup_rule
from lamed.deploy.vpc import check_vpc

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Deployment:
    api_id: str
    endpoint: str
    version: str
    alias: AliasState
    health: HealthCheck
    track_base: str  # where snippets send /track: the function URL, or the REST endpoint


class HealthCheckFailed(AwsError):
    """The new version cannot use Redis: ``live`` was left where it was."""

    def __init__(self, check: HealthCheck, serving: str) -> None:
        super().__init__(f"version {check.qualifier} cannot use Redis: {serving}")
        self.check = check


def deploy(aws: Aws, plan: DeployPlan, bundle: Bundle, api_key: str, progress: Progress) -> Deployment:
    names = plan.names
    if plan.canary_percent is not None:
        require_alias(aws, names)  # refuse before changing anything: a canary needs a live version
    if plan.vpc is not None and not plan.vpc.is_none:
        vpc_id = check_vpc(aws, plan.vpc)  # before any change: a typo is one clear line
        progress(f"{describe_vpc(plan.vpc)} (in {vpc_id})")
    role_arn = ensure_role(aws, plan)
    progress(f"IAM role {names.role}: ready")
    outcome = upload(aws, plan, bundle, role_arn)
    progress(f"Lambda function {names.function}: {outcome} ({plan.architecture}, {bundle.size / 1024:.0f} KiB bundle)")
    if plan.vpc is not None and plan.vpc.is_none:
        progress("VPC: none (vpc_subnet_ids and vpc_security_group_ids cleared)")
    version = publish(aws, names, bundle)
    progress(f"version {version}: published")
    if plan.canary_percent is not None:
        require_new_canary(aws, names, version)
    health = check_before_release(aws, names, version)
    progress(f"version {version}: Redis checked from inside it, before '{ALIAS}' moves: ok")
    alias, summary = release(aws, names, version, plan.canary_percent)
    progress(summary)
    api_id = ensure_rest_api(aws, plan, alias.arn)
    source = f"arn:aws:execute-api:{plan.region}:{aws.account_id}:{api_id}/*"
    allow_invoke(aws, names, "lamed-apigateway", "apigateway.amazonaws.com", source)
    progress(f"REST API {names.base} ({api_id}): {len(plan.routes)} routes deployed")
    changed = ensure_throttling(aws, api_id, plan.throttle)
    progress(f"{plan.throttle.describe()}: {'set' if changed else 'unchanged'}")
    ensure_api_key(aws, names, api_id, api_key)
    progress(f"API key and usage plan {names.base}: ready")
    rest_endpoint = endpoint_url(api_id, plan.region)
    track_base = front_door(aws, plan, rest_endpoint, progress)
    progress(ensure_concurrency(aws, names, plan.reserved_concurrency))
    progress(ensure_log_retention(aws, plan))
    progress(ensure_dashboard(aws, names, plan.region))
    rule_arn = ensure_warmup_rule(aws, names, alias.arn)
    allow_invoke(aws, names, "lamed-warmup", "events.amazonaws.com", rule_arn)
    progress(f"warm-up rule {names.rule}: every 5 minutes")
    progress(ensure_notify_rule(aws, plan, alias.arn))
    return Deployment(api_id, rest_endpoint, version, alias, health, track_base)


def check_before_release(aws: Aws, names: Names, version: str) -> HealthCheck:
    """The new version, invoked by its number, checks Redis before any
    traffic can reach it; on failure nothing after publishing has changed."""
    health = check_from_inside(aws, names, version)
    if not health.ok:
        current = read_alias(aws, names)
        serving = (
            f"'{ALIAS}' stays on version {current.version}" if current else f"no '{ALIAS}' alias yet: nothing serves"
        )
        raise HealthCheckFailed(health, serving)
    return health


def front_door(aws: Aws, plan: DeployPlan, rest_endpoint: str, progress: Progress) -> str:
    """The function URL (created, or removed for track_endpoint rest_api);
    returns the base URL snippets send /track to."""
    names = plan.names
    if plan.track_endpoint == "rest_api":
        removed = remove_function_url(aws, names)
        progress(f"function URL: {'removed' if removed else 'none'} (track_endpoint rest_api)")
        return rest_endpoint
    url, outcome = ensure_function_url(aws, names)
    progress(f"function URL {url} on {names.function}:{ALIAS} (auth type NONE): {outcome}")
    return url
