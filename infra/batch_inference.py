"""Batch inference: an approved model package starts a Batch Transform job, and the finished
job's output is published for people and QuickSight.

EventBridge rules on the default bus (and, when configured, a schedule) drive three Lambdas
(``lambdas/``):

* ``SageMaker Model Package State Change`` for this project's group, ``Approved`` only, a
  ``Forecast Requested`` event, or the forecast schedule (:mod:`infra.forecast_schedule`) ->
  ``batch_transform`` creates the SageMaker Model and the transform job.
* ``SageMaker Transform Job State Change`` of this project's jobs, ``Completed``, ``Failed`` or
  ``Stopped`` -> ``publish`` (:mod:`infra.publish_function`) writes the QuickSight CSV and
  manifests, reports failures to the SNS topic and refreshes the SPICE data set when one is
  configured.
* ``SageMaker Model Package State Change`` for a registration (``PendingManualApproval``) ->
  ``comparison`` (:mod:`infra.approval_evidence`) puts the evidence into the registry entry.

Whatever cannot be delivered or keeps failing lands in one dead-letter queue whose depth alarms
the same topic, so no failure is only a log line (:mod:`infra.failure_path`).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from forecasting.pipeline.settings import TRANSFORM_INSTANCE_TYPE
from infra.approval_evidence import approval_evidence
from infra.failure_path import (
    allow_service_to_publish,
    dead_letter_alarm,
    dead_letter_queue,
    notifications_topic,
)
from infra.forecast_schedule import forecast_schedule, new_data_trigger, scheduler_role
from infra.inference_layout import (
    ACTUALS_KEY,
    BATCH_TRANSFORM_HANDLER,
    FORECASTS_PREFIX,
    INFERENCE_PREFIX,
    LAMBDA_ASSET_EXCLUDE,
    LAMBDA_RUNTIME,
    MANIFEST_KEY,
    REPO_ROOT,
    TRANSFORM_PREFIX,
)
from infra.nag import acknowledge_wildcards, regional_arn
from infra.nag import prefixed_objects as prefixed_objects  # infra/accuracy.py imports it here
from infra.networking import vpc_environment
from infra.publish_function import publish_function
from infra.sagemaker_arns import list_model_packages, model_versions_arn, sagemaker_arn
from infra.sagemaker_pipeline import SageMakerPipelineConstruct, grant_volume_key
from infra.settings import InfrastructureSettings
from infra.storage import StorageConstruct, removal_policy
from infra.transform_role import transform_role
from lambdas.batch_transform.events import REQUEST_DETAIL_TYPE, REQUEST_SOURCE

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
        self.publish_function = publish_function(self, quicksight_data_set_id)
        self.approval_rule = self.setup_approval_rule()
        self.request_rule = self.setup_request_rule()
        self.transform_job_rule = self.setup_transform_job_rule()
        self.new_input_rule: events.Rule | None = None
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
                **vpc_environment(self.settings),
            },
        )
        role = function.role
        assert role is not None
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
                    sagemaker_arn(self, f"model/{group}-v*"),
                    sagemaker_arn(self, f"transform-job/{group}-v*"),
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
        # A scheduled run that finds its job says how that job ended.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DescribeOwnTransformJobs",
                actions=["sagemaker:DescribeTransformJob"],
                resources=[sagemaker_arn(self, f"transform-job/{group}-v*")],
            )
        )
        # A re-forecast request names a version; the Lambda reads its package from the registry.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DescribeRequestedVersions",
                actions=["sagemaker:DescribeModelPackage"],
                resources=[model_versions_arn(self, group)],
            )
        )
        # A scheduled run finds the latest approved version and lists the input, to name its
        # job after the content.
        role.add_to_principal_policy(list_model_packages(self, "FindLatestApprovedVersion"))
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
        """Scheduled forecasts and the debounced trigger on new input
        (:mod:`infra.forecast_schedule`), each when its setting is set."""
        settings = self.settings
        if settings.forecast_schedule is None and settings.forecast_on_new_data is None:
            return None
        role = scheduler_role(
            self,
            project_name=settings.project_name,
            function=self.batch_transform_function,
            dead_letter_queue=self.dead_letter_queue,
        )
        if settings.forecast_on_new_data is not None:
            self.new_input_rule = new_data_trigger(
                self,
                project_name=settings.project_name,
                group_name=self.group_name,
                quiet_minutes=settings.forecast_on_new_data,
                data_bucket=self.storage.data_bucket,
                input_prefix=INFERENCE_PREFIX,
                function=self.batch_transform_function,
                role=role,
                dead_letter_queue=self.dead_letter_queue,
            )
            self.new_input_rule.add_target(self.lambda_target(self.batch_transform_function))
        if settings.forecast_schedule is None:
            return None
        return forecast_schedule(
            self,
            project_name=settings.project_name,
            group_name=self.group_name,
            expression=settings.forecast_schedule,
            function=self.batch_transform_function,
            dead_letter_queue=self.dead_letter_queue,
            role=role,
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
