"""The function's VPC (ElastiCache answers only inside one): the subnets and
security groups are checked to exist and to share one VPC before Lambda is
told to use them, so a typo is one clear line, not a failed update.

What this cannot do for the operator: a function in a VPC reaches the
internet only through a NAT gateway of that VPC. Lamed needs none (it talks
to Redis only), but other code added to the function might."""

from __future__ import annotations

from lamed.deploy.aws import Aws, AwsError
from lamed.deploy.plan import Vpc

VPC_ACCESS = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"


def check_vpc(aws: Aws, vpc: Vpc) -> str:
    """The id of the one VPC that holds every subnet and security group."""
    ec2 = aws.client("ec2")
    subnets = ec2.describe_subnets(SubnetIds=list(vpc.subnet_ids))["Subnets"]
    groups = ec2.describe_security_groups(GroupIds=list(vpc.security_group_ids))["SecurityGroups"]
    vpcs = {subnet["VpcId"] for subnet in subnets} | {group["VpcId"] for group in groups}
    if len(vpcs) != 1:
        where = ", ".join(
            f"{item.get('SubnetId') or item.get('GroupId')} in {item['VpcId']}" for item in subnets + groups
        )
        raise AwsError(f"vpc_subnet_ids and vpc_security_group_ids must all be in one VPC: {where}")
    return vpcs.pop()


def current_vpc(configuration: dict) -> Vpc:
    """The function's VPC as Lambda reports it (order-free; empty when none)."""
    config = configuration.get("VpcConfig") or {}
    return Vpc(tuple(sorted(config.get("SubnetIds") or ())), tuple(sorted(config.get("SecurityGroupIds") or ())))


def vpc_config(vpc: Vpc) -> dict:
    """Lambda's VpcConfig; empty lists remove the function from its VPC."""
    return {"SubnetIds": list(vpc.subnet_ids), "SecurityGroupIds": list(vpc.security_group_ids)}


def same_vpc(a: Vpc, b: Vpc) -> bool:
    return (sorted(a.subnet_ids), sorted(a.security_group_ids)) == (sorted(b.subnet_ids), sorted(b.security_group_ids))
