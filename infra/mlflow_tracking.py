"""The MLflow tracking server the training runs are recorded in, when ``mlflowTracking`` is set.

``"create"`` makes a SageMaker managed tracking server (``AWS::SageMaker::MlflowTrackingServer``)
whose artifact store is a prefix of the model-artifact bucket; an ARN uses an existing server.
Either way the pipeline's jobs get the ``sagemaker-mlflow`` actions their code calls (the
MLflow client under Lightning's ``MLFlowLogger`` and :mod:`forecasting.tracking`), on that
server only, and the CodeBuild runner passes its ARN into the pipeline definition. On every
registration the run-tagging Lambda (``lambdas/registration_tracking``) tags the version's run
with its model package, with the two ``sagemaker-mlflow`` actions it calls, on that server only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra.approval_evidence import registration_rule
from infra.inference_layout import evaluation_objects
from infra.nag import (
    CDK_GRANT_ACTIONS,
    acknowledge_wildcards,
    bucket_objects,
    prefixed_objects,
    regional_arn,
)
from infra.sagemaker_arns import model_versions_arn
from infra.settings import CREATE_MLFLOW_SERVER, InfrastructureSettings
from infra.storage import StorageConstruct, removal_policy
from lambdas.registration_tracking.tracking_server import ACTIONS as TAGGING_ACTIONS

if TYPE_CHECKING:
    from infra.batch_inference import BatchInferenceConstruct

RUN_TAGGING_HANDLER = "lambdas.registration_tracking.handler.handler"

ARTIFACT_PREFIX = "mlflow/"
# The MLflow REST calls a training job and an evaluation job make, as IAM actions (the Service
# Authorization Reference's sagemaker-mlflow actions are named after MLflow's REST API). The
# IAM coverage test records the calls of a real run and checks each one is here.
TRACKING_ACTIONS = (
    "sagemaker-mlflow:CreateExperiment",
    "sagemaker-mlflow:GetExperimentByName",
    "sagemaker-mlflow:CreateRun",
    "sagemaker-mlflow:GetRun",
    "sagemaker-mlflow:LogBatch",
    "sagemaker-mlflow:LogMetric",
    "sagemaker-mlflow:SetTag",
    "sagemaker-mlflow:UpdateRun",
)


class MlflowTrackingConstruct(Construct):
    """A managed tracking server (or an existing one's ARN) and the grant to record runs in it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: InfrastructureSettings,
        storage: StorageConstruct,
    ) -> None:
        super().__init__(scope, construct_id)
        assert settings.mlflow_tracking is not None
        self.server: sagemaker.CfnMlflowTrackingServer | None = None
        if settings.mlflow_tracking == CREATE_MLFLOW_SERVER:
            self.server = self.setup_server(settings, storage)
            self.tracking_server_arn: str = self.server.attr_tracking_server_arn
        else:
            self.tracking_server_arn = settings.mlflow_tracking

    def setup_server(
        self, settings: InfrastructureSettings, storage: StorageConstruct
    ) -> sagemaker.CfnMlflowTrackingServer:
        bucket = storage.model_artifacts_bucket
        role = iam.Role(
            self,
            "ServerRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"{settings.project_name}: MLflow tracking server's artifact store",
        )
        bucket.grant_read_write(role, f"{ARTIFACT_PREFIX}*")
        storage.key.grant_encrypt_decrypt(role)
        acknowledge_wildcards(
            role.node.find_child("DefaultPolicy").node.default_child,
            {
                **CDK_GRANT_ACTIONS,
                f"{bucket_objects(bucket)[:-2]}/{ARTIFACT_PREFIX}*": "the tracking server's "
                "artifact store, a prefix of the model-artifact bucket",
            },
        )
        server = sagemaker.CfnMlflowTrackingServer(
            self,
            "TrackingServer",
            tracking_server_name=f"{settings.project_name}-mlflow",
            artifact_store_uri=f"s3://{bucket.bucket_name}/{ARTIFACT_PREFIX}",
            role_arn=role.role_arn,
            tracking_server_size="Small",
            automatic_model_registration=False,  # the model registry is SageMaker's own
        )
        server.node.add_dependency(role)
        server.apply_removal_policy(removal_policy(settings.removal_mode))
        return server

    def grant_tracking(self, role: iam.IRole) -> None:
        """What a job needs to record its run: the tracking calls, on this server only."""
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="TrackExperiments",
                actions=list(TRACKING_ACTIONS),
                resources=[self.tracking_server_arn],
            )
        )

    def tag_registered_runs(
        self, inference: BatchInferenceConstruct
    ) -> tuple[lambda_.Function, events.Rule]:
        """The run-tagging Lambda, its role and the registration rule that invokes it; built
        with the batch-inference construct's function factory (dead-letter queue, retries)."""
        group = inference.group_name
        function = inference.setup_function(
            "RunTaggingFunction",
            handler=RUN_TAGGING_HANDLER,
            description="tag the MLflow run of each registered version with its model package",
            timeout=Duration.minutes(1),
            memory_size=256,
            environment={
                "MODEL_PACKAGE_GROUP": group,
                "TRACKING_SERVER_ARN": self.tracking_server_arn,
            },
        )
        role = function.role
        assert role is not None
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="TagRuns",
                actions=sorted(TAGGING_ACTIONS.values()),
                resources=[self.tracking_server_arn],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadAndLinkVersions",
                actions=["sagemaker:DescribeModelPackage", "sagemaker:UpdateModelPackage"],
                resources=[model_versions_arn(self, group)],
            )
        )
        storage = inference.storage
        evaluations = evaluation_objects(inference.settings.project_name)
        storage.model_artifacts_bucket.grant_read(role, evaluations)
        acknowledge_wildcards(
            role.node.find_child("DefaultPolicy").node.default_child,
            {
                **CDK_GRANT_ACTIONS,
                regional_arn("sagemaker", f"model-package/{group}/*"): "the versions of this "
                "project's model package group: read the tracking metadata, name the run",
                prefixed_objects(storage.model_artifacts_bucket, evaluations): "the "
                "evaluation.json files of this project's pipeline executions, read-only",
            },
        )
        rule = registration_rule(inference, "RunTaggingRule", function, "tag its MLflow run")
        return function, rule
