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

from aws_cdk import Acknowledgment, ArnFormat, Aws, Duration, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from forecasting.pipeline.settings import TRANSFORM_INSTANCE_TYPE
from forecasting.pipeline.steps import EVALUATION_FILE
from infra.lambda_layers import plotting_layer
from infra.nag import CDK_GRANT_ACTIONS, acknowledge_wildcards, regional_arn
from infra.networking import vpc_environment
from infra.sagemaker_pipeline import (
    SageMakerPipelineConstruct,
    dlc_finding,
    grant_job_basics,
    grant_volume_key,
)
from infra.settings import InfrastructureSettings
from infra.storage import StorageConstruct, removal_policy
from lambdas.batch_transform.planning import REQUEST_DETAIL_TYPE, REQUEST_SOURCE

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

        self.topic = self.setup_topic()
        self.dead_letter_queue = self.setup_dead_letter_queue()
        self.dead_letter_alarm = self.setup_dead_letter_alarm()
        self.code = lambda_.Code.from_asset(str(REPO_ROOT), exclude=LAMBDA_ASSET_EXCLUDE)

        self.transform_role = self.setup_transform_role()
        self.batch_transform_function = self.setup_batch_transform_function()
        self.publish_function = self.setup_publish_function(quicksight_data_set_id)
        self.approval_rule = self.setup_approval_rule()
        self.request_rule = self.setup_request_rule()
        self.transform_job_rule = self.setup_transform_job_rule()

    # --- failure path --------------------------------------------------------------------------

    def setup_topic(self) -> sns.Topic:
        """Failure notices: DLQ alarms and failed transform jobs; e-mail when one is set.

        A customer-managed key of its own, because CloudWatch alarms cannot publish to a topic
        under the AWS-managed SNS key, and letting CloudWatch use the data key would widen the
        policy that guards every bucket. Like every key of the project, it is kept by
        `cdk destroy` unless removalPolicy is destroy.
        """
        key = kms.Key(
            self,
            "NotificationsKey",
            alias=f"alias/{self.settings.project_name}-notifications",
            description=f"Encrypts the {self.settings.project_name} failure notifications",
            enable_key_rotation=True,
            removal_policy=self._removal_policy,
        )
        topic = sns.Topic(
            self,
            "Notifications",
            display_name=f"{self.settings.project_name} batch inference failures",
            master_key=key,
            enforce_ssl=True,
        )
        self.notifications_key = key
        if self.settings.notification_email:
            topic.add_subscription(
                subscriptions.EmailSubscription(self.settings.notification_email)
            )
        return topic

    def setup_dead_letter_queue(self) -> sqs.Queue:
        """One queue for every event that could not be delivered or kept failing.

        It is the EventBridge targets' DLQ (undeliverable events, with the rule and error as
        message attributes) and both Lambdas' on-failure destination (the event plus the
        function's error, after Lambda's retries). One queue, one alarm: anything in it is a
        forecast that did not happen. SQS-managed encryption: the messages are event envelopes
        (names, ARNs, S3 URIs, error text), never forecast data, and EventBridge can deliver to
        it without a KMS key policy opened to the events service.
        """
        queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),  # SQS's maximum: time to read and redrive
        )
        acknowledge_rule(
            queue,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter queue of the EventBridge targets and the "
            "Lambdas' on-failure destination; cdk-nag only recognises SQS redrive policies.",
        )
        return queue

    def setup_dead_letter_alarm(self) -> cloudwatch.Alarm:
        """Any message in the DLQ notifies the topic; the alarm stays raised until it is read."""
        alarm = cloudwatch.Alarm(
            self,
            "DeadLetterAlarm",
            alarm_description=f"{self.settings.project_name}: a batch-inference event failed; "
            "read the dead-letter queue",
            metric=self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.topic))
        # CloudWatch encrypts the alarm message it publishes (as documented for alarms that
        # notify an encrypted topic), as the service.
        self.allow_service_to_publish("CloudWatchAlarms", "cloudwatch", "alarm:*")
        # The topic policy CDK writes (TLS only) replaces SNS's default one, so the alarm needs
        # its own allow; pinned to this alarm.
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowDeadLetterAlarm",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "ArnEquals": {"aws:SourceArn": alarm.alarm_arn},
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                },
            )
        )
        return alarm

    # --- the SageMaker role of the model and the transform job ---------------------------------

    def setup_transform_role(self) -> iam.Role:
        """What the model container and the transform job may do, and nothing more.

        Not the pipeline's role: that one may start processing and training jobs, register
        packages and write model artifacts, while this container runs with network access (it
        pip-installs the artifact's requirements) and needs only to read its model and input
        and write its output.
        """
        storage = self.storage
        name = self.settings.project_name
        role = iam.Role(
            self,
            "TransformRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"{name}: SageMaker Model and Batch Transform jobs",
        )
        # The pipeline writes its outputs (model.tar.gz included) under s3://artifacts/{name}/.
        storage.model_artifacts_bucket.grant_read(role, f"{name}/*")
        storage.data_bucket.grant_read(role, f"{INFERENCE_PREFIX}*")
        storage.forecasts_bucket.grant_put(role, f"{TRANSFORM_PREFIX}*")
        storage.key.grant_encrypt_decrypt(role)
        grant_job_basics(role, log_group_name="/aws/sagemaker/TransformJobs")
        acknowledge_wildcards(
            role.node.find_child("DefaultPolicy").node.default_child,
            {
                **CDK_GRANT_ACTIONS,
                prefixed_objects(storage.model_artifacts_bucket, f"{name}/*"): "this project's "
                "pipeline outputs, read-only, for the model artifact",
                prefixed_objects(storage.data_bucket, f"{INFERENCE_PREFIX}*"): "the inference "
                "input prefix of the data bucket, read-only",
                prefixed_objects(storage.forecasts_bucket, f"{TRANSFORM_PREFIX}*"): "the "
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
        """Let an AWS service encrypt what it publishes to the topic with the topic's key, for
        this account's resources only (the confused-deputy conditions). Not the one alarm or
        rule ARN: each refers to the topic, which refers to the key, and the key policy naming
        them would close a dependency cycle."""
        stack = Stack.of(self)
        self.notifications_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"Allow{name}ToPublish",
                principals=[iam.ServicePrincipal(f"{service}.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service=service,
                            resource=resource,
                            arn_format=ArnFormat.NO_RESOURCE_NAME,
                        )
                    },
                },
            )
        )

    def lambda_target(self, function: lambda_.IFunction) -> targets.LambdaFunction:
        return targets.LambdaFunction(
            function,
            dead_letter_queue=self.dead_letter_queue,
            retry_attempts=EVENT_RETRY_ATTEMPTS,
            max_event_age=EVENT_MAX_AGE,
        )


def prefixed_objects(bucket: s3.IBucket, pattern: str) -> str:
    """The IAM5 finding for ``bucket/pattern`` as cdk-nag names it."""
    stack = Stack.of(bucket)
    logical_id = stack.resolve(stack.get_logical_id(bucket.node.default_child))
    return f"Resource::<{logical_id}.Arn>/{pattern}"


def acknowledge_rule(construct: Construct, rule: str, reason: str) -> None:
    """Acknowledge one whole cdk-nag rule on one construct, with the reason written down."""
    Validations.of(construct).acknowledge(Acknowledgment(id=f"AwsSolutions::{rule}", reason=reason))
