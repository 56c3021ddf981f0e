"""``lamed deploy`` end to end against moto server on loopback: function,
version, alias, REST API routes, API key + usage plan, warm-up schedule;
idempotence; canary weights, promote, rollback, guard; the VPC, the
architecture, and the Redis check from inside the function.

moto runs no function code: an invocation answers what the test queued,
which is the real handler's answer to the health payload, computed here
against a real redis-server (:func:`health_answer`)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner
from conftest import API_KEY
from deploy_support import AwsCalls, MotoServer, aws_environment

from lamed.cli.embedded import free_port
from lamed.cli.main import main
from lamed.core.settings import Settings, default_config_path
from lamed.web import runtime
from lamed.web.lambda_handler import handler

pytestmark = pytest.mark.slow
GATEWAY_KEY = API_KEY + "-gateway"  # API Gateway wants 20+ characters
# What the next deploy's invocation answers (the aws fixture sets it).
answers: dict = {}


def health_answer(redis_url: str) -> dict:
    """The handler's own answer to the health payload, with Redis at ``redis_url``."""
    runtime.install(Settings(redis_url=redis_url))
    try:
        return handler({"lamed-health": True}, None)
    finally:
        runtime.install(Settings())


@pytest.fixture
def calls(monkeypatch) -> AwsCalls:
    recorder = AwsCalls()
    recorder.install(monkeypatch)
    return recorder


@pytest.fixture
def aws(moto, monkeypatch, tmp_path, redis_url, calls):
    moto.reset()
    for name, value in aws_environment(moto.url, str(tmp_path)).items():
        monkeypatch.setenv(name, value)
    answers.update(server=moto, healthy=health_answer(redis_url))
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
    answers["server"].queue_lambda_answers(answers["healthy"])
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
    principals = {str(statement["Principal"]) for statement in policy["Statement"]}
    assert principals == {"*", "{'Service': 'apigateway.amazonaws.com'}", "{'Service': 'events.amazonaws.com'}"}

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


def make_vpc(session, subnets: int = 2) -> tuple[list[str], str]:
    """A VPC in moto's EC2 with ``subnets`` subnets and one security group."""
    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet_ids = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{n}.0/24")["Subnet"]["SubnetId"] for n in range(subnets)
    ]
    group = ec2.create_security_group(GroupName="lamed", Description="lamed", VpcId=vpc)["GroupId"]
    return subnet_ids, group


def vpc_of(session) -> tuple:
    config = session.client("lambda").get_function_configuration(FunctionName="lamed").get("VpcConfig") or {}
    return sorted(config.get("SubnetIds") or []), sorted(config.get("SecurityGroupIds") or [])


def role_policies(session) -> set:
    attached = session.client("iam").list_attached_role_policies(RoleName="lamed-lambda")["AttachedPolicies"]
    return {policy["PolicyName"] for policy in attached}


def test_deploy_into_a_vpc_is_idempotent_and_cleared_only_explicitly(aws):
    (first, second), group = make_vpc(aws)
    configure("--vpc-subnet-ids", f"{second},{first}", "--vpc-security-group-ids", group)
    plan = deployed("--dry-run")
    assert f"VPC: subnets {second}, {first}; security groups {group}" in plan
    assert "Lambda basic execution and VPC access" in plan and '{"lamed-health": true}' in plan

    output = deployed()
    assert vpc_of(aws) == (sorted([first, second]), [group])
    assert role_policies(aws) == {"AWSLambdaBasicExecutionRole", "AWSLambdaVPCAccessExecutionRole"}
    assert "Redis, checked from inside version 1: reachable, writable, maxmemory-policy noeviction" in output

    before = counts(aws)
    configure("--vpc-subnet-ids", f"{first},{second}")  # the same subnets, in another order
    assert "unchanged" in deployed() and counts(aws) == before and alias(aws)["FunctionVersion"] == "1"

    configure("--vpc-subnet-ids", first)  # a changed list is applied: a new version
    assert "VPC: subnets" in deployed()
    assert vpc_of(aws) == ([first], [group]) and alias(aws)["FunctionVersion"] == "2"

    config_path = Path(default_config_path())
    config = json.loads(config_path.read_text())
    for name in ("vpc_subnet_ids", "vpc_security_group_ids"):
        del config[name]  # not set any more: left as it is, never removed by accident
    config_path.write_text(json.dumps(config))
    assert "VPC: not configured" in deployed("--dry-run")
    assert "unchanged" in deployed()
    assert vpc_of(aws) == ([first], [group]) and alias(aws)["FunctionVersion"] == "2"

    configure("--no-vpc")  # cleared, explicitly: removed
    assert "VPC: none (both lists cleared)" in deployed("--dry-run")
    assert "VPC: none" in deployed()
    assert vpc_of(aws) == ([], []) and alias(aws)["FunctionVersion"] == "3"
    assert "unchanged" in deployed() and alias(aws)["FunctionVersion"] == "3"


def test_vpc_ids_that_do_not_fit_fail_before_any_change(aws):
    (subnet,), group = make_vpc(aws, subnets=1)
    (elsewhere,), _ = make_vpc(aws, subnets=1)
    configure("--vpc-subnet-ids", "subnet-0000000000000000", "--vpc-security-group-ids", group)
    missing = lamed("deploy")
    assert missing.exit_code == 1 and "InvalidSubnetID.NotFound" in missing.output, missing.output
    configure("--vpc-subnet-ids", f"{subnet},{elsewhere}")
    apart = lamed("deploy")
    assert apart.exit_code == 1 and "must all be in one VPC" in apart.output, apart.output
    assert aws.client("lambda").list_functions()["Functions"] == []


def test_arm64_deploy_sets_the_architecture_and_bundles_an_aarch64_hiredis(aws):
    from lamed.deploy.function import code_sha256
    from lamed.deploy.package import build_bundle

    configure("--architecture", "arm64")
    assert "python3." in deployed("--dry-run") and " on arm64" in deployed("--dry-run")
    assert "(arm64, " in deployed()
    function = aws.client("lambda").get_function_configuration(FunctionName="lamed")
    assert function["Architectures"] == ["arm64"]
    bundle = build_bundle("arm64")
    assert function["CodeSha256"] == code_sha256(bundle)  # the bundle that was uploaded...
    native = [name for name in bundle.names if name.endswith(".so")]
    assert native and all("aarch64" in name for name in native)  # ...carries hiredis for arm64

    configure("--architecture", "x86_64")  # a normal deploy: a new version, here as a canary
    assert "10% to version 2" in deployed("--canary", "10")
    assert aws.client("lambda").get_function_configuration(FunctionName="lamed")["CodeSha256"] == code_sha256(
        build_bundle("x86_64")
    )


def test_a_function_that_cannot_reach_redis_says_what_to_fix(aws, redis_url):
    unreachable = health_answer(f"redis://127.0.0.1:{free_port()}/0")
    configure()
    answers["server"].queue_lambda_answers(unreachable)
    failed = lamed("deploy")
    assert failed.exit_code == 1
    assert "Redis, checked from inside version 1: FAILED at tcp" in failed.output
    assert "fix: the function is in no VPC" in failed.output
    assert "no 'live' alias yet: nothing serves" in failed.output and "run `lamed deploy` again" in failed.output
    lambda_ = aws.client("lambda")
    assert lambda_.list_aliases(FunctionName="lamed")["Aliases"] == []  # nothing points at the failed version
    assert aws.client("apigateway").get_rest_apis()["items"] == []
    deployed()
    assert alias(aws)["FunctionVersion"] == "1"

    subnets, group = make_vpc(aws)
    configure("--vpc-subnet-ids", ",".join(subnets), "--vpc-security-group-ids", group)
    answers["server"].queue_lambda_answers(unreachable)
    in_vpc = lamed("deploy")
    assert in_vpc.exit_code == 1 and "security group: allow inbound TCP" in in_vpc.output
    assert group in in_vpc.output and "'live' stays on version 1" in in_vpc.output

    wrong_password = health_answer(redis_url.replace("redis://", "redis://:not-the-token@"))
    answers["server"].queue_lambda_answers(wrong_password)
    status = lamed("status")
    assert status.exit_code == 1 and "FAILED at handshake" in status.output and "fix: AUTH" in status.output

    silent = lamed("status")  # nothing queued: moto echoes the payload, which is no report
    assert silent.exit_code == 1 and "without a health report" in silent.output

    answers["server"].queue_lambda_answers(answers["healthy"])
    healthy = lamed("status")
    assert healthy.exit_code == 0, healthy.output
    assert "live: version 1" in healthy.output and "inside version 1: reachable, writable" in healthy.output
    assert "function URL: https://" in healthy.output and "(auth type NONE)" in healthy.output


def test_a_new_version_that_fails_the_redis_check_never_takes_traffic(aws, calls):
    """Issue 19 item 7: the new version is invoked by its number before the
    alias moves, for a full release and for a canary."""
    unreachable = health_answer(f"redis://127.0.0.1:{free_port()}/0")
    configure()
    deployed()
    configure("--uuid-expiry-seconds", "3600")  # new config: version 2
    for extra in ((), ("--canary", "10")):
        calls.clear()
        answers["server"].queue_lambda_answers(unreachable)
        failed = lamed("deploy", *extra)
        assert failed.exit_code == 1, failed.output
        assert "version 2 cannot use Redis: 'live' stays on version 1" in failed.output
        assert "FAILED at tcp" in failed.output and "fix: " in failed.output
        live = alias(aws)
        assert live["FunctionVersion"] == "1" and not live.get("RoutingConfig", {}).get("AdditionalVersionWeights")
        (invoked,) = calls.made("Invoke")
        assert invoked["Qualifier"] == "2"  # by its number, not through the alias
        assert calls.made("UpdateAlias", "CreateAlias") == []
    assert "10% to version 2" in deployed("--canary", "10")  # Redis reachable again: the canary starts


def test_deploy_puts_track_on_a_function_url_on_live(aws, calls):
    configure()
    plan = deployed("--dry-run")
    assert "function URL on lamed:live: auth type NONE, public invoke policy, CORS from the function" in plan
    output = deployed()
    lambda_ = aws.client("lambda")
    url = lambda_.get_function_url_config(FunctionName="lamed", Qualifier="live")
    assert url["AuthType"] == "NONE" and not url.get("Cors")  # CORS from the function only
    assert url["FunctionUrl"].startswith("https://") and ".lambda-url.us-east-1.on.aws" in url["FunctionUrl"]
    (created,) = calls.made("CreateFunctionUrlConfig")
    assert created == {"FunctionName": "lamed", "Qualifier": "live", "AuthType": "NONE"}
    track_url = url["FunctionUrl"].rstrip("/") + "/collect"  # the first extra track path
    assert f"Track URL (function URL): {track_url}" in output
    assert f'new AlephBet.LamedAdapter("{track_url}"' in output

    statements = {
        statement["Sid"]: statement
        for statement in json.loads(lambda_.get_policy(FunctionName="lamed", Qualifier="live")["Policy"])["Statement"]
    }
    assert statements["lamed-function-url"]["Action"] == "lambda:InvokeFunctionUrl"
    assert statements["lamed-function-url"]["Principal"] == "*"
    assert statements["lamed-function-url-invoke"]["Action"] == "lambda:InvokeFunction"
    public = [p for p in calls.made("AddPermission") if p["Principal"] == "*"]
    assert [(p["StatementId"], p["Qualifier"]) for p in public] == [
        ("lamed-function-url", "live"), ("lamed-function-url-invoke", "live"),
    ]  # fmt: skip
    assert public[0]["FunctionUrlAuthType"] == "NONE" and public[1]["InvokedViaFunctionUrl"] is True

    calls.clear()
    again = deployed()
    assert f"function URL {url['FunctionUrl']} on lamed:live (auth type NONE): unchanged" in again
    changing = {"CreateFunctionUrlConfig", "UpdateFunctionUrlConfig", "DeleteFunctionUrlConfig", "AddPermission",
                "RemovePermission", "PutFunctionConcurrency", "UpdateFunctionConfiguration", "UpdateFunctionCode",
                "PublishVersion", "UpdateAlias", "CreateLogGroup", "PutRetentionPolicy"}  # fmt: skip
    assert [name for name, _ in calls.calls if name in changing] == []

    snippet = lamed("snippet")
    assert snippet.exit_code == 0 and f"Track URL (function URL): {track_url}" in snippet.output
    assert f'"{track_url}"' in snippet.stdout

    configure("--track-endpoint", "rest_api")
    assert "function URL on lamed:live: removed if present" in deployed("--dry-run")
    removed = deployed()
    assert "function URL: removed (track_endpoint rest_api)" in removed
    with pytest.raises(lambda_.exceptions.ResourceNotFoundException):
        lambda_.get_function_url_config(FunctionName="lamed", Qualifier="live")
    policy = json.loads(lambda_.get_policy(FunctionName="lamed", Qualifier="live")["Policy"])
    assert not {"lamed-function-url", "lamed-function-url-invoke"} & {s["Sid"] for s in policy["Statement"]}
    assert "/api/collect" in removed.split("Track URL (REST API): ")[1].splitlines()[0]
    rest = lamed("snippet")
    assert "Track URL (REST API): https://" in rest.output and "/api/collect" in rest.stdout
    assert "function URL: none" in deployed()


def test_logging_concurrency_and_retention_are_set_idempotently(aws, calls):
    configure()
    plan = deployed("--dry-run")
    assert "logging: LogFormat JSON, ApplicationLogLevel WARN, SystemLogLevel WARN" in plan
    assert "log group /aws/lambda/lamed kept 30 days" in plan
    assert "reserved concurrency 5: at most 5 requests at a time" in plan
    output = deployed()
    (created,) = calls.made("CreateFunction")
    assert created["LoggingConfig"] == {"LogFormat": "JSON", "ApplicationLogLevel": "WARN", "SystemLogLevel": "WARN"}
    lambda_ = aws.client("lambda")
    assert lambda_.get_function_concurrency(FunctionName="lamed")["ReservedConcurrentExecutions"] == 5
    (group,) = aws.client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/lamed")["logGroups"]
    assert group["retentionInDays"] == 30
    assert "reserved concurrency 5: set" in output and "30 days retention, set" in output

    again = deployed()
    assert "reserved concurrency 5: unchanged" in again and "30 days retention, unchanged" in again

    lamed("configure", "--reserved-concurrency", "0", "--log-retention-days", "7")
    changed = deployed()
    assert "reserved concurrency: removed (was 5" in changed and "7 days retention, set" in changed
    assert "ReservedConcurrentExecutions" not in lambda_.get_function_concurrency(FunctionName="lamed")
    bad = lamed("configure", "--log-retention-days", "8")
    assert bad.exit_code != 0 and "log_retention_days must be one of" in bad.output


def test_an_account_without_room_for_the_reservation_deploys_and_says_so(monkeypatch, tmp_path, redis_url, calls):
    """Lambda keeps part of an account's concurrency unreserved (moto: 100 of
    its quota); an account at its limit cannot reserve any."""
    monkeypatch.setenv("MOTO_LAMBDA_CONCURRENCY_QUOTA", "104")
    server = MotoServer()
    try:
        for name, value in aws_environment(server.url, str(tmp_path)).items():
            monkeypatch.setenv(name, value)
        configure()
        server.queue_lambda_answers(health_answer(redis_url))
        result = lamed("deploy")
        assert result.exit_code == 0, result.output
        assert "reserved concurrency 5: NOT SET, the account's concurrency limit leaves no room" in result.output
    finally:
        server.stop()


def test_a_new_function_runs_on_arm64_and_an_existing_one_keeps_its_architecture(aws):
    configure()
    assert "on arm64 if new (an existing function keeps its architecture" in deployed("--dry-run")
    assert "(arm64, " in deployed()
    function = aws.client("lambda").get_function_configuration(FunctionName="lamed")
    assert function["Architectures"] == ["arm64"]

    aws.client("lambda").delete_function(FunctionName="lamed")  # an older deployment, made on x86_64
    configure("--architecture", "x86_64")
    deployed()
    config_path = Path(default_config_path())
    config = json.loads(config_path.read_text())
    del config["architecture"]  # an upgrade: the setting not set
    config_path.write_text(json.dumps(config))
    again = deployed()
    assert "(x86_64, " in again and "Lambda function lamed: unchanged" in again
    function = aws.client("lambda").get_function_configuration(FunctionName="lamed")
    assert function["Architectures"] == ["x86_64"]


def test_deploy_throttles_the_stage_idempotently_and_applies_a_change(aws):
    configure()
    first = deployed()
    assert "throttling 100 requests/s, burst 200, every route of stage 'api': set" in first
    client = aws.client("apigateway")
    (api,) = client.get_rest_apis()["items"]

    def throttling() -> tuple:
        settings = client.get_stage(restApiId=api["id"], stageName="api")["methodSettings"]["*/*"]
        return settings["throttlingRateLimit"], settings["throttlingBurstLimit"]

    assert throttling() == (100.0, 200)
    assert "burst 200, every route of stage 'api': unchanged" in deployed()
    assert lamed("configure", "--track-rate-limit", "50", "--track-burst-limit", "80").exit_code == 0
    assert "throttling 50 requests/s, burst 80" in lamed("deploy", "--dry-run").output
    assert "throttling 50 requests/s, burst 80, every route of stage 'api': set" in deployed()
    assert throttling() == (50.0, 80)
