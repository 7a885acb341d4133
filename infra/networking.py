"""Private networking: the jobs' and the transform's VPC, when cdk.json names one.

With ``subnetIds`` and ``securityGroupIds`` set, every SageMaker job the pipeline runs and the
batch transform get a ``VpcConfig`` (the CodeBuild runner and the batch-transform Lambda read
the ids from their environment), and the roles they run as may manage the network interfaces
SageMaker attaches in those subnets. The stack creates no VPC and no endpoints: the README's
"Container dependencies" section lists the endpoints the subnets need.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam

from infra.nag import acknowledge_wildcards
from infra.settings import InfrastructureSettings

# What a SageMaker execution role needs for a job in a VPC (SageMaker developer guide, "Give
# SageMaker AI training jobs access to resources in your Amazon VPC": execution role
# permissions); SageMaker creates the interfaces, so their ARNs are unknown beforehand.
VPC_JOB_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface",
    "ec2:DeleteNetworkInterfacePermission",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
]


def vpc_environment(settings: InfrastructureSettings) -> dict[str, str]:
    """SUBNET_IDS and SECURITY_GROUP_IDS (comma-separated) when a VPC is configured."""
    if not settings.subnet_ids:
        return {}
    return {
        "SUBNET_IDS": ",".join(settings.subnet_ids),
        "SECURITY_GROUP_IDS": ",".join(settings.security_group_ids),
    }


def grant_vpc_access(role: iam.Role, settings: InfrastructureSettings) -> None:
    """Let SageMaker attach the role's jobs to the configured subnets (nothing without a VPC)."""
    if not settings.subnet_ids:
        return
    role.add_to_policy(
        iam.PolicyStatement(sid="JobNetworkInterfaces", actions=VPC_JOB_ACTIONS, resources=["*"])
    )
    acknowledge_wildcards(
        role.node.find_child("DefaultPolicy").node.default_child,
        {
            "Resource::*": "SageMaker creates the jobs' network interfaces in the configured "
            "subnets; their ARNs are not known beforehand, and the Describe calls take no resource"
        },
    )
