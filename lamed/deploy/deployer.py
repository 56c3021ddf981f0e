"""``lamed deploy``: the steps in order, each idempotent, with progress."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from lamed.deploy.api import endpoint_url, ensure_api_key, ensure_rest_api, ensure_throttling
from lamed.deploy.aws import Aws
from lamed.deploy.function import (
    AliasState,
    allow_invoke,
    ensure_role,
    publish,
    require_alias,
    upload,
)
from lamed.deploy.health import HealthCheck, check_from_inside
from lamed.deploy.package import Bundle
from lamed.deploy.plan import DeployPlan, describe_vpc
from lamed.deploy.release import release
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
    rule_arn = ensure_warmup_rule(aws, names, alias.arn)
    allow_invoke(aws, names, "lamed-warmup", "events.amazonaws.com", rule_arn)
    progress(f"warm-up rule {names.rule}: every 5 minutes")
    progress(ensure_notify_rule(aws, plan, alias.arn))
    health = check_from_inside(aws, names, version)
    return Deployment(api_id, endpoint_url(api_id, plan.region), version, alias, health)
