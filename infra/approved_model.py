"""The FindApprovedModel Lambda: the SageMaker Pipeline's step that hands the Evaluate step the
currently Approved version's model, so both are scored on the same test windows
(``lambdas/approved_model``).

SageMaker Pipelines invokes it synchronously with the pipeline's execution role, which may
invoke this function and no other; no event source, so no retries or dead-letter queue: a
failure fails the step and the execution says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs

from forecasting.pipeline.steps import NO_APPROVED_MODEL_PREFIX
from infra.inference_layout import (
    APPROVED_MODEL_HANDLER,
    LAMBDA_ASSET_EXCLUDE,
    LAMBDA_RUNTIME,
    REPO_ROOT,
)
from infra.nag import CDK_GRANT_ACTIONS, acknowledge_wildcards, prefixed_objects, regional_arn
from infra.sagemaker_arns import list_model_packages, model_versions_arn
from infra.storage import removal_policy

if TYPE_CHECKING:
    from infra.sagemaker_pipeline import SageMakerPipelineConstruct

LOG_RETENTION = logs.RetentionDays.THREE_MONTHS  # as the project's other log groups


def find_approved_model_function(pipeline: SageMakerPipelineConstruct) -> lambda_.Function:
    """The function, its least-privilege role and log group, and the pipeline role's right to
    invoke it."""
    settings, storage = pipeline.settings, pipeline.storage
    name = settings.project_name
    group = name  # the model package group is named after the project
    description = f"{name}: find the approved model the pipeline's Evaluate step compares with"
    log_group = logs.LogGroup(
        pipeline,
        "FindApprovedModelLogs",
        retention=LOG_RETENTION,
        removal_policy=removal_policy(settings.removal_mode),
    )
    role = iam.Role(
        pipeline,
        "FindApprovedModelRole",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=description,
    )
    log_group.grant_write(role)
    function = lambda_.Function(
        pipeline,
        "FindApprovedModelFunction",
        description=description,
        runtime=LAMBDA_RUNTIME,
        handler=APPROVED_MODEL_HANDLER,
        code=lambda_.Code.from_asset(str(REPO_ROOT), exclude=LAMBDA_ASSET_EXCLUDE),
        role=role,
        timeout=Duration.seconds(30),
        memory_size=256,
        log_group=log_group,
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="DescribeVersions",
            actions=["sagemaker:DescribeModelPackage"],
            resources=[model_versions_arn(pipeline, group)],
        )
    )
    role.add_to_principal_policy(list_model_packages(pipeline, "FindApprovedVersion"))
    marker = f"{name}/{NO_APPROVED_MODEL_PREFIX}/*"
    storage.model_artifacts_bucket.grant_put(role, marker)
    pipeline.role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="InvokeFindApprovedModel",
            actions=["lambda:InvokeFunction"],
            resources=[function.function_arn],
        )
    )
    acknowledge_wildcards(
        role.node.find_child("DefaultPolicy").node.default_child,
        {
            **CDK_GRANT_ACTIONS,
            regional_arn("sagemaker", f"model-package/{group}/*"): "the versions of this "
            "project's model package group, described read-only",
            regional_arn("sagemaker", "model-package/*"): "sagemaker:ListModelPackages only, "
            "read-only: a listing names no one package group to scope it to",
            prefixed_objects(storage.model_artifacts_bucket, marker): "the pipeline's marker "
            "for no approved version, write-only",
        },
    )
    return function
