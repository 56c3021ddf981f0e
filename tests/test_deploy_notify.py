"""``lamed deploy`` and the notify rule, end to end against moto server."""

from __future__ import annotations

import json

from test_deploy import aws, calls, configure, counts, deployed, lamed  # noqa: F401 - aws, calls: fixtures

from lamed.core.settings import default_config_path, read_config_file, write_config_file


def rules(session) -> dict:
    events = session.client("events")
    return {rule["Name"]: rule for rule in events.list_rules()["Rules"]}


def test_the_notify_rule_follows_notify_url_idempotently(aws):  # noqa: F811 - the fixture
    configure("--notify-url", "https://hooks.example/lamed", "--notify-interval-seconds", "600")
    output = deployed()
    assert "notify rule lamed-notify: rate(10 minutes)" in output
    rule = rules(aws)["lamed-notify"]
    assert rule["ScheduleExpression"] == "rate(10 minutes)" and rule["State"] == "ENABLED"
    (target,) = aws.client("events").list_targets_by_rule(Rule="lamed-notify")["Targets"]
    live = aws.client("lambda").get_alias(FunctionName="lamed", Name="live")
    assert target["Arn"] == live["AliasArn"] and json.loads(target["Input"]) == {"lamed-notify": True}
    policy = json.loads(aws.client("lambda").get_policy(FunctionName="lamed", Qualifier="live")["Policy"])
    assert "lamed-notify" in {statement["Sid"] for statement in policy["Statement"]}

    before = counts(aws)
    deployed()
    assert counts(aws) == before and len(rules(aws)) == 2

    values = read_config_file(default_config_path())
    del values["notify_url"]
    write_config_file(default_config_path(), values)
    assert "notify rule lamed-notify: removed" in deployed()
    assert set(rules(aws)) == {"lamed-warmup"}
    assert "notify rule: none (no notify_url)" in deployed()


def test_dry_run_shows_the_rule_and_warns_about_a_vpc(aws):  # noqa: F811 - the fixture
    configure("--notify-url", "https://hooks.example/lamed", "--notify-interval-seconds", "30")
    plain = lamed("deploy", "--dry-run")
    assert plain.exit_code == 0, plain.output
    assert (
        'EventBridge rule lamed-notify: rate(1 minute) invokes lamed:live with {"lamed-notify": true}' in plain.output
    )
    assert "NAT gateway" not in plain.output
    configure("--vpc-subnet-ids", "subnet-1,subnet-2", "--vpc-security-group-ids", "sg-1")
    in_vpc = lamed("deploy", "--dry-run")
    assert in_vpc.exit_code == 0 and "Warning: the function runs in a VPC" in in_vpc.output
    assert "NAT gateway" in in_vpc.output and "lamed notify" in in_vpc.output
    assert rules(aws) == {}  # a dry run changes nothing
