"""What ``lamed deploy`` will create or update, computed from the settings
alone (no AWS calls), so ``--dry-run`` can print it anywhere."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from typing import Optional

from lamed.core.settings import NEW_FUNCTION_ARCHITECTURE, Settings
from lamed.deploy.routes import ApiRoute, api_routes
from lamed.web.lambda_handler import HEALTH_KEY, WARMUP_KEY

ALIAS = "live"
STAGE = "api"
WARMUP_SCHEDULE = "rate(5 minutes)"
WARMUP_INPUT = json.dumps({WARMUP_KEY: True})
HEALTH_INPUT = json.dumps({HEALTH_KEY: True})
CANARY_MIN, CANARY_MAX = 0.1, 50.0
LAMBDA_RUNTIMES = ("3.11", "3.12", "3.13")
# Settings that configure the operator's side or the function's AWS
# configuration, not the code: the function never reads them.
_NOT_FOR_LAMBDA = {
    "aws_region",
    "extra",
    "vpc_subnet_ids",
    "vpc_security_group_ids",
    "architecture",
    "track_endpoint",
    "reserved_concurrency",
    "log_retention_days",
}
# The function's logs: JSON, so that Lambda filters by level; the system's
# START, END and REPORT lines (about 300 bytes an invocation, most of the
# bill a function URL leaves) are INFO, so an event that went well writes
# nothing; warnings (Redis unavailable) and errors are kept.
LOGGING_CONFIG = {"LogFormat": "JSON", "ApplicationLogLevel": "WARN", "SystemLogLevel": "WARN"}
# The function is configured by env vars only: never read a stray config file.
_NO_CONFIG_FILE = "/var/task/.lamed-no-config-file.json"


class PlanError(ValueError):
    """The settings cannot be deployed; the message says what to fix."""


@dataclass(frozen=True)
class Names:
    """AWS resource names, all derived from one deployment name."""

    base: str

    @property
    def function(self) -> str:
        return self.base

    @property
    def role(self) -> str:
        return f"{self.base}-lambda"

    @property
    def rule(self) -> str:
        return f"{self.base}-warmup"

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.function}"


@dataclass(frozen=True)
class Vpc:
    """The function's VPC: both lists set, or both empty (no VPC)."""

    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]

    @property
    def is_none(self) -> bool:
        return not self.subnet_ids


@dataclass(frozen=True)
class Throttle:
    """API Gateway stage throttling: one limit for every client together."""

    rate_per_second: float
    burst: int

    def describe(self) -> str:
        return f"throttling {self.rate_per_second:g} requests/s, burst {self.burst}, every route of stage '{STAGE}'"


@dataclass(frozen=True)
class DeployPlan:
    names: Names
    region: str
    runtime: str
    routes: tuple[ApiRoute, ...]
    environment: dict
    canary_percent: Optional[float] = None
    memory_mb: int = 256
    timeout_seconds: int = 10
    # None: NEW_FUNCTION_ARCHITECTURE for a new function, an existing one keeps its own.
    architecture: Optional[str] = Settings._field_defaults["architecture"]
    track_endpoint: str = Settings._field_defaults["track_endpoint"]
    reserved_concurrency: int = Settings._field_defaults["reserved_concurrency"]
    log_retention_days: int = Settings._field_defaults["log_retention_days"]
    # None: the VPC settings are not set, and a VPC set by hand is left as it is.
    vpc: Optional[Vpc] = None
    throttle: Throttle = Throttle(
        Settings._field_defaults["track_rate_limit"], Settings._field_defaults["track_burst_limit"]
    )


def deploy_names(settings: Settings) -> Names:
    """The deployment name is ``deploy_name`` in the config file (default ``lamed``)."""
    base = str(settings.extra.get("deploy_name") or "lamed")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,39}", base):
        raise PlanError(f"deploy_name {base!r} must be 1-40 letters, digits or '-', starting with a letter")
    return Names(base)


def check_canary(percent: float) -> float:
    if not CANARY_MIN <= percent <= CANARY_MAX:
        raise PlanError(f"--canary must be a percentage from {CANARY_MIN} to {CANARY_MAX:g}, got {percent:g}")
    return percent


def build_plan(settings: Settings, region: str, canary_percent: Optional[float] = None) -> DeployPlan:
    if not settings.redis_url:
        raise PlanError("no redis_url configured: run `lamed configure --redis-url redis://...`")
    if not settings.api_key:  # its length is checked with the settings (MIN_API_KEY_CHARS)
        raise PlanError("no api_key configured: run `lamed configure --new-api-key`")
    return DeployPlan(
        names=deploy_names(settings),
        region=region,
        runtime=lambda_runtime(),
        routes=tuple(api_routes(settings.track_paths)),
        environment=lambda_environment(settings),
        canary_percent=None if canary_percent is None else check_canary(canary_percent),
        architecture=settings.architecture,
        track_endpoint=settings.track_endpoint,
        reserved_concurrency=settings.reserved_concurrency,
        log_retention_days=settings.log_retention_days,
        vpc=wanted_vpc(settings),
        throttle=Throttle(settings.track_rate_limit, settings.track_burst_limit),
    )


def wanted_vpc(settings: Settings) -> Optional[Vpc]:
    """The VPC the settings ask for; both lists are checked together with the settings."""
    if settings.vpc_subnet_ids is None and settings.vpc_security_group_ids is None:
        return None
    return Vpc(tuple(settings.vpc_subnet_ids or ()), tuple(settings.vpc_security_group_ids or ()))


def lambda_runtime(version: tuple = sys.version_info[:2]) -> str:
    """The function runs on the Lambda runtime of this interpreter: the
    bundle's bytecode and its hiredis wheel are for this version."""
    wanted = "{}.{}".format(*version)
    if wanted not in LAMBDA_RUNTIMES:
        raise PlanError(f"Python {wanted} has no Lambda runtime; deploy with one of {', '.join(LAMBDA_RUNTIMES)}")
    return f"python{wanted}"


def lambda_environment(settings: Settings) -> dict:
    """LAMED_* variables for every setting that is set: the function reads no file."""
    environment = {"LAMED_CONFIG": _NO_CONFIG_FILE}
    for name, value in settings._asdict().items():
        if name in _NOT_FOR_LAMBDA or value is None:
            continue
        text = ",".join(value) if isinstance(value, tuple) else str(value)
        environment[f"LAMED_{name.upper()}"] = text
    return environment


def describe(plan: DeployPlan) -> list[str]:
    """The plan as lines for ``--dry-run``; secrets are not shown."""
    names = plan.names
    release = (
        f"publish a new version and route {plan.canary_percent:g}% of alias '{ALIAS}' to it"
        if plan.canary_percent is not None
        else f"publish a new version (if the code or config changed) and point alias '{ALIAS}' at it"
    )
    policies = "Lambda basic execution" + ("" if plan.vpc is None or plan.vpc.is_none else " and VPC access")
    logging = ", ".join(f"{name} {value}" for name, value in LOGGING_CONFIG.items())
    lines = [
        f"region {plan.region}",
        f"IAM role {names.role} ({policies}), created if missing",
        f"Lambda function {names.function}: {plan.runtime} on {describe_architecture(plan.architecture)}, "
        f"handler app.handler, {plan.memory_mb} MB, {plan.timeout_seconds} s, "
        f"env {', '.join(sorted(plan.environment))}",
        f"logging: {logging} (an event that went well writes no log line); log group {names.log_group} "
        f"kept {plan.log_retention_days} days",
        describe_vpc(plan.vpc),
        f"invokes the new version with {HEALTH_INPUT} (Redis checked from inside the function) before '{ALIAS}' "
        "moves: if that fails, nothing else changes",
        release,
        f"REST API {names.base}, stage '{STAGE}', every route proxied to {names.function}:{ALIAS}:",
    ]
    for route in plan.routes:
        methods = ", ".join(m + (" (API key)" if route.is_protected(m) else "") for m in route.methods)
        lines.append(f"  {route.path}  {methods}")
    lines += [
        plan.throttle.describe(),
        f"API key {names.base} (the configured api_key) in usage plan {names.base}",
        describe_track_endpoint(plan),
        describe_concurrency(plan.reserved_concurrency),
        f"EventBridge rule {names.rule}: {WARMUP_SCHEDULE} invokes {names.function}:{ALIAS} with {WARMUP_INPUT}",
        f"CloudWatch dashboard {names.base}: Lamed's metrics by version (written only if it changed)",
    ]
    return lines


def describe_architecture(architecture: Optional[str]) -> str:
    if architecture is not None:
        return architecture
    return (
        f"{NEW_FUNCTION_ARCHITECTURE} if new (an existing function keeps its architecture: "
        "set architecture to change it)"
    )


def describe_track_endpoint(plan: DeployPlan) -> str:
    if plan.track_endpoint == "rest_api":
        return (
            f"function URL on {plan.names.function}:{ALIAS}: removed if present (track_endpoint rest_api: "
            f"snippets use the REST API's /track)"
        )
    return (
        f"function URL on {plan.names.function}:{ALIAS}: auth type NONE, public invoke policy, CORS from the "
        "function; snippets use it for /track (track_endpoint function_url; the REST API's /track stays)"
    )


def describe_concurrency(reserved: int) -> str:
    if not reserved:
        return "reserved concurrency: none (reserved_concurrency 0): the account's limit is the only bound"
    return f"reserved concurrency {reserved}: at most {reserved} requests at a time reach the function and Redis"


def describe_vpc(vpc: Optional[Vpc]) -> str:
    if vpc is None:
        return "VPC: not configured (vpc_subnet_ids unset): a VPC set on the function by hand is left as it is"
    if vpc.is_none:
        # The VPC access policy stays on the role: Lambda uses it to delete the function's network interfaces.
        return "VPC: none (both lists cleared): the function's VPC config is removed"
    return f"VPC: subnets {', '.join(vpc.subnet_ids)}; security groups {', '.join(vpc.security_group_ids)}"
