"""Forecast accuracy as actuals arrive: the accuracy Lambda, what triggers it and what it may do.

S3 sends ``Object Created`` events to EventBridge for the data and forecasts buckets; two rules
pass those under the actuals prefix and the published partitions to the Lambda
(``lambdas/accuracy``), which rewrites the accuracy table, puts each version's measures into
CloudWatch, reports drift to the stack's SNS topic and, with ``retrainOnDrift``, starts the
SageMaker pipeline. Its failures go to the batch-inference dead-letter queue, like the others.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.batch_inference import FORECASTS_PREFIX, BatchInferenceConstruct, prefixed_objects
from infra.inference_layout import evaluation_objects
from infra.nag import CDK_GRANT_ACTIONS, acknowledge_wildcards, regional_arn
from infra.sagemaker_arns import model_versions_arn
from infra.sagemaker_pipeline import SageMakerPipelineConstruct
from infra.settings import InfrastructureSettings
from infra.storage import StorageConstruct, enable_event_bridge
from lambdas.accuracy.tracking import ACCURACY_FOLDER, ACTUALS_PREFIX

ACCURACY_HANDLER = "lambdas.accuracy.handler.handler"
OBJECT_CREATED = "Object Created"
# The published partitions' keys. S3's EventBridge events carry the key as written (S3 user
# guide, "EventBridge event message structure"), unlike its classic notifications, which
# URL-encode it.
PUBLISHED_KEY_PREFIX = f"{FORECASTS_PREFIX}/model="


def metric_namespace(project_name: str) -> str:
    """The project's CloudWatch namespace (custom namespaces may not start with ``AWS/``)."""
    return f"{project_name}/accuracy"


class AccuracyConstruct(Construct):
    """The accuracy Lambda, its two S3-event rules and its least-privilege role."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: InfrastructureSettings,
        storage: StorageConstruct,
        pipeline: SageMakerPipelineConstruct,
        batch_inference: BatchInferenceConstruct,
    ) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        self.storage = storage
        self.pipeline = pipeline
        self.batch_inference = batch_inference
        self.namespace = metric_namespace(settings.project_name)
        self.accuracy_prefix = f"{FORECASTS_PREFIX}/{ACCURACY_FOLDER}/"
        self.actuals_uri = f"s3://{storage.data_bucket.bucket_name}/{ACTUALS_PREFIX}"
        group = batch_inference.group_name
        self.manifest_uri = (
            f"s3://{storage.forecasts_bucket.bucket_name}/{self.accuracy_prefix}model={group}/"
            "manifest.json"
        )
        self.function = self.setup_function()
        self.rules = [
            self.setup_rule("ActualsArrivedRule", storage.data_bucket, ACTUALS_PREFIX),
            self.setup_rule(
                "ForecastsPublishedRule", storage.forecasts_bucket, PUBLISHED_KEY_PREFIX
            ),
        ]

    def setup_function(self) -> lambda_.Function:
        """Reads every published forecast and actual of the group: a full vCPU and Lambda's
        longest timeout, like the publish Lambda."""
        storage, policy = self.storage, self.settings.accuracy
        group = self.batch_inference.group_name
        environment = {
            "FORECASTS_BUCKET": storage.forecasts_bucket.bucket_name,
            "FORECASTS_PREFIX": FORECASTS_PREFIX,
            "DATA_BUCKET": storage.data_bucket.bucket_name,
            "ACTUALS_PREFIX": ACTUALS_PREFIX,
            "MODEL_PACKAGE_GROUP": group,
            "METRIC_NAMESPACE": self.namespace,
            "NOTIFICATION_TOPIC_ARN": self.batch_inference.topic.topic_arn,
            "KMS_KEY_ID": storage.key.key_arn,
            "ALARM_RATIO": repr(policy.ratio),
            "WINDOW_DAYS": str(policy.window_days),
            "RETRAIN": str(policy.retrain).lower(),
            "COOLDOWN_DAYS": str(policy.cooldown_days),
        }
        if policy.retrain:
            environment["PIPELINE_NAME"] = self.pipeline.pipeline_name
        function = self.batch_inference.setup_function(
            "AccuracyFunction",
            handler=ACCURACY_HANDLER,
            description="score published forecasts as actuals arrive",
            timeout=Duration.minutes(15),
            memory_size=1769,
            environment=environment,
        )
        role = function.role
        assert role is not None
        self.grant(role)
        return function

    def grant(self, role: iam.IRole) -> None:
        """Exactly what the handler calls (tests/infra/test_iam_coverage.py reads its source)."""
        storage = self.storage
        group = self.batch_inference.group_name
        # the published partitions and the alarm state (read), the accuracy table (write)
        storage.forecasts_bucket.grant_read(role, f"{FORECASTS_PREFIX}/*")
        storage.forecasts_bucket.grant_put(role, f"{self.accuracy_prefix}*")
        storage.data_bucket.grant_read(role, f"{ACTUALS_PREFIX}*")
        # each version's registered sMAPE: its package names its evaluation.json
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DescribeModelVersions",
                actions=["sagemaker:DescribeModelPackage"],
                resources=[model_versions_arn(self, group)],
            )
        )
        evaluations = evaluation_objects(self.settings.project_name)
        storage.model_artifacts_bucket.grant_read(role, evaluations)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PutAccuracyMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],  # PutMetricData takes no resource; the namespace is pinned
                conditions={"StringEquals": {"cloudwatch:namespace": self.namespace}},
            )
        )
        self.batch_inference.topic.grant_publish(role)
        if self.settings.accuracy.retrain:
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="RetrainOnDrift",
                    actions=["sagemaker:StartPipelineExecution"],
                    resources=[self.pipeline.pipeline_arn],
                )
            )
        policy = role.node.find_child("DefaultPolicy").node.default_child
        acknowledge_wildcards(
            policy,
            {
                **CDK_GRANT_ACTIONS,
                prefixed_objects(storage.forecasts_bucket, f"{FORECASTS_PREFIX}/*"): "the "
                "published forecasts and the accuracy state, read-only",
                prefixed_objects(storage.forecasts_bucket, f"{self.accuracy_prefix}*"): "the "
                "accuracy tables and their manifests, write-only",
                prefixed_objects(storage.data_bucket, f"{ACTUALS_PREFIX}*"): "the actuals "
                "prefix of the data bucket, read-only",
                regional_arn("sagemaker", f"model-package/{group}/*"): "the versions of this "
                "project's model package group, read-only, for their registered sMAPE",
                prefixed_objects(storage.model_artifacts_bucket, evaluations): "the "
                "evaluation.json files of this project's pipeline executions, read-only",
                "Resource::*": "cloudwatch:PutMetricData takes no resource; the statement is "
                "limited to the project's accuracy namespace",
            },
        )

    def setup_rule(self, construct_id: str, bucket: s3.IBucket, prefix: str) -> events.Rule:
        """New objects under ``prefix`` of ``bucket`` run the Lambda (S3 sends them to
        EventBridge once the bucket's EventBridge notifications are on)."""
        enable_event_bridge(bucket)
        rule = events.Rule(
            self,
            construct_id,
            description=f"{self.settings.project_name}: new s3://.../{prefix}* -> accuracy",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=[OBJECT_CREATED],
                detail={
                    "bucket": {"name": [bucket.bucket_name]},
                    "object": {"key": [{"prefix": prefix}]},
                },
            ),
        )
        rule.add_target(self.batch_inference.lambda_target(self.function))
        return rule
