"""The Lambda side: execution role, function code and configuration,
immutable versions, and the ``live`` alias (with canary routing weights).

The alias description records the version it served before, as JSON
``{"previous": "N"}``: that is where ``lamed rollback`` goes back to."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, replace
from typing import Callable, Optional

from botocore.exceptions import ClientError

from lamed.core.settings import NEW_FUNCTION_ARCHITECTURE
from lamed.deploy.aws import Aws, AwsError, is_missing, paginate
from lamed.deploy.package import Bundle
from lamed.deploy.plan import ALIAS, LOGGING_CONFIG, DeployPlan, Names
from lamed.deploy.vpc import VPC_ACCESS, current_vpc, same_vpc, vpc_config

_TRUST_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)
_BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
# IAM is eventually consistent: a role or policy just made takes seconds to reach Lambda.
_NOT_YET_PROPAGATED = ("cannot be assumed", "does not have permissions to call CreateNetworkInterface")
_PROPAGATION_ATTEMPTS, _PROPAGATION_PAUSE_SECONDS = 8, 2


@dataclass(frozen=True)
class AliasState:
    version: str
    canary_version: Optional[str] = None
    canary_weight: float = 0.0
    previous: Optional[str] = None
    arn: str = ""


def ensure_role(aws: Aws, plan: DeployPlan) -> str:
    """The execution role, with the VPC access policy when the function is
    in a VPC (to create its network interfaces there)."""
    iam = aws.client("iam")
    role = plan.names.role
    try:
        arn = iam.get_role(RoleName=role)["Role"]["Arn"]
    except ClientError as error:
        if not is_missing(error):
            raise
        arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=_TRUST_POLICY)["Role"]["Arn"]
    wanted = {_BASIC_EXECUTION} | ({VPC_ACCESS} if plan.vpc and not plan.vpc.is_none else set())
    for policy in sorted(wanted - attached_policies(aws, plan.names)):
        iam.attach_role_policy(RoleName=role, PolicyArn=policy)
    return arn


def attached_policies(aws: Aws, names: Names) -> set[str]:
    iam = aws.client("iam")
    pages = paginate(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=names.role)
    return {policy["PolicyArn"] for policy in pages}


def with_architecture(aws: Aws, plan: DeployPlan) -> DeployPlan:
    """The plan with the architecture decided: the configured one, else the
    existing function's own (changed only by setting it), else arm64."""
    if plan.architecture is not None:
        return plan
    try:
        current = aws.client("lambda").get_function_configuration(FunctionName=plan.names.function)
    except ClientError as error:
        if not is_missing(error):
            raise
        return replace(plan, architecture=NEW_FUNCTION_ARCHITECTURE)
    return replace(plan, architecture=(current.get("Architectures") or ["x86_64"])[0])


def code_sha256(bundle: Bundle) -> str:
    """The digest as Lambda reports it (base64 of SHA-256)."""
    return base64.b64encode(bytes.fromhex(bundle.sha256)).decode("ascii")


def upload(aws: Aws, plan: DeployPlan, bundle: Bundle, role_arn: str) -> str:
    """Creates the function or updates its code and configuration if they
    differ. Returns "created", "updated" or "unchanged"."""
    client = aws.client("lambda")
    config = _function_config(plan, role_arn)
    try:
        current = client.get_function_configuration(FunctionName=plan.names.function)
    except ClientError as error:
        if not is_missing(error):
            raise
        _create_function(client, config, plan, bundle)
        return "created"
    changed = False
    if current.get("CodeSha256") != code_sha256(bundle) or current.get("Architectures") != [plan.architecture]:
        # The architecture goes with the code: its compiled parts are built for it.
        client.update_function_code(
            FunctionName=plan.names.function, ZipFile=bundle.data, Architectures=[plan.architecture]
        )
        _wait_updated(client, plan.names.function)
        changed = True
    if _config_differs(current, config):
        _while_iam_propagates(lambda: client.update_function_configuration(**config))
        _wait_updated(client, plan.names.function)
        changed = True
    return "updated" if changed else "unchanged"


def _function_config(plan: DeployPlan, role_arn: str) -> dict:
    """What update_function_configuration sets (the VPC only when configured:
    else a VPC set by hand stays)."""
    config = {
        "FunctionName": plan.names.function,
        "Runtime": plan.runtime,
        "Role": role_arn,
        "Handler": "app.handler",
        "MemorySize": plan.memory_mb,
        "Timeout": plan.timeout_seconds,
        "Environment": {"Variables": plan.environment},
        "Description": "Lamed A/B testing backend (lamed deploy)",
        "LoggingConfig": dict(LOGGING_CONFIG),
    }
    if plan.vpc is not None:
        config["VpcConfig"] = vpc_config(plan.vpc)
    return config


def _config_differs(current: dict, wanted: dict) -> bool:
    variables = current.get("Environment", {}).get("Variables", {})
    if "VpcConfig" in wanted and not same_vpc(current_vpc(current), current_vpc(wanted)):
        return True
    return (
        variables != wanted["Environment"]["Variables"]
        or not _logging_as_wanted(current)
        or any(current.get(key) != wanted[key] for key in ("Runtime", "Role", "Handler", "MemorySize", "Timeout"))
    )


def _logging_as_wanted(current: dict) -> bool:
    """Lambda answers with the log group too: only the levels and format are ours."""
    logging = current.get("LoggingConfig") or {}
    return all(logging.get(name) == value for name, value in LOGGING_CONFIG.items())


def _create_function(client, config: dict, plan: DeployPlan, bundle: Bundle) -> None:
    if plan.vpc is not None and plan.vpc.is_none:
        config = {key: value for key, value in config.items() if key != "VpcConfig"}
    _while_iam_propagates(
        lambda: client.create_function(
            **config, Architectures=[plan.architecture], Code={"ZipFile": bundle.data}, Publish=False
        )
    )
    # In a VPC, Pending until Lambda has made its network interfaces (a minute or two).
    client.get_waiter("function_active_v2").wait(FunctionName=config["FunctionName"])


def _while_iam_propagates(call: Callable[[], object]) -> None:
    """Retries ``call`` while Lambda does not yet see a new role or policy."""
    for attempt in range(_PROPAGATION_ATTEMPTS):
        try:
            call()
            return
        except ClientError as error:
            if not any(text in str(error) for text in _NOT_YET_PROPAGATED) or attempt == _PROPAGATION_ATTEMPTS - 1:
                raise
            time.sleep(_PROPAGATION_PAUSE_SECONDS)


def _wait_updated(client, function: str) -> None:
    client.get_waiter("function_updated_v2").wait(FunctionName=function)


def publish(aws: Aws, names: Names, bundle: Bundle) -> str:
    """A version for the current code and configuration: the existing one if
    a published version already has them (so redeploying changes nothing)."""
    client = aws.client("lambda")
    latest = client.get_function_configuration(FunctionName=names.function)
    for version in paginate(client, "list_versions_by_function", "Versions", FunctionName=names.function):
        if version["Version"] != "$LATEST" and _same_release(version, latest):
            return version["Version"]
    version = client.publish_version(FunctionName=names.function, CodeSha256=latest["CodeSha256"])["Version"]
    client.get_waiter("function_active_v2").wait(FunctionName=names.function, Qualifier=version)
    return version


def _same_release(version: dict, latest: dict) -> bool:
    # A version keeps the logging configuration it was published with.
    keys = ("CodeSha256", "Runtime", "Handler", "MemorySize", "Timeout", "Role", "Architectures", "LoggingConfig")
    same_env = version.get("Environment", {}).get("Variables") == latest.get("Environment", {}).get("Variables")
    return (
        same_env
        and same_vpc(current_vpc(version), current_vpc(latest))
        and all(version.get(key) == latest.get(key) for key in keys)
    )


def read_alias(aws: Aws, names: Names) -> Optional[AliasState]:
    try:
        alias = aws.client("lambda").get_alias(FunctionName=names.function, Name=ALIAS)
    except ClientError as error:
        if is_missing(error):
            return None
        raise
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    canary_version, canary_weight = next(iter(weights.items()), (None, 0.0))
    return AliasState(
        version=alias["FunctionVersion"],
        canary_version=canary_version,
        canary_weight=float(canary_weight),
        previous=_previous_from(alias.get("Description", "")),
        arn=alias["AliasArn"],
    )


def require_alias(aws: Aws, names: Names) -> AliasState:
    alias = read_alias(aws, names)
    if alias is None:
        raise AwsError(f"{names.function} has no '{ALIAS}' alias yet: run `lamed deploy` (without --canary) first")
    return alias


def _previous_from(description: str) -> Optional[str]:
    try:
        previous = json.loads(description).get("previous")
    except (ValueError, AttributeError):
        return None
    return str(previous) if previous else None


def point_alias(
    aws: Aws,
    names: Names,
    version: str,
    previous: Optional[str],
    canary: Optional[tuple[str, float]] = None,
) -> AliasState:
    """Points ``live`` at ``version``; ``canary`` is (version, weight 0-1) or None."""
    client = aws.client("lambda")
    weights = {canary[0]: round(canary[1], 5)} if canary else {}
    params = {
        "FunctionName": names.function,
        "Name": ALIAS,
        "FunctionVersion": version,
        "Description": json.dumps({"previous": previous}),
        "RoutingConfig": {"AdditionalVersionWeights": weights},
    }
    try:
        client.update_alias(**params)
    except ClientError as error:
        if not is_missing(error):
            raise
        client.create_alias(**params)
    return require_alias(aws, names)


def allow_invoke(aws: Aws, names: Names, statement_id: str, principal: str, source_arn: str) -> None:
    """Lets an AWS service invoke the alias; skipped if already allowed."""
    client = aws.client("lambda")
    try:
        policy = json.loads(client.get_policy(FunctionName=names.function, Qualifier=ALIAS)["Policy"])
        if any(statement.get("Sid") == statement_id for statement in policy.get("Statement", [])):
            return
    except ClientError as error:
        if not is_missing(error):
            raise
    client.add_permission(
        FunctionName=names.function,
        Qualifier=ALIAS,
        StatementId=statement_id,
        Action="lambda:InvokeFunction",
        Principal=principal,
        SourceArn=source_arn,
    )
