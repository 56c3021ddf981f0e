"""Redis checked from inside the function: a direct invocation with the
health payload (``{"lamed-health": true}``, see lamed.web.lambda_handler),
answered by lamed.core.health from where the function runs, and turned
into lines for the operator that say what to fix."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

from botocore.exceptions import ClientError

from lamed.deploy.aws import Aws
from lamed.deploy.plan import HEALTH_INPUT, Names, Vpc
from lamed.web.lambda_handler import HEALTH_KEY


@dataclass(frozen=True)
class HealthCheck:
    """One version's answer: ``report`` is lamed.core.health's, or None
    when the function gave no report (``problem`` says why)."""

    qualifier: str
    report: Optional[dict] = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.report and self.report.get("ok"))


def check_from_inside(aws: Aws, names: Names, qualifier: str) -> HealthCheck:
    """Invokes version (or alias) ``qualifier`` with the health payload."""
    try:
        response = aws.client("lambda").invoke(
            FunctionName=names.function, Qualifier=qualifier, Payload=HEALTH_INPUT.encode("utf-8")
        )
    except ClientError as error:
        message = error.response.get("Error", {}).get("Message") or str(error)
        return HealthCheck(qualifier, problem=f"could not invoke {names.function}:{qualifier}: {message}")
    payload = response["Payload"].read().decode("utf-8", "replace")
    if response.get("FunctionError"):
        return HealthCheck(qualifier, problem=f"the function failed: {_error_message(payload)}")
    try:
        answer = json.loads(payload)
    except ValueError:
        answer = None
    report = answer.get(HEALTH_KEY) if isinstance(answer, dict) else None
    if not isinstance(report, dict):
        return HealthCheck(
            qualifier, problem=f"the function answered without a health report ({payload[:120]!r}): redeploy it"
        )
    return HealthCheck(qualifier, report)


def _error_message(payload: str) -> str:
    try:
        error = json.loads(payload)
        return f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}"
    except (ValueError, AttributeError):
        return payload[:300]


def describe_health(check: HealthCheck, vpc: Optional[Vpc]) -> list[str]:
    """The answer as lines: what Redis looks like from the function, or
    what failed and what to fix (``vpc``: the function's, for the hints)."""
    where = f"Redis, checked from inside version {check.qualifier}"
    if check.report is None:
        return [f"{where}: no answer: {check.problem}"]
    report = check.report
    if check.ok:
        policy = report.get("maxmemory_policy") or "unknown"
        note = f" ({report['memory_problems']})" if report.get("memory_problems") else ""
        tls = ", TLS" if report.get("tls") else ""
        return [
            f"{where}: reachable, writable, maxmemory-policy {policy}{note}, "
            f"{report.get('round_trip_ms', 0):.2f} ms round trip ({report.get('redis')}{tls})"
        ]
    failed = report.get("failed", "?")
    return [
        f"{where}: FAILED at {failed}: {report.get('error', '')}",
        f"  fix: {fix_hint(report, vpc)}",
    ]


def fix_hint(report: dict, vpc: Optional[Vpc]) -> str:
    cause, failed = report.get("cause"), report.get("failed")
    redis = report.get("redis", "Redis")
    in_vpc = vpc is not None and not vpc.is_none
    port = str(redis).rpartition(":")[2] or "6379"
    if cause in ("timeout", "refused") and failed == "tcp":
        if not in_vpc:
            return (
                f"the function is in no VPC and cannot reach {redis}; ElastiCache answers only inside its VPC: "
                "`lamed configure --vpc-subnet-ids ... --vpc-security-group-ids ...` with the cache's VPC"
            )
        groups = ", ".join(vpc.security_group_ids) if vpc else ""
        return (
            f"security group: allow inbound TCP {port} on the cache's security group from {groups}; "
            f"subnet: use subnets of the cache's VPC ({', '.join(vpc.subnet_ids) if vpc else ''}) whose "
            "network ACLs and route tables reach it"
        )
    if cause == "dns":
        return f"the host of redis_url does not resolve from the function: copy the cache's endpoint ({redis})"
    if cause == "tls" or (cause in ("timeout", "closed") and failed in ("handshake", "ping")):
        if report.get("tls"):
            return (
                "TLS: use rediss:// only if the cache has in-transit encryption on; a private CA needs "
                "?ssl_ca_certs=..."
            )
        return "TLS: the cache has in-transit encryption on: use rediss:// in redis_url"
    if cause == "auth":
        return "AUTH: put the cache's AUTH token (or user and password) in redis_url: rediss://:TOKEN@host:6379/0"
    if cause == "readonly":
        return "redis_url names a read replica: use the cache's primary endpoint"
    if cause == "oom":
        return "the cache is full and refuses writes: give it more memory (Lamed needs maxmemory-policy noeviction)"
    if cause == "config":
        return "correct the setting with `lamed configure`, then `lamed deploy`"
    return "check redis_url and the cache's state; `lamed status` checks again"
