"""The SageMaker role of the model and the Batch Transform job: read model and input, write
output, nothing more."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.nag import CDK_GRANT_ACTIONS, acknowledge_wildcards, prefixed_objects, regional_arn
from infra.sagemaker_pipeline import dlc_finding, grant_job_basics
from infra.storage import StorageConstruct


def transform_role(
    scope: Construct,
    *,
    project_name: str,
    storage: StorageConstruct,
    input_prefix: str,
    output_prefix: str,
) -> iam.Role:
    """What the model container and the transform job may do, and nothing more.

    Not the pipeline's role: that one may start processing and training jobs, register
    packages and write model artifacts, while this container runs with network access (it
    pip-installs the artifact's requirements) and needs only to read its model and input
    (``input_prefix`` of the data bucket) and write its output (``output_prefix`` of the
    forecasts bucket).
    """
    name = project_name
    role = iam.Role(
        scope,
        "TransformRole",
        assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
        description=f"{name}: SageMaker Model and Batch Transform jobs",
    )
    # The pipeline writes its outputs (model.tar.gz included) under s3://artifacts/{name}/.
    storage.model_artifacts_bucket.grant_read(role, f"{name}/*")
    storage.data_bucket.grant_read(role, f"{input_prefix}*")
    storage.forecasts_bucket.grant_put(role, f"{output_prefix}*")
    storage.key.grant_encrypt_decrypt(role)
    grant_job_basics(role, log_group_name="/aws/sagemaker/TransformJobs")
    acknowledge_wildcards(
        role.node.find_child("DefaultPolicy").node.default_child,
        {
            **CDK_GRANT_ACTIONS,
            prefixed_objects(storage.model_artifacts_bucket, f"{name}/*"): "this project's "
            "pipeline outputs, read-only, for the model artifact",
            prefixed_objects(storage.data_bucket, f"{input_prefix}*"): "the inference "
            "input prefix of the data bucket, read-only",
            prefixed_objects(storage.forecasts_bucket, f"{output_prefix}*"): "the "
            "transform output prefix of the forecasts bucket, write-only",
            regional_arn(
                "logs", "log-group:/aws/sagemaker/TransformJobs:log-stream:*"
            ): "the log streams of the log group Batch Transform jobs write to",
            dlc_finding(): "the AWS PyTorch deep learning container repositories of this "
            "region, pull actions only",
            "Resource::*": "ecr:GetAuthorizationToken and cloudwatch:PutMetricData take no "
            "resource; metrics are limited to the /aws/sagemaker namespaces",
        },
    )
    return role
