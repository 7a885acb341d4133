"""The forecasting stack: composes one construct per concern from typed settings."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from infra.accuracy import AccuracyConstruct
from infra.batch_inference import FORECASTS_PREFIX, MANIFEST_KEY, BatchInferenceConstruct
from infra.mlflow_tracking import MlflowTrackingConstruct
from infra.networking import grant_vpc_access
from infra.quicksight import QuickSightConstruct
from infra.sagemaker_pipeline import SageMakerPipelineConstruct
from infra.settings import InfrastructureSettings
from infra.source_pipeline import SourcePipelineConstruct
from infra.storage import StorageConstruct


class ForecastingStack(Stack):
    """Everything `cdk deploy` provisions for the forecasting project: storage, the SageMaker
    Pipeline and registry, the source repository with the CodePipeline that runs it on every
    push, the approval-to-forecast automation and, when configured, QuickSight."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: InfrastructureSettings,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings
        Tags.of(self).add("project", settings.project_name)

        self.storage = self.setup_storage()
        self.pipeline = SageMakerPipelineConstruct(
            self, "SageMakerPipeline", settings=settings, storage=self.storage
        )
        self.mlflow_tracking = self.setup_mlflow_tracking()
        self.source_pipeline = SourcePipelineConstruct(
            self,
            "SourcePipeline",
            settings=settings,
            storage=self.storage,
            sagemaker_pipeline=self.pipeline,
        )
        self.quicksight = self.setup_quicksight()
        self.batch_inference = BatchInferenceConstruct(
            self,
            "BatchInference",
            settings=settings,
            storage=self.storage,
            pipeline=self.pipeline,
            quicksight_data_set_id=self.quicksight.data_set_id if self.quicksight else None,
        )
        self.execution_ended_rule = self.pipeline.notify_execution_end(self.batch_inference.topic)
        self.run_tagging_function = (
            self.mlflow_tracking.tag_registered_runs(self.batch_inference)[0]
            if self.mlflow_tracking
            else None
        )
        # the transform runs the registered model's image: the project inference image
        self.source_pipeline.image_repository.grant_pull(self.batch_inference.transform_role)
        for role in (self.pipeline.role, self.batch_inference.transform_role):
            grant_vpc_access(role, settings)
        self.batch_inference.allow_service_to_publish("EventBridgeRules", "events", "rule/*")
        self.accuracy = AccuracyConstruct(
            self,
            "Accuracy",
            settings=settings,
            storage=self.storage,
            pipeline=self.pipeline,
            batch_inference=self.batch_inference,
        )
        self.setup_outputs()

    def setup_mlflow_tracking(self) -> MlflowTrackingConstruct | None:
        """The tracking server (``mlflowTracking``): the jobs may record runs in it and the
        runner puts its ARN into the definition."""
        if self.settings.mlflow_tracking is None:
            return None
        tracking = MlflowTrackingConstruct(
            self, "MlflowTracking", settings=self.settings, storage=self.storage
        )
        tracking.grant_tracking(self.pipeline.role)
        self.pipeline.mlflow_tracking_server_arn = tracking.tracking_server_arn
        return tracking

    def setup_storage(self) -> StorageConstruct:
        return StorageConstruct(
            self,
            "Storage",
            project_name=self.settings.project_name,
            removal_mode=self.settings.removal_mode,
        )

    def setup_quicksight(self) -> QuickSightConstruct | None:
        """Only with a principal to own it: QuickSight is an account-level opt-in."""
        principal = self.settings.quicksight_principal_arn
        if principal is None:
            return None
        return QuickSightConstruct(
            self,
            "QuickSight",
            project_name=self.settings.project_name,
            principal_arn=principal,
            storage=self.storage,
            forecasts_prefix=FORECASTS_PREFIX,
            manifest_key=MANIFEST_KEY,
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
        # created and updated by the CodeBuild runner on every push, not by CloudFormation
        CfnOutput(self, "PipelineName", value=self.pipeline.pipeline_name)
        group = self.pipeline.model_package_group
        # Ref on a model package group is its ARN, not its name.
        CfnOutput(self, "ModelPackageGroupName", value=group.model_package_group_name)
        CfnOutput(self, "ModelPackageGroupArn", value=group.attr_model_package_group_arn)
        self.setup_source_outputs()
        self.setup_batch_inference_outputs()

    def setup_source_outputs(self) -> None:
        """Where to push model-build changes, and the CodePipeline that a push runs."""
        source = self.settings.source
        repository = self.source_pipeline.repository
        if repository is not None:  # CodeCommit, created by the stack
            CfnOutput(self, "RepositoryCloneUrlHttp", value=repository.repository_clone_url_http)
            CfnOutput(self, "RepositoryCloneUrlGrc", value=repository.repository_clone_url_grc)
        else:
            CfnOutput(
                self,
                "SourceRepository",
                value=f"{source.repository_owner}/{source.repository_name}@{source.branch}",
            )
        CfnOutput(self, "CodePipelineName", value=self.source_pipeline.pipeline.pipeline_name)

    def setup_batch_inference_outputs(self) -> None:
        """Where to put histories to forecast, where QuickSight reads, where failures go."""
        inference = self.batch_inference
        CfnOutput(self, "InferenceInputUri", value=inference.input_uri)
        CfnOutput(self, "ActualsUri", value=inference.actuals_uri)
        CfnOutput(self, "ForecastsManifestUri", value=inference.manifest_uri)
        CfnOutput(self, "DeadLetterQueueUrl", value=inference.dead_letter_queue.queue_url)
        CfnOutput(self, "NotificationTopicArn", value=inference.topic.topic_arn)
        if self.quicksight is not None:
            CfnOutput(self, "QuickSightDataSetId", value=self.quicksight.data_set_id)
        CfnOutput(self, "ActualsPrefixUri", value=self.accuracy.actuals_uri)
        CfnOutput(self, "AccuracyManifestUri", value=self.accuracy.manifest_uri)
