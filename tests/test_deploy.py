"""``lamed deploy`` end to end against moto server on loopback: function,
version, alias, REST API routes, API key + usage plan, warm-up schedule;
idempotence; canary weights, promote, rollback, guard."""

from __future__ import annotations

import importlib
import json

import boto3
import pytest
from click.testing import CliRunner
from conftest import API_KEY
from deploy_support import aws_environment

from lamed.cli.main import main

pytestmark = pytest.mark.slow
GATEWAY_KEY = API_KEY + "-gateway"  # API Gateway wants 20+ characters


@pytest.fixture
def aws(moto, monkeypatch, tmp_path):
    moto.reset()
    for name, value in aws_environment(moto.url, str(tmp_path)).items():
        monkeypatch.setenv(name, value)
    return boto3.Session(region_name="us-east-1")


def lamed(*args: str):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


def configure(*extra: str) -> None:
    result = lamed(
        "configure", "--redis-url", "redis://10.0.0.5:6379/0", "--api-key", GATEWAY_KEY,
        "--region", "us-east-1", "--track-path", "/collect", *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def deployed(*args: str) -> str:
    result = lamed("deploy", *args)
    assert result.exit_code == 0, result.output
    return result.output


def resources(session) -> dict:
    client = session.client("apigateway")
    (api,) = client.get_rest_apis()["items"]
    items = client.get_resources(restApiId=api["id"], embed=["methods"])["items"]
    return {item["path"]: item.get("resourceMethods", {}) for item in items}


def alias(session) -> dict:
    return session.client("lambda").get_alias(FunctionName="lamed", Name="live")


def counts(session) -> dict:
    gateway = session.client("apigateway")
    return {
        "apis": len(gateway.get_rest_apis()["items"]),
        "keys": len(gateway.get_api_keys()["items"]),
        "plans": len(gateway.get_usage_plans()["items"]),
        "rules": len(session.client("events").list_rules()["Rules"]),
        "versions": len(session.client("lambda").list_versions_by_function(FunctionName="lamed")["Versions"]),
        "resources": len(resources(session)),
    }


def test_deploy_creates_everything_and_is_idempotent(aws):
    configure()
    output = deployed()
    assert "https://" in output and "/api/collect" in output and "LamedAdapter" in output

    dashboard = lamed("dashboard", "--print-url")
    assert dashboard.output.startswith("https://") and dashboard.output.strip().endswith("/api/dashboard")

    function = aws.client("lambda").get_function_configuration(FunctionName="lamed")
    assert function["Handler"] == "app.handler"
    env = function["Environment"]["Variables"]
    assert env["LAMED_REDIS_URL"] == "redis://10.0.0.5:6379/0"
    assert env["LAMED_API_KEY"] == GATEWAY_KEY and env["LAMED_TRACK_PATHS"] == "/collect"
    live = alias(aws)
    assert live["FunctionVersion"] == "1"

    routes = resources(aws)
    for path, methods in importlib.import_module("app").app.routes.items():
        assert set(methods) <= set(routes[path]), path
    assert set(routes["/collect"]) == {"GET", "POST", "OPTIONS"}
    assert routes["/experiments"]["GET"]["apiKeyRequired"] is True
    assert routes["/experiments/{name}"]["DELETE"]["apiKeyRequired"] is True
    assert routes["/delete"]["DELETE"]["apiKeyRequired"] is True
    assert routes["/track"]["GET"]["apiKeyRequired"] is False
    assert routes["/health"]["GET"]["apiKeyRequired"] is False
    integration = routes["/track"]["GET"]["methodIntegration"]
    assert integration["type"] == "AWS_PROXY" and integration["uri"].endswith(f"{live['AliasArn']}/invocations")

    gateway = aws.client("apigateway")
    (key,) = gateway.get_api_keys(includeValues=True)["items"]
    assert key["value"] == GATEWAY_KEY
    (plan,) = gateway.get_usage_plans()["items"]
    assert plan["apiStages"][0]["stage"] == "api"
    assert [k["id"] for k in gateway.get_usage_plan_keys(usagePlanId=plan["id"])["items"]] == [key["id"]]

    events = aws.client("events")
    (rule,) = events.list_rules()["Rules"]
    assert rule["ScheduleExpression"] == "rate(5 minutes)"
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert target["Arn"] == live["AliasArn"] and json.loads(target["Input"]) == {"lamed-warmup": True}
    policy = json.loads(aws.client("lambda").get_policy(FunctionName="lamed", Qualifier="live")["Policy"])
    principals = {statement["Principal"]["Service"] for statement in policy["Statement"]}
    assert principals == {"apigateway.amazonaws.com", "events.amazonaws.com"}

    before = counts(aws)
    again = deployed()
    assert "unchanged" in again
    assert counts(aws) == before
    assert alias(aws)["FunctionVersion"] == "1"


def test_dry_run_prints_the_plan_and_changes_nothing(aws):
    configure()
    output = deployed("--dry-run")
    assert "dry run" in output and "/experiments  GET (API key)" in output and "rate(5 minutes)" in output
    assert GATEWAY_KEY not in output
    assert aws.client("lambda").list_functions()["Functions"] == []


def test_canary_promote_and_rollback_move_the_alias(aws):
    configure()
    deployed()
    configure("--uuid-expiry-seconds", "3600")  # a config change makes a new version
    output = deployed("--canary", "10")
    assert "10% to version 2" in output
    live = alias(aws)
    assert live["FunctionVersion"] == "1"
    assert live["RoutingConfig"]["AdditionalVersionWeights"] == {"2": pytest.approx(0.1)}

    status = lamed("canary", "status")
    assert status.exit_code == 0 and "canary version 2 at 10.0%" in status.output

    promoted = lamed("promote")
    assert promoted.exit_code == 0, promoted.output
    live = alias(aws)
    assert live["FunctionVersion"] == "2" and not live.get("RoutingConfig", {}).get("AdditionalVersionWeights")

    rolled = lamed("rollback")
    assert rolled.exit_code == 0 and "version 2 → 1" in rolled.output
    assert alias(aws)["FunctionVersion"] == "1"
    twice = lamed("rollback")
    assert twice.exit_code == 1 and "no previous version" in twice.output


def test_rollback_drops_a_canary_in_progress(aws):
    configure()
    deployed()
    configure("--uuid-expiry-seconds", "3600")
    deployed("--canary", "0.5")
    assert alias(aws)["RoutingConfig"]["AdditionalVersionWeights"] == {"2": pytest.approx(0.005)}
    result = lamed("rollback")
    assert result.exit_code == 0 and "canary version 2 dropped" in result.output
    live = alias(aws)
    assert live["FunctionVersion"] == "1" and not live.get("RoutingConfig", {}).get("AdditionalVersionWeights")


def put_metrics(session, version: str, requests: int, errors: int) -> None:
    dimensions = [
        {"Name": "FunctionName", "Value": "lamed"},
        {"Name": "Resource", "Value": "lamed:live"},
        {"Name": "ExecutedVersion", "Value": version},
    ]
    session.client("cloudwatch").put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[
            {"MetricName": "Invocations", "Dimensions": dimensions, "Value": requests, "Unit": "Count"},
            {"MetricName": "Errors", "Dimensions": dimensions, "Value": errors, "Unit": "Count"},
            {"MetricName": "Duration", "Dimensions": dimensions, "Value": 12.5, "Unit": "Milliseconds"},
        ],
    )


def test_canary_status_and_guard_read_per_version_metrics(aws):
    configure()
    deployed()
    configure("--uuid-expiry-seconds", "3600")
    deployed("--canary", "20")
    put_metrics(aws, "1", requests=800, errors=4)
    put_metrics(aws, "2", requests=200, errors=1)

    status = lamed("canary", "status")
    lines = {line.split()[0]: line.split() for line in status.output.splitlines()[2:]}
    assert lines["1"][1:6] == ["stable", "80.0%", "800", "4", "0.50%"]
    assert lines["2"][1:6] == ["canary", "20.0%", "200", "1", "0.50%"]

    healthy = lamed("canary", "guard", "--threshold", "1")
    assert healthy.exit_code == 0 and "kept" in healthy.output
    assert alias(aws)["RoutingConfig"]["AdditionalVersionWeights"]

    put_metrics(aws, "2", requests=100, errors=20)
    guarded = lamed("canary", "guard", "--threshold", "1")
    assert guarded.exit_code == 0 and "dropped" in guarded.output, guarded.output
    assert not alias(aws).get("RoutingConfig", {}).get("AdditionalVersionWeights")


@pytest.mark.parametrize("percent", ["0", "0.05", "50.5", "100", "-3", "ten"])
def test_bad_canary_percentages_are_refused(aws, percent):
    configure()
    result = lamed("deploy", "--canary", percent)
    assert result.exit_code == 2
    assert "--canary" in result.output
    if percent != "ten":
        assert "must be a percentage from 0.1 to 50" in result.output
    assert aws.client("lambda").list_functions()["Functions"] == []


def test_canary_needs_a_live_version_and_new_code(aws):
    configure()
    first = lamed("deploy", "--canary", "5")
    assert first.exit_code == 1 and "has no 'live' alias yet" in first.output
    assert aws.client("lambda").list_functions()["Functions"] == []
    deployed()
    same = lamed("deploy", "--canary", "5")
    assert same.exit_code == 1 and "nothing new to canary" in same.output, same.output
