"""Approval evidence: on registration, the comparison Lambda puts the new version's test metrics
beside the approved version's into the registry entry and a page (``lambdas/comparison``).

Built in the batch-inference construct's scope, with its function factory, dead-letter queue and
target settings: one failure path for every event-driven Lambda of the project.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_

from infra.inference_layout import COMPARISON_HANDLER, evaluation_objects
from infra.nag import CDK_GRANT_ACTIONS, acknowledge_wildcards, prefixed_objects, regional_arn
from infra.sagemaker_arns import list_model_packages, model_versions_arn
from lambdas.batch_transform.events import DETAIL_TYPE, PENDING, SOURCE
from lambdas.comparison.comparison import REPORT_FOLDER

if TYPE_CHECKING:
    from infra.batch_inference import BatchInferenceConstruct


def approval_evidence(
    inference: BatchInferenceConstruct, forecasts_prefix: str
) -> tuple[lambda_.Function, events.Rule]:
    """The comparison Lambda, its role and the registration rule that invokes it."""
    settings, storage, group = inference.settings, inference.storage, inference.group_name
    report_prefix = f"{forecasts_prefix}/{REPORT_FOLDER}"
    function = inference.setup_function(
        "ComparisonFunction",
        handler=COMPARISON_HANDLER,
        description="compare newly registered versions with the approved one",
        timeout=Duration.minutes(1),
        memory_size=256,
        environment={
            "MODEL_PACKAGE_GROUP": group,
            "REPORT_BUCKET": storage.forecasts_bucket.bucket_name,
            "FORECASTS_PREFIX": forecasts_prefix,
            "KMS_KEY_ID": storage.key.key_arn,
        },
    )
    role = function.role
    assert role is not None
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="ReadAndAnnotateVersions",
            actions=["sagemaker:DescribeModelPackage", "sagemaker:UpdateModelPackage"],
            resources=[model_versions_arn(inference, group)],
        )
    )
    role.add_to_principal_policy(list_model_packages(inference, "FindApprovedVersion"))
    evaluations = evaluation_objects(settings.project_name)
    storage.model_artifacts_bucket.grant_read(role, evaluations)
    storage.forecasts_bucket.grant_put(role, f"{report_prefix}/*")
    acknowledge_wildcards(
        role.node.find_child("DefaultPolicy").node.default_child,
        {
            **CDK_GRANT_ACTIONS,
            regional_arn("sagemaker", f"model-package/{group}/*"): "the versions of this "
            "project's model package group: read their evaluations, write the comparison "
            "into their metadata",
            regional_arn("sagemaker", "model-package/*"): "sagemaker:ListModelPackages only, "
            "read-only: a listing names no one package group to scope it to",
            prefixed_objects(storage.model_artifacts_bucket, evaluations): "the "
            "evaluation.json files of this project's pipeline executions, read-only",
            prefixed_objects(storage.forecasts_bucket, f"{report_prefix}/*"): "the approval "
            "evidence folder of the forecasts bucket, write-only",
        },
    )
    rule = registration_rule(
        inference, "ModelRegisteredRule", function, "comparison with the approved one"
    )
    return function, rule


def registration_rule(
    inference: BatchInferenceConstruct, rule_id: str, function: lambda_.IFunction, action: str
) -> events.Rule:
    """An EventBridge rule that sends each registration of a version in the project's group
    (its state change to PendingManualApproval: nothing returns to pending) to ``function``."""
    rule = events.Rule(
        inference,
        rule_id,
        description=f"{inference.settings.project_name}: registered model version -> {action}",
        event_pattern=events.EventPattern(
            source=[SOURCE],
            detail_type=[DETAIL_TYPE],
            detail={
                "ModelPackageGroupName": [inference.group_name],
                "ModelApprovalStatus": [PENDING],
            },
        ),
    )
    rule.add_target(inference.lambda_target(function))
    return rule
