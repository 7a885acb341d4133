"""The forecasting stack: composes one construct per concern from typed settings."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from infra.sagemaker_pipeline import SageMakerPipelineConstruct
from infra.settings import Settings
from infra.storage import StorageConstruct


class ForecastingStack(Stack):
    """Everything `cdk deploy` provisions for the forecasting project.

    Later concerns (source + CI, SageMaker pipeline and registry, batch inference,
    QuickSight) are added as further constructs built from `settings`.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings
        Tags.of(self).add("project", settings.project_name)

        self.storage = self.setup_storage()
        self.pipeline = SageMakerPipelineConstruct(
            self, "SageMakerPipeline", settings=settings, storage=self.storage
        )
        self.setup_outputs()

    def setup_storage(self) -> StorageConstruct:
        return StorageConstruct(
            self,
            "Storage",
            project_name=self.settings.project_name,
            removal_mode=self.settings.removal_mode,
        )

    def setup_outputs(self) -> None:
        """Names a user (or the local CLI) needs after deploy to upload data and read results."""
        storage = self.storage
        CfnOutput(self, "DataBucketName", value=storage.data_bucket.bucket_name)
        CfnOutput(
            self, "ModelArtifactsBucketName", value=storage.model_artifacts_bucket.bucket_name
        )
        CfnOutput(self, "ForecastsBucketName", value=storage.forecasts_bucket.bucket_name)
        CfnOutput(self, "AccessLogsBucketName", value=storage.access_logs_bucket.bucket_name)
        CfnOutput(self, "DataKeyArn", value=storage.key.key_arn)
        CfnOutput(self, "PipelineName", value=self.pipeline.pipeline.pipeline_name)
        CfnOutput(
            self,
            "ModelPackageGroupName",
            value=self.pipeline.model_package_group.ref,
        )
