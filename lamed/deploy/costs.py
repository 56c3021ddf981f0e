"""What bounds the function's bill besides its code: reserved concurrency
(the throttle of the function URL, which API Gateway's stage throttling does
not cover) and the retention of its log group. The function's logging
configuration goes with its other configuration (lamed.deploy.function).

Each step is idempotent and returns a line for the operator."""

from __future__ import annotations

from botocore.exceptions import ClientError

from lamed.deploy.aws import Aws, paginate
from lamed.deploy.plan import DeployPlan, Names

# Lambda keeps this many executions of an account unreserved; a reservation
# that would leave fewer is refused.
ACCOUNT_UNRESERVED_MINIMUM = 10


def ensure_concurrency(aws: Aws, names: Names, reserved: int) -> str:
    """Sets (or with 0 removes) the function's reserved concurrency."""
    client = aws.client("lambda")
    current = client.get_function_concurrency(FunctionName=names.function).get("ReservedConcurrentExecutions")
    if not reserved:
        if current is None:
            return "reserved concurrency: none (reserved_concurrency 0; the account's limit is the only bound)"
        client.delete_function_concurrency(FunctionName=names.function)
        return f"reserved concurrency: removed (was {current}; the account's limit is the only bound)"
    if current == reserved:
        return f"reserved concurrency {reserved}: unchanged"
    try:
        client.put_function_concurrency(FunctionName=names.function, ReservedConcurrentExecutions=reserved)
    except ClientError as error:
        if "UnreservedConcurrentExecution" not in str(error):
            raise
        # A new account's limit is often 10, all of which must stay unreserved:
        # then that limit, shared with the account's other functions, is the bound.
        return (
            f"reserved concurrency {reserved}: NOT SET, the account's concurrency limit leaves no room for it "
            f"(Lambda keeps {ACCOUNT_UNRESERVED_MINIMUM} unreserved); the account's limit bounds the function "
            "instead: ask AWS for a higher limit (Service Quotas, 'Concurrent executions'), then deploy again"
        )
    return f"reserved concurrency {reserved}: set" + (f" (was {current})" if current is not None else "")


def ensure_log_retention(aws: Aws, plan: DeployPlan) -> str:
    """The log group, made now if the function has not logged yet, keeps its
    lines ``plan.log_retention_days`` days."""
    logs = aws.client("logs")
    group = plan.names.log_group
    found = [g for g in paginate(logs, "describe_log_groups", "logGroups", logGroupNamePrefix=group)]
    current = next((g for g in found if g["logGroupName"] == group), None)
    if current is None:
        try:
            logs.create_log_group(logGroupName=group)
        except ClientError as error:  # the function logged its first line in between
            if error.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
                raise
    elif current.get("retentionInDays") == plan.log_retention_days:
        return f"log group {group}: {plan.log_retention_days} days retention, unchanged"
    logs.put_retention_policy(logGroupName=group, retentionInDays=plan.log_retention_days)
    return f"log group {group}: {plan.log_retention_days} days retention, set"
