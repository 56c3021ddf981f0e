"""The scheduled rules: EventBridge invokes the ``live`` alias every 5 minutes
with ``{"lamed-warmup": true}``, which the handler answers without Redis, and,
when notify_url is set, every notify_interval_seconds (in whole minutes) with
``{"lamed-notify": true}``, which runs one notification check."""

from __future__ import annotations

import json
import math
from typing import Any, Optional

from botocore.exceptions import ClientError

from lamed.core.settings import DEFAULTS, ENV_PREFIX
from lamed.deploy.aws import Aws
from lamed.deploy.function import allow_invoke
from lamed.deploy.plan import ALIAS, WARMUP_INPUT, WARMUP_SCHEDULE, DeployPlan, Names
from lamed.web.lambda_handler import NOTIFY_EVENT


def ensure_warmup_rule(aws: Aws, names: Names, alias_arn: str) -> str:
    """Creates or updates the rule and its one target; returns the rule ARN."""
    events = aws.client("events")
    rule_arn = events.put_rule(
        Name=names.rule,
        ScheduleExpression=WARMUP_SCHEDULE,
        State="ENABLED",
        Description=f"Keeps {names.function} warm (lamed deploy)",
    )["RuleArn"]
    events.put_targets(Rule=names.rule, Targets=[{"Id": "lamed-warmup", "Arn": alias_arn, "Input": WARMUP_INPUT}])
    return rule_arn


# -- the notify rule: decisions' messages (lamed.web.notify) ---------------------

NOTIFY_INPUT = json.dumps(NOTIFY_EVENT)
NOTIFY_STATEMENT = "lamed-notify"


def notify_rule_name(names: Names) -> str:
    return f"{names.base}-notify"


def notify_schedule(plan: DeployPlan) -> Optional[str]:
    """The rule's rate (whole minutes, EventBridge's unit), or None without a notify_url."""
    environment = plan.environment
    if not environment.get(ENV_PREFIX + "NOTIFY_URL"):
        return None
    seconds = int(environment.get(ENV_PREFIX + "NOTIFY_INTERVAL_SECONDS", DEFAULTS.notify_interval_seconds))
    minutes = max(1, math.ceil(seconds / 60))
    return f"rate({minutes} minute{'s' if minutes > 1 else ''})"


def ensure_notify_rule(aws: Aws, plan: DeployPlan, alias_arn: str) -> str:
    """Creates or updates the rule that invokes the alias with NOTIFY_INPUT
    (removes it when notify_url is unset); returns what it did, in words."""
    events = aws.client("events")
    rule, schedule = notify_rule_name(plan.names), notify_schedule(plan)
    if schedule is None:
        return f"notify rule {rule}: removed" if _remove_rule(events, rule) else "notify rule: none (no notify_url)"
    rule_arn = events.put_rule(
        Name=rule,
        ScheduleExpression=schedule,
        State="ENABLED",
        Description=f"Sends {plan.names.function}'s decision messages (lamed deploy)",
    )["RuleArn"]
    events.put_targets(Rule=rule, Targets=[{"Id": NOTIFY_STATEMENT, "Arn": alias_arn, "Input": NOTIFY_INPUT}])
    allow_invoke(aws, plan.names, NOTIFY_STATEMENT, "events.amazonaws.com", rule_arn)
    return f"notify rule {rule}: {schedule}"


def _remove_rule(events: Any, rule: str) -> bool:
    try:
        targets = events.list_targets_by_rule(Rule=rule)["Targets"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return False
        raise
    if targets:
        events.remove_targets(Rule=rule, Ids=[target["Id"] for target in targets])
    events.delete_rule(Name=rule)
    return True


def describe_notify(plan: DeployPlan) -> list[str]:
    """The notify rule for ``--dry-run``."""
    schedule = notify_schedule(plan)
    if schedule is None:
        return ["no notify rule (notify_url not set; an existing one is removed)"]
    names = plan.names
    return [
        f"EventBridge rule {notify_rule_name(names)}: {schedule} invokes {names.function}:{ALIAS} with {NOTIFY_INPUT}"
    ]


def notify_warnings(plan: DeployPlan) -> list[str]:
    """A function in a VPC reaches a webhook only through a NAT gateway."""
    if notify_schedule(plan) is None or plan.vpc is None or plan.vpc.is_none:
        return []
    return [
        "the function runs in a VPC: it reaches notify_url only through a NAT gateway (Lamed needs none for "
        "Redis). Without one, the POSTs time out: run `lamed notify` from a machine that reaches Redis "
        "(a cron job) instead, and unset notify_url for the deploy"
    ]
