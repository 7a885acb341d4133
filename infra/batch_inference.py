"""Batch inference: an approved model package starts a Batch Transform job, and the finished
job's output is published for people and QuickSight.

Two EventBridge rules on the default bus drive two Lambdas (``lambdas/``):

* ``SageMaker Model Package State Change`` for this project's group, ``Approved`` only ->
  ``batch_transform`` creates the SageMaker Model and the transform job.
* ``SageMaker Transform Job State Change`` of this project's jobs, ``Completed``, ``Failed`` or
  ``Stopped``
  -> ``publish`` writes the QuickSight CSV and manifests, reports failures to the SNS topic and
  refreshes the SPICE data set when one is configured.

Whatever cannot be delivered or keeps failing lands in one dead-letter queue whose depth alarms
the same topic, so no failure is only a log line.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from forecasting.pipeline.settings import TRANSFORM_INSTANCE_TYPE
from forecasting.pipeline.steps import EVALUATION_FILE
from infra.approval_evidence import approval_evidence
from infra.failure_path import (
    allow_service_to_publish,
    dead_letter_alarm,
    dead_letter_queue,
    notifications_topic,
)
from infra.forecast_schedule import forecast_schedule
from infra.lambda_layers import plotting_layer
from infra.nag import CDK_GRANT_ACTIONS, acknowledge_wildcards, prefixed_objects, regional_arn
from infra.sagemaker_pipeline import SageMakerPipelineConstruct, grant_volume_key
from infra.settings import InfrastructureSettings
from infra.storage import StorageConstruct, removal_policy
from infra.transform_role import transform_role
from lambdas.batch_transform.events import REQUEST_DETAIL_TYPE, REQUEST_SOURCE

REPO_ROOT = Path(__file__).resolve().parent.parent
# The newest Python runtime aws-cdk-lib 2.275 knows (cdk-nag's L1 compares against the same
# list); boto3 comes with the runtime, matplotlib with the publish Lambda's plotting layer.
LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_14
# The asset is the repository root cut down to the `lambdas` package, so the handlers keep their
# `lambdas.<name>.handler` import path. Dot-entries (.venv, .git) need their own pattern.
LAMBDA_ASSET_EXCLUDE = [
    "*",
    ".*",
    "!lambdas",
    "!lambdas/**",
    "**/__pycache__",
    "**/*.pyc",
    "**/*.md",
]
BATCH_TRANSFORM_HANDLER = "lambdas.batch_transform.handler.handler"
PUBLISH_HANDLER = "lambdas.publish.handler.handler"

INFERENCE_PREFIX = "inference/"  # data bucket: the histories every approved model forecasts
# data bucket: the observed values the publish Lambda joins onto forecasts (long CSV
# series_id,target,timestamp,value; see lambdas/publish/README.md)
ACTUALS_KEY = "actuals/actuals.csv"
TRANSFORM_PREFIX = "transform/"  # forecasts bucket: raw job output (lambdas/batch_transform)
FORECASTS_PREFIX = "forecasts"  # forecasts bucket: the published data set (lambdas/publish)
# One manifest over every published run, rewritten by the publish Lambda: the data source of
# the QuickSight data set (the per-run manifests change key with every run).
MANIFEST_KEY = f"{FORECASTS_PREFIX}/manifest.json"

MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
TRANSFORM_JOB_STATE_CHANGE = "SageMaker Transform Job State Change"
# EventBridge retries only deliveries the Lambda service refused (throttling, service errors);
# a function error is retried by Lambda's own async retries below. Both give up after two hours:
# a forecast that starts later than that is better started again by a person.
EVENT_MAX_AGE = Duration.hours(2)
EVENT_RETRY_ATTEMPTS = 8
LAMBDA_RETRY_ATTEMPTS = 2  # Lambda's maximum for asynchronous invocations
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS


class BatchInferenceConstruct(Construct):
    """The two Lambdas, their rules and roles, the SageMaker role of the transform job, and the
    failure path (dead-letter queue -> alarm -> SNS topic)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: InfrastructureSettings,
        storage: StorageConstruct,
        pipeline: SageMakerPipelineConstruct,
        quicksight_data_set_id: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        self.storage = storage
        # A plain string, not a token: event patterns and IAM resources are built from it.
        self.group_name = str(pipeline.model_package_group.model_package_group_name)
        self._removal_policy = removal_policy(settings.removal_mode)
        self.input_uri = f"s3://{storage.data_bucket.bucket_name}/{INFERENCE_PREFIX}"
        self.actuals_uri = f"s3://{storage.data_bucket.bucket_name}/{ACTUALS_KEY}"
        self.manifest_uri = f"s3://{storage.forecasts_bucket.bucket_name}/{MANIFEST_KEY}"

        self.topic, self.notifications_key = notifications_topic(
            self,
            project_name=settings.project_name,
            email=settings.notification_email,
            removal_policy=self._removal_policy,
        )
        self.dead_letter_queue = dead_letter_queue(self)
        self.dead_letter_alarm = dead_letter_alarm(
            self,
            project_name=settings.project_name,
            queue=self.dead_letter_queue,
            topic=self.topic,
            key=self.notifications_key,
        )
        self.code = lambda_.Code.from_asset(str(REPO_ROOT), exclude=LAMBDA_ASSET_EXCLUDE)

        self.transform_role = transform_role(
            self,
            project_name=settings.project_name,
            storage=storage,
            input_prefix=INFERENCE_PREFIX,
            output_prefix=TRANSFORM_PREFIX,
        )
        self.batch_transform_function = self.setup_batch_transform_function()
        self.publish_function = self.setup_publish_function(quicksight_data_set_id)
        self.approval_rule = self.setup_approval_rule()
        self.request_rule = self.setup_request_rule()
        self.transform_job_rule = self.setup_transform_job_rule()
        self.schedule = self.setup_schedule()
        self.comparison_function, self.registration_rule = approval_evidence(self, FORECASTS_PREFIX)

    # --- the Lambdas ---------------------------------------------------------------------------

    def setup_function(
        self,
        construct_id: str,
        *,
        handler: str,
        description: str,
        timeout: Duration,
        memory_size: int,
        environment: dict[str, str],
    ) -> lambda_.Function:
        """A Lambda with its own role and log group, encrypted environment, async retries and
        the shared dead-letter queue as on-failure destination.

        The role carries inline log permissions on its own log group instead of the managed
        AWSLambdaBasicExecutionRole (which allows every log group in the account).
        """
        log_group = logs.LogGroup(
            self,
            f"{construct_id}Logs",
            retention=LOG_RETENTION,
            removal_policy=self._removal_policy,
        )
        role = iam.Role(
            self,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{self.settings.project_name}: {description}",
        )
        log_group.grant_write(role)
        # Lambda decrypts the environment at cold start with the execution role's credentials.
        self.storage.key.grant_decrypt(role)
        function = lambda_.Function(
            self,
            construct_id,
            description=f"{self.settings.project_name}: {description}",
            runtime=LAMBDA_RUNTIME,
            handler=handler,
            code=self.code,
            role=role,
            timeout=timeout,
            memory_size=memory_size,
            environment=environment,
            environment_encryption=self.storage.key,
            log_group=log_group,
            retry_attempts=LAMBDA_RETRY_ATTEMPTS,
            max_event_age=EVENT_MAX_AGE,
            on_failure=destinations.SqsDestination(self.dead_letter_queue),
        )
        return function

    def setup_batch_transform_function(self) -> lambda_.Function:
        """Two SageMaker calls: little memory, one minute covers boto3's retries."""
        storage = self.storage
        group = self.group_name
        function = self.setup_function(
            "BatchTransformFunction",
            handler=BATCH_TRANSFORM_HANDLER,
            description="start Batch Transform for approved model packages",
            timeout=Duration.minutes(1),
            memory_size=256,
            environment={
                "MODEL_PACKAGE_GROUP": group,
                "SAGEMAKER_ROLE_ARN": self.transform_role.role_arn,
                "INPUT_URI": self.input_uri,
                "FORECASTS_BUCKET": storage.forecasts_bucket.bucket_name,
                "KMS_KEY_ID": storage.key.key_arn,
                "TRANSFORM_INSTANCE_TYPE": TRANSFORM_INSTANCE_TYPE,
                "PROJECT": self.settings.project_name,
            },
        )
        role = function.role
        assert role is not None
        stack = Stack.of(self)

        def sagemaker_arn(resource: str) -> str:
            return stack.format_arn(service="sagemaker", resource=resource)

        # The handler names models {group}-v{version} and jobs {group}-v{version}-{digest}.
        # SageMaker lowercases names in ARNs; the project name (= group) is lowercase already,
        # and is short enough (<= 32) that the handler never truncates it.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="CreateModelAndTransformJob",
                actions=[
                    "sagemaker:CreateModel",
                    "sagemaker:CreateTransformJob",
                    "sagemaker:AddTags",
                ],
                resources=[
                    sagemaker_arn(f"model/{group}-v*"),
                    sagemaker_arn(f"transform-job/{group}-v*"),
                ],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PassTransformRole",
                actions=["iam:PassRole"],
                resources=[self.transform_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        # A re-forecast request names a version; the Lambda reads its package from the registry.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DescribeRequestedVersions",
                actions=["sagemaker:DescribeModelPackage"],
                resources=[sagemaker_arn(f"model-package/{group}/*")],
            )
        )
        # A scheduled run finds the latest approved version and lists the input, to name its
        # job after the content. The Service Authorization Reference authorizes
        # ListModelPackages on the model-package resource type; a listing names no one group.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="FindLatestApprovedVersion",
                actions=["sagemaker:ListModelPackages"],
                resources=[sagemaker_arn("model-package/*")],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ListInferenceInput",
                actions=["s3:ListBucket"],
                resources=[storage.data_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{INFERENCE_PREFIX}*"]}},
            )
        )
        # The job's output (and, where the instance type allows, its volume) is encrypted with
        # the project key.
        grant_volume_key(role, storage.key.key_arn)
        acknowledge_wildcards(
            role.node.find_child("DefaultPolicy").node.default_child,
            {
                regional_arn("sagemaker", f"model-package/{group}/*"): "the versions of this "
                "project's model package group, read-only, for re-forecast requests",
                regional_arn("sagemaker", f"model/{group}-v*"): "the models the handler names "
                "{group}-v{version}, one per approved package version",
                regional_arn("sagemaker", f"transform-job/{group}-v*"): "the jobs the handler "
                "names "
                "{group}-v{version}-{input digest}",
                regional_arn("sagemaker", "model-package/*"): "sagemaker:ListModelPackages "
                "only, read-only: a listing names no one package group to scope it to",
            },
        )
        return function

    def setup_publish_function(self, quicksight_data_set_id: str | None) -> lambda_.Function:
        """Reads a whole job's output and draws PNGs with matplotlib (the plotting layer): a
        full vCPU (1769 MB) and Lambda's longest timeout, so a large run finishes and a stuck
        one still ends."""
        storage = self.storage
        data_set_arn = (
            Stack.of(self).format_arn(
                service="quicksight", resource="dataset", resource_name=quicksight_data_set_id
            )
            if quicksight_data_set_id
            else None
        )
        environment = {
            "ACTUALS_URI": self.actuals_uri,
            "FORECASTS_BUCKET": storage.forecasts_bucket.bucket_name,
            "FORECASTS_PREFIX": FORECASTS_PREFIX,
            "KMS_KEY_ID": storage.key.key_arn,
            "MODEL_PACKAGE_GROUP": self.group_name,
            "NOTIFICATION_TOPIC_ARN": self.topic.topic_arn,
            "QUICKSIGHT_MANIFEST_KEY": MANIFEST_KEY,
            # matplotlib writes its font cache there; /tmp is the only writable folder
            "MPLCONFIGDIR": "/tmp/matplotlib",
        }
        if data_set_arn:
            environment["QUICKSIGHT_DATA_SET_ARN"] = data_set_arn
        function = self.setup_function(
            "PublishFunction",
            handler=PUBLISH_HANDLER,
            description="publish finished Batch Transform jobs",
            timeout=Duration.minutes(15),
            memory_size=1769,
            environment=environment,
        )
        function.add_layers(plotting_layer(self, "PlottingLayer", LAMBDA_RUNTIME))
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
                resources=[
                    Stack.of(self).format_arn(
                        service="sagemaker", resource=f"model-package/{self.group_name}/*"
                    )
                ],
            )
        )
        evaluations = f"{self.settings.project_name}/*/{EVALUATION_FILE}"
        storage.model_artifacts_bucket.grant_read(role, evaluations)
        self.topic.grant_publish(role)
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
            regional_arn("sagemaker", f"model-package/{self.group_name}/*"): "the versions of "
            "this project's model package group, read-only, for their registered metrics",
            prefixed_objects(storage.model_artifacts_bucket, evaluations): "the evaluation.json "
            "files of this project's pipeline executions, read-only",
        }
        if quicksight_data_set_id:
            findings[
                regional_arn("quicksight", f"dataset/{quicksight_data_set_id}/ingestion/*")
            ] = "the SPICE ingestions of this project's one QuickSight data set"
        acknowledge_wildcards(role.node.find_child("DefaultPolicy").node.default_child, findings)
        return function

    # --- the rules -------------------------------------------------------------------------------

    def setup_approval_rule(self) -> events.Rule:
        """Approved versions of this project's package group start a transform job."""
        rule = events.Rule(
            self,
            "ModelApprovedRule",
            description=f"{self.settings.project_name}: approved model package -> Batch Transform",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[MODEL_PACKAGE_STATE_CHANGE],
                detail={
                    "ModelPackageGroupName": [self.group_name],
                    "ModelApprovalStatus": ["Approved"],
                },
            ),
        )
        rule.add_target(self.lambda_target(self.batch_transform_function))
        return rule

    def setup_request_rule(self) -> events.Rule:
        """Re-forecast requests for this project's group (README: "Forecasting again")."""
        rule = events.Rule(
            self,
            "ForecastRequestedRule",
            description=f"{self.settings.project_name}: forecast again with an approved version",
            event_pattern=events.EventPattern(
                source=[REQUEST_SOURCE],
                detail_type=[REQUEST_DETAIL_TYPE],
                detail={"ModelPackageGroupName": [self.group_name]},
            ),
        )
        rule.add_target(self.lambda_target(self.batch_transform_function))
        return rule

    def setup_schedule(self) -> scheduler.Schedule | None:
        """Scheduled forecasts (:mod:`infra.forecast_schedule`) when ``forecastSchedule`` is
        set."""
        if self.settings.forecast_schedule is None:
            return None
        return forecast_schedule(
            self,
            project_name=self.settings.project_name,
            group_name=self.group_name,
            expression=self.settings.forecast_schedule,
            function=self.batch_transform_function,
            dead_letter_queue=self.dead_letter_queue,
        )

    def setup_transform_job_rule(self) -> events.Rule:
        """This project's finished transform jobs are published (or reported).

        Two filters keep other projects' jobs out: the name prefix the batch-transform Lambda
        gives ({group}-v), and the output path in this stack's forecasts bucket, which no other
        project writes to (a group named like "{group}-v2" would pass the first alone).
        """
        output_prefix = f"s3://{self.storage.forecasts_bucket.bucket_name}/{TRANSFORM_PREFIX}"
        rule = events.Rule(
            self,
            "TransformJobFinishedRule",
            description=f"{self.settings.project_name}: finished Batch Transform -> publish",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[TRANSFORM_JOB_STATE_CHANGE],
                detail={
                    # every end state the publish Lambda handles: a stopped job is reported
                    "TransformJobStatus": ["Completed", "Failed", "Stopped"],
                    "TransformJobName": [{"prefix": f"{self.group_name}-v"}],
                    "TransformOutput": {"S3OutputPath": [{"prefix": output_prefix}]},
                },
            ),
        )
        rule.add_target(self.lambda_target(self.publish_function))
        return rule

    def allow_service_to_publish(self, name: str, service: str, resource: str) -> None:
        """:func:`infra.failure_path.allow_service_to_publish` for the notifications key."""
        allow_service_to_publish(self.notifications_key, name, service, resource)

    def lambda_target(self, function: lambda_.IFunction) -> targets.LambdaFunction:
        return targets.LambdaFunction(
            function,
            dead_letter_queue=self.dead_letter_queue,
            retry_attempts=EVENT_RETRY_ATTEMPTS,
            max_event_age=EVENT_MAX_AGE,
        )
