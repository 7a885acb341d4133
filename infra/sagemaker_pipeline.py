"""The SageMaker Pipeline's execution role, its model package group and its status events.

The pipeline itself has one owner: the CodeBuild runner (``python -m forecasting.pipeline
upsert``), which builds the definition from the pushed ``model_build/`` and creates or updates
the pipeline on every push. CloudFormation does not hold a copy of the definition, so a
``cdk deploy`` from a checkout with unpushed changes cannot point the pipeline at them, and the
last writer is always the last push.
"""

from __future__ import annotations

import json

import jsii
from aws_cdk import ArnFormat, Aws, CfnMapping, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from forecasting.pipeline import images
from infra.approved_model import find_approved_model_function
from infra.nag import CDK_GRANT_ACTIONS, acknowledge_wildcards, bucket_objects, regional_arn
from infra.sagemaker_arns import model_versions_arn, sagemaker_arn
from infra.settings import InfrastructureSettings
from infra.storage import StorageConstruct, removal_policy

DATA_PREFIX = "input/"  # where users upload the data the pipeline trains on
DLC_REPOSITORY_PATTERN = "repository/pytorch-*"  # the AWS PyTorch DLCs (training, inference)
REGISTRIES_MAPPING = "DeepLearningContainerRegistries"
PIPELINE_EXECUTION_STATUS_CHANGE = "SageMaker Model Building Pipeline Execution Status Change"
# Statuses an execution ends in (EventBridge's currentPipelineExecutionStatus).
EXECUTION_END_STATUSES = ["Succeeded", "Failed", "Stopped"]


def dlc_repositories(scope: Construct) -> str:
    """The AWS PyTorch DLC repositories of this stack's region: the partition of the stack and
    the account that hosts the images there, from the SDK's registry table (one mapping)."""
    stack = Stack.of(scope)
    mapping = stack.node.try_find_child(REGISTRIES_MAPPING)
    if mapping is None:
        table = {region: {"account": account} for region, account in images.registries().items()}
        mapping = CfnMapping(stack, REGISTRIES_MAPPING, mapping=table)
    assert isinstance(mapping, CfnMapping)
    account = mapping.find_in_map(Aws.REGION, "account")
    return f"arn:{Aws.PARTITION}:ecr:{Aws.REGION}:{account}:{DLC_REPOSITORY_PATTERN}"


def dlc_finding() -> str:
    """The IAM5 finding of :func:`dlc_repositories` as cdk-nag names it (the mapping lookup
    stays in the template even when the stack is bound to a region)."""
    account = json.dumps(
        {"Fn::FindInMap": [REGISTRIES_MAPPING, {"Ref": "AWS::Region"}, "account"]},
        separators=(",", ":"),
    )
    return f"Resource::arn:<AWS::Partition>:ecr:<AWS::Region>:{account}:{DLC_REPOSITORY_PATTERN}"


def log_group_arns(stack: Stack, log_group_name: str) -> list[str]:
    """A log group and its streams: CreateLogGroup is authorized on the group's ARN,
    CreateLogStream and PutLogEvents on the stream's (Service Authorization Reference, logs)."""

    def arn(name: str) -> str:
        return stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    return [arn(log_group_name), arn(f"{log_group_name}:log-stream:*")]


def grant_job_basics(role: iam.Role, *, log_group_name: str) -> None:
    """What any SageMaker job's role needs: pull the AWS PyTorch images, write its logs and
    its metrics (in the /aws/sagemaker namespaces only)."""
    stack = Stack.of(role)
    role.add_to_policy(
        iam.PolicyStatement(
            sid="PullDeepLearningContainers",
            actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            resources=[dlc_repositories(role)],
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
            resources=log_group_arns(stack, log_group_name),
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


def grant_volume_key(role: iam.IRole, key_arn: str) -> None:
    """SageMaker creates a grant on a job's KMS key with the caller's permissions, for AWS
    resources only (SageMaker API permissions reference; kms:GrantIsForAWSResource)."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="JobKeyGrant",
            actions=["kms:CreateGrant", "kms:DescribeKey"],
            resources=[key_arn],
            conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
        )
    )


class SageMakerPipelineConstruct(Construct):
    """Role + registry for the pipeline the CodeBuild runner creates, named after the project."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: InfrastructureSettings,
        storage: StorageConstruct,
    ) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        self.storage = storage
        name = settings.project_name
        self.pipeline_name = name
        self.data_uri = f"s3://{storage.data_bucket.bucket_name}/{DATA_PREFIX}"
        # set by the stack when mlflowTracking is configured (infra.mlflow_tracking)
        self.mlflow_tracking_server_arn: str | None = None
        self.role = self.setup_role()
        self.model_package_group = sagemaker.CfnModelPackageGroup(
            self,
            "ModelPackageGroup",
            model_package_group_name=name,
            model_package_group_description=f"{name}: forecasting models that passed the "
            "pipeline's quality gate, approved by a person",
        )
        self.model_package_group.apply_removal_policy(removal_policy(settings.removal_mode))
        self.approved_model_function = find_approved_model_function(self)

    @property
    def pipeline_arn(self) -> str:
        return sagemaker_arn(self, f"pipeline/{self.pipeline_name}")

    def setup_role(self) -> iam.Role:
        """What the pipeline's jobs may do: read the data and the pipeline's own outputs, write
        under the pipeline's prefix, their own job names, pass only this role, pull the AWS DLC
        images, write logs and metrics."""
        name = self.settings.project_name
        storage = self.storage
        role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"{name}: SageMaker Pipeline and its jobs",
        )
        storage.data_bucket.grant_read(role)
        # The runner uploads the source and every step writes under s3://artifacts/{name}/.
        storage.model_artifacts_bucket.grant_read(role, f"{name}/*")
        role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteOutputs",
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[storage.model_artifacts_bucket.arn_for_objects(f"{name}/*")],
            )
        )
        storage.key.grant_encrypt_decrypt(role)
        grant_volume_key(role, storage.key.key_arn)

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
                resources=[
                    sagemaker_arn(self, "processing-job/pipelines-*"),
                    sagemaker_arn(self, "training-job/pipelines-*"),
                ],
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
                resources=[
                    model_versions_arn(self, name),
                    sagemaker_arn(self, f"model-package-group/{name}"),
                ],
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
                f"{bucket_objects(storage.model_artifacts_bucket)[:-2]}/{name}/*": "this "
                "pipeline's prefix of the model-artifact bucket (source, outputs, checkpoints)",
                regional_arn("sagemaker", "processing-job/pipelines-*"): "the processing jobs "
                "SageMaker Pipelines names pipelines-<execution>-<step>",
                regional_arn("sagemaker", "training-job/pipelines-*"): "the training jobs "
                "SageMaker Pipelines names pipelines-<execution>-<step>",
                regional_arn("sagemaker", f"model-package/{name}/*"): "versions of this "
                "project's model package group only",
                regional_arn("logs", "log-group:/aws/sagemaker/*"): "the log groups SageMaker "
                "jobs write to",
                regional_arn("logs", "log-group:/aws/sagemaker/*:log-stream:*"): "the log "
                "streams of the log groups SageMaker jobs write to",
                dlc_finding(): "the AWS PyTorch deep learning container repositories of this "
                "region, pull actions only",
                "Resource::*": "ecr:GetAuthorizationToken and cloudwatch:PutMetricData take no "
                "resource; metrics are limited to the /aws/sagemaker namespace",
            },
        )
        return role

    def notify_execution_end(self, topic: sns.ITopic) -> events.Rule:
        """Each execution's end (succeeded, failed, stopped) goes to the topic: CodeBuild starts
        the execution and does not wait, since training may run longer than a build may."""
        rule = events.Rule(
            self,
            "ExecutionEndedRule",
            description=f"{self.pipeline_name}: SageMaker Pipeline execution ended -> SNS",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[PIPELINE_EXECUTION_STATUS_CHANGE],
                detail={
                    "pipelineArn": [self.pipeline_arn],
                    "currentPipelineExecutionStatus": EXECUTION_END_STATUSES,
                },
            ),
        )
        rule.add_target(
            TopicTarget(
                topic,
                events.RuleTargetInput.from_text(
                    f"SageMaker Pipeline {self.pipeline_name}: execution "
                    f"{events.EventField.from_path('$.detail.pipelineExecutionArn')} "
                    f"{events.EventField.from_path('$.detail.currentPipelineExecutionStatus')}"
                ),
            )
        )
        # Only this rule may publish (CDK's SnsTopic target would allow any rule, anywhere).
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowExecutionEndedRule",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "ArnEquals": {"aws:SourceArn": rule.rule_arn},
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                },
            )
        )
        return rule


@jsii.implements(events.IRuleTarget)
class TopicTarget:
    """An SNS topic as a rule target, without the unconditioned topic and key policy
    statements CDK's ``targets.SnsTopic`` adds; the caller grants the rule itself."""

    def __init__(self, topic: sns.ITopic, message: events.RuleTargetInput) -> None:
        self.topic = topic
        self.message = message

    def bind(self, rule: events.IRule, id: str | None = None) -> events.RuleTargetConfig:
        return events.RuleTargetConfig(arn=self.topic.topic_arn, input=self.message)
