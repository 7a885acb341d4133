"""The publish Lambda: a finished transform job's output becomes the published data set, its
plots, report and manifests (``lambdas/publish``); failed jobs go to the notification topic."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_

from infra.inference_layout import (
    ACTUALS_KEY,
    FORECASTS_PREFIX,
    LAMBDA_RUNTIME,
    MANIFEST_KEY,
    PUBLISH_HANDLER,
    TRANSFORM_PREFIX,
    evaluation_objects,
)
from infra.lambda_layers import plotting_layer
from infra.nag import CDK_GRANT_ACTIONS, acknowledge_wildcards, prefixed_objects, regional_arn
from infra.sagemaker_arns import model_versions_arn

if TYPE_CHECKING:
    from infra.batch_inference import BatchInferenceConstruct


def publish_function(
    inference: BatchInferenceConstruct, quicksight_data_set_id: str | None
) -> lambda_.Function:
    """Reads a whole job's output and draws PNGs with matplotlib (the plotting layer): a
    full vCPU (1769 MB) and Lambda's longest timeout, so a large run finishes and a stuck
    one still ends."""
    storage = inference.storage
    data_set_arn = (
        Stack.of(inference).format_arn(
            service="quicksight", resource="dataset", resource_name=quicksight_data_set_id
        )
        if quicksight_data_set_id
        else None
    )
    environment = {
        "ACTUALS_URI": inference.actuals_uri,
        "FORECASTS_BUCKET": storage.forecasts_bucket.bucket_name,
        "FORECASTS_PREFIX": FORECASTS_PREFIX,
        "KMS_KEY_ID": storage.key.key_arn,
        "MODEL_PACKAGE_GROUP": inference.group_name,
        "NOTIFICATION_TOPIC_ARN": inference.topic.topic_arn,
        "QUICKSIGHT_MANIFEST_KEY": MANIFEST_KEY,
        # matplotlib writes its font cache there; /tmp is the only writable folder
        "MPLCONFIGDIR": "/tmp/matplotlib",
    }
    if data_set_arn:
        environment["QUICKSIGHT_DATA_SET_ARN"] = data_set_arn
    function = inference.setup_function(
        "PublishFunction",
        handler=PUBLISH_HANDLER,
        description="publish finished Batch Transform jobs",
        timeout=Duration.minutes(15),
        memory_size=1769,
        environment=environment,
    )
    function.add_layers(plotting_layer(inference, "PlottingLayer", LAMBDA_RUNTIME))
    role = function.role
    assert role is not None
    # The job output lies in the same bucket under transform/ (see the batch-transform
    # Lambda); the published data set, reports and manifests under forecasts/.
    storage.forecasts_bucket.grant_read(role, f"{TRANSFORM_PREFIX}*")
    storage.forecasts_bucket.grant_put(role, f"{FORECASTS_PREFIX}/*")
    # the actuals object only (List on the bucket tells "not uploaded yet" from "denied")
    storage.data_bucket.grant_read(role, ACTUALS_KEY)
    # The report's metrics: the version's package names its evaluation.json, which the
    # pipeline wrote under s3://artifacts/{name}/{execution}/.
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="DescribeModelVersions",
            actions=["sagemaker:DescribeModelPackage"],
            resources=[model_versions_arn(inference, inference.group_name)],
        )
    )
    evaluations = evaluation_objects(inference.settings.project_name)
    storage.model_artifacts_bucket.grant_read(role, evaluations)
    inference.topic.grant_publish(role)
    if data_set_arn:
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="RefreshSpice",
                actions=["quicksight:CreateIngestion"],
                # IAM authorizes CreateIngestion on the ingestion (dataset/ID/ingestion/ID).
                resources=[data_set_arn, f"{data_set_arn}/ingestion/*"],
            )
        )
    findings = {
        **CDK_GRANT_ACTIONS,
        prefixed_objects(storage.forecasts_bucket, f"{TRANSFORM_PREFIX}*"): "the Batch "
        "Transform output prefix of the forecasts bucket, read-only",
        prefixed_objects(storage.forecasts_bucket, f"{FORECASTS_PREFIX}/*"): "the published "
        "forecasts prefix of the forecasts bucket, write-only",
        regional_arn("sagemaker", f"model-package/{inference.group_name}/*"): "the versions of "
        "this project's model package group, read-only, for their registered metrics",
        prefixed_objects(storage.model_artifacts_bucket, evaluations): "the evaluation.json "
        "files of this project's pipeline executions, read-only",
    }
    if quicksight_data_set_id:
        findings[regional_arn("quicksight", f"dataset/{quicksight_data_set_id}/ingestion/*")] = (
            "the SPICE ingestions of this project's one QuickSight data set"
        )
    acknowledge_wildcards(role.node.find_child("DefaultPolicy").node.default_child, findings)
    return function
