"""The SageMaker Pipeline, its model package group and its least-privilege execution role.

The definition comes from the same builder CodeBuild runs on every push
(:mod:`forecasting.pipeline.definition`); here it gets CloudFormation tokens for the role,
buckets, key and region, and a region -> container image mapping taken from the SageMaker
SDK's table, so one template deploys to any region the containers exist in.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from aws_cdk import ArnFormat, Aws, CfnMapping, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from forecasting.pipeline import definition, images
from forecasting.pipeline.definition import Images, Resources
from forecasting.pipeline.source import package_source
from infra.nag import (
    ASSETS_BUCKET,
    CDK_GRANT_ACTIONS,
    acknowledge_wildcards,
    bucket_objects,
    regional_arn,
)
from infra.settings import Settings
from infra.storage import StorageConstruct

MODEL_BUILD = Path(__file__).resolve().parent.parent / "model_build"
DLC_REPOSITORIES = "arn:aws:ecr:*:*:repository/pytorch-*"  # the AWS PyTorch DLCs
DATA_PREFIX = "input/"  # where users upload the data the pipeline trains on


def grant_job_basics(role: iam.Role, *, log_group_name: str) -> None:
    """What any SageMaker job's role needs: pull the AWS PyTorch images, write its logs and
    its metrics (in the /aws/sagemaker namespaces only)."""
    stack = Stack.of(role)
    role.add_to_policy(
        iam.PolicyStatement(
            sid="PullDeepLearningContainers",
            actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            resources=[DLC_REPOSITORIES],
        )
    )
    role.add_to_policy(
        iam.PolicyStatement(sid="EcrLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"])
    )
    role.add_to_policy(
        iam.PolicyStatement(
            sid="JobLogs",
            actions=[
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "logs:DescribeLogStreams",
            ],
            resources=[
                stack.format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=log_group_name,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
        )
    )
    role.add_to_policy(
        iam.PolicyStatement(
            sid="JobMetrics",
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
        )
    )


class SageMakerPipelineConstruct(Construct):
    """Pipeline + registry. Training code ships as a file asset (a deterministic
    ``sourcedir.tar.gz``): a directory asset would be zipped, and script mode wants a tarball."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        storage: StorageConstruct,
    ) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        self.storage = storage
        name = settings.project_name
        self.source_asset = self.setup_source_asset()
        self.role = self.setup_role()
        self.model_package_group = sagemaker.CfnModelPackageGroup(
            self,
            "ModelPackageGroup",
            model_package_group_name=name,
            model_package_group_description=f"{name}: forecasting models gated on "
            f"{settings.metric_name}, approved by a person",
        )
        self.resources = Resources(
            pipeline_name=name,
            role_arn=self.role.role_arn,
            artifacts_bucket=storage.model_artifacts_bucket.bucket_name,
            code_uri=self.source_asset.s3_object_url,
            kms_key_id=storage.key.key_arn,
            region=Aws.REGION,
            model_package_group=name,
            data_uri=f"s3://{storage.data_bucket.bucket_name}/{DATA_PREFIX}",
            images=self.setup_images(),
        )
        self.pipeline = sagemaker.CfnPipeline(
            self,
            "Pipeline",
            pipeline_name=name,
            pipeline_description=f"{name}: preprocess, train, evaluate, gate, register",
            role_arn=self.role.role_arn,
            pipeline_definition={
                "PipelineDefinitionBody": definition.render_definition(
                    settings.pipeline, self.resources
                )
            },
        )
        self.pipeline.add_resource_dependency(self.model_package_group)
        self.pipeline.node.add_dependency(self.role)

    def setup_source_asset(self) -> s3_assets.Asset:
        data, digest = package_source(MODEL_BUILD)
        path = Path(tempfile.gettempdir()) / f"forecasting-sourcedir-{digest[:16]}.tar.gz"
        if not path.exists():
            path.write_bytes(data)
        return s3_assets.Asset(self, "SourceBundle", path=str(path))

    def setup_images(self) -> Images:
        """Fn::FindInMap on a region table built from the SDK, not a hand-kept list."""
        pipeline = self.settings.pipeline
        table = {}
        for region in images.regions():
            found = definition.lookup_images(pipeline, region)
            table[region] = {
                "training": found.training,
                "processing": found.processing,
                "inference": found.inference,
            }
        mapping = CfnMapping(self, "ContainerImages", mapping=table)
        return Images(
            training=mapping.find_in_map(Aws.REGION, "training"),
            processing=mapping.find_in_map(Aws.REGION, "processing"),
            inference=mapping.find_in_map(Aws.REGION, "inference"),
        )

    def setup_role(self) -> iam.Role:
        """What the pipeline's jobs may do: their own buckets and key, their own job names,
        pass only this role, pull the AWS DLC images, write logs and metrics."""
        name = self.settings.project_name
        storage = self.storage
        stack = Stack.of(self)
        role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"{name}: SageMaker Pipeline and its jobs",
        )
        storage.data_bucket.grant_read(role)
        storage.model_artifacts_bucket.grant_read_write(role)
        storage.key.grant_encrypt_decrypt(role)
        self.source_asset.grant_read(role)

        def arn(resource: str) -> str:
            return stack.format_arn(service="sagemaker", resource=resource)

        role.add_to_policy(
            iam.PolicyStatement(
                sid="PipelineJobs",
                actions=[
                    "sagemaker:CreateProcessingJob",
                    "sagemaker:DescribeProcessingJob",
                    "sagemaker:StopProcessingJob",
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopTrainingJob",
                    "sagemaker:AddTags",
                ],
                # SageMaker names a pipeline's jobs pipelines-<execution>-<step>-<hash>
                resources=[arn("processing-job/pipelines-*"), arn("training-job/pipelines-*")],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="RegisterModels",
                actions=[
                    "sagemaker:CreateModelPackage",
                    "sagemaker:DescribeModelPackage",
                    "sagemaker:DescribeModelPackageGroup",
                    "sagemaker:AddTags",
                ],
                resources=[arn(f"model-package/{name}/*"), arn(f"model-package-group/{name}")],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PassOnlyItself",
                actions=["iam:PassRole"],
                resources=[role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        grant_job_basics(role, log_group_name="/aws/sagemaker/*")
        acknowledge_wildcards(
            role.node.find_child("DefaultPolicy").node.default_child,
            {
                **CDK_GRANT_ACTIONS,
                bucket_objects(storage.data_bucket): "objects of this project's data bucket",
                bucket_objects(storage.model_artifacts_bucket): "objects of this project's "
                "model-artifact bucket",
                ASSETS_BUCKET: "the CDK asset bucket, read-only, for the training code bundle",
                regional_arn("sagemaker", "processing-job/pipelines-*"): "the processing jobs "
                "SageMaker Pipelines names pipelines-<execution>-<step>",
                regional_arn("sagemaker", "training-job/pipelines-*"): "the training jobs "
                "SageMaker Pipelines names pipelines-<execution>-<step>",
                regional_arn("sagemaker", f"model-package/{name}/*"): "versions of this "
                "project's model package group only",
                regional_arn("logs", "log-group:/aws/sagemaker/*"): "the log groups SageMaker "
                "jobs write to",
                f"Resource::{DLC_REPOSITORIES}": "the AWS PyTorch deep learning container "
                "repositories, pull actions only",
                "Resource::*": "ecr:GetAuthorizationToken and cloudwatch:PutMetricData take no "
                "resource; metrics are limited to the /aws/sagemaker namespace",
            },
        )
        return role
