"""The SageMaker resources the stack's roles are granted, named once for every construct."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct


def sagemaker_arn(scope: Construct, resource: str) -> str:
    """``arn:<partition>:sagemaker:<region>:<account>:<resource>`` of the scope's stack; the
    one helper for the SageMaker resources that the stack's roles are granted."""
    return Stack.of(scope).format_arn(service="sagemaker", resource=resource)


def model_versions_arn(scope: Construct, group: str) -> str:
    """Every version of the model package group ``group``: what DescribeModelPackage and
    UpdateModelPackage are granted on."""
    return sagemaker_arn(scope, f"model-package/{group}/*")


def list_model_packages(scope: Construct, sid: str) -> iam.PolicyStatement:
    """ListModelPackages, to find the latest approved version. The Service Authorization
    Reference authorizes it on the model-package resource type; a listing names no one group."""
    return iam.PolicyStatement(
        sid=sid,
        actions=["sagemaker:ListModelPackages"],
        resources=[sagemaker_arn(scope, "model-package/*")],
    )
