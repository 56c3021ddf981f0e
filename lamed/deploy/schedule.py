"""The warm-up rule: EventBridge invokes the ``live`` alias every 5 minutes
with ``{"lamed-warmup": true}``, which the handler answers without Redis."""

from __future__ import annotations

from lamed.deploy.aws import Aws
from lamed.deploy.plan import WARMUP_INPUT, WARMUP_SCHEDULE, Names


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
