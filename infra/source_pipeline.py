"""Source + CI: a push to the model-build repository re-runs the SageMaker Pipeline.

CodePipeline (V2) watches the repository, CodeBuild runs ``model_build/buildspec.yml``,
which calls ``python -m forecasting.pipeline upsert --start``: it uploads the source, creates or
updates the SageMaker Pipeline (the runner is its only owner, see :mod:`infra.sagemaker_pipeline`)
from the pushed code and ``training.json``, and starts an execution. The build does not wait for
it: the execution's end reaches the SNS topic through an EventBridge rule.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from forecasting.pipeline.data_snapshot import SNAPSHOT_PREFIX
from infra.image_repository import grant_image_build, project_image_repository
from infra.model_build_source import model_build_source
from infra.nag import CDK_GRANT_ACTIONS, acknowledge_wildcards, bucket_objects, regional_arn
from infra.networking import vpc_environment
from infra.sagemaker_arns import sagemaker_arn
from infra.sagemaker_pipeline import DATA_PREFIX, SageMakerPipelineConstruct, dlc_finding
from infra.settings import InfrastructureSettings
from infra.storage import StorageConstruct, removal_policy

ARTIFACTS_LOG_PREFIX = "codepipeline-artifacts/"
# The build installs the runner, builds the project images when image/ changed (a GPU image's
# CUDA wheels take the longest), uploads the source and starts the execution; it does not wait
# for training (see the module docstring).
BUILD_TIMEOUT = Duration.hours(2)
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS


def runner_environment(
    pipeline: SageMakerPipelineConstruct,
    storage: StorageConstruct,
    settings: InfrastructureSettings,
    image_repository: ecr.IRepository,
) -> dict[str, str]:
    """The variables `forecasting.pipeline.codebuild` reads, from the stack's own resources.

    AWS_REGION is not here: CodeBuild sets it. The training configuration is not here either:
    it is model_build/training.json, which the push carries. Tests check these names against
    the runner's.
    """
    tracking = pipeline.mlflow_tracking_server_arn
    return {
        **({"MLFLOW_TRACKING_SERVER_ARN": tracking} if tracking else {}),
        "PIPELINE_NAME": pipeline.pipeline_name,
        "PIPELINE_ROLE_ARN": pipeline.role.role_arn,
        "ARTIFACTS_BUCKET": storage.model_artifacts_bucket.bucket_name,
        "KMS_KEY_ID": storage.key.key_arn,
        "MODEL_PACKAGE_GROUP": str(pipeline.model_package_group.model_package_group_name),
        "APPROVED_MODEL_FUNCTION_ARN": pipeline.approved_model_function.function_arn,
        "DATA_URI": pipeline.data_uri,
        "PROJECT_NAME": settings.project_name,
        "IMAGE_REPOSITORY_URI": image_repository.repository_uri,
        **vpc_environment(settings),
    }


class SourcePipelineConstruct(Construct):
    """Repository (or connection) -> CodePipeline V2 -> CodeBuild running the pipeline runner.

    The artifact bucket is a dedicated one: CDK grants every action role read-write on the
    whole artifact bucket, so reusing a data bucket would let the CI roles delete model
    artifacts or data. It is encrypted with the project key, like every other bucket.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: InfrastructureSettings,
        storage: StorageConstruct,
        sagemaker_pipeline: SageMakerPipelineConstruct,
    ) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        self.storage = storage
        self.sagemaker_pipeline = sagemaker_pipeline
        self.pipeline_role = sagemaker_pipeline.role
        self._removal_policy = removal_policy(settings.removal_mode)
        name = f"{settings.project_name}-model-build"

        source_output = codepipeline.Artifact("Source")
        source = model_build_source(self, settings, source_output, self._removal_policy)
        self.source_action = source.action
        self.repository = source.repository
        self.connection_role = source.connection_role
        self.log_group = self.setup_log_group(f"/aws/codebuild/{name}")
        self.image_repository = project_image_repository(
            self, storage.key, self._removal_policy, sagemaker_pipeline.role
        )
        self.project = self.setup_project(name)
        self.artifact_bucket = self.setup_artifact_bucket()
        self.pipeline = codepipeline.Pipeline(
            self,
            "Pipeline",
            pipeline_name=name,
            pipeline_type=codepipeline.PipelineType.V2,
            artifact_bucket=self.artifact_bucket,
            # Run on the first deploy too, so the pipeline exists with the seeded code at once.
            restart_execution_on_update=True,
            triggers=source.triggers,
            stages=[
                codepipeline.StageProps(stage_name="Source", actions=[self.source_action]),
                codepipeline.StageProps(
                    stage_name="Build",
                    actions=[
                        actions.CodeBuildAction(
                            action_name="UpsertAndRunPipeline",
                            project=self.project,
                            input=source_output,
                        )
                    ],
                ),
            ],
        )
        # The first execution starts as soon as CodePipeline exists: the runner then creates the
        # SageMaker Pipeline with the execution role (and its policy) and registers into the group.
        pipeline_resource = self.pipeline.node.default_child
        assert isinstance(pipeline_resource, CfnResource)
        pipeline_resource.add_resource_dependency(sagemaker_pipeline.model_package_group)
        self.pipeline.node.add_dependency(sagemaker_pipeline.role)
        self.setup_role_policy()
        self.acknowledge_findings()

    # --- build ------------------------------------------------------------------------

    def setup_log_group(self, log_group_name: str) -> logs.LogGroup:
        """Build logs encrypted with the project key and expired, not kept forever.

        CloudWatch Logs may use the key only for this log group (the encryption-context
        condition), which the key policy has to allow since the service is not an IAM principal.
        """
        stack = Stack.of(self)
        log_group_arn = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=log_group_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.storage.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CodeBuildLogs",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": log_group_arn}},
            )
        )
        log_group = logs.LogGroup(
            self,
            "BuildLogs",
            log_group_name=log_group_name,
            encryption_key=self.storage.key,
            retention=LOG_RETENTION,
            removal_policy=self._removal_policy,
        )
        return log_group

    def setup_project(self, name: str) -> codebuild.PipelineProject:
        """The runner in CodeBuild, configured only through environment variables."""
        return codebuild.PipelineProject(
            self,
            "Build",
            project_name=name,
            description=f"{self.settings.project_name}: create or update the SageMaker Pipeline "
            "from the pushed code and start it",
            build_spec=codebuild.BuildSpec.from_source_filename("buildspec.yml"),
            environment=codebuild.BuildEnvironment(
                # Ubuntu 22.04 with the python 3.12 runtime the buildspec asks for
                build_image=codebuild.LinuxBuildImage.STANDARD_7_0,
                # docker build needs the Docker daemon, which CodeBuild runs only when
                # privileged; MEDIUM: a GPU image's CUDA wheels need the disk and memory
                compute_type=codebuild.ComputeType.MEDIUM,
                privileged=True,
            ),
            environment_variables={
                key: codebuild.BuildEnvironmentVariable(value=value)
                for key, value in runner_environment(
                    self.sagemaker_pipeline, self.storage, self.settings, self.image_repository
                ).items()
            },
            encryption_key=self.storage.key,
            timeout=BUILD_TIMEOUT,
            logging=codebuild.LoggingOptions(
                cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=self.log_group)
            ),
            # The build publishes no test reports: no report-group permissions.
            grant_report_group_permissions=False,
        )

    def setup_artifact_bucket(self) -> s3.Bucket:
        """Holds the source revision between stages; same guards as the data buckets."""
        destroy = self._removal_policy is RemovalPolicy.DESTROY
        return s3.Bucket(
            self,
            "ArtifactBucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.storage.key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            server_access_logs_bucket=self.storage.access_logs_bucket,
            server_access_logs_prefix=ARTIFACTS_LOG_PREFIX,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireOldRevisions",
                    # Each execution writes new keys and only it (or a retry of one of its
                    # stages) reads them; the code itself lives in the repository.
                    expiration=Duration.days(30),
                    noncurrent_version_expiration=Duration.days(7),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
            removal_policy=self._removal_policy,
            auto_delete_objects=destroy,
        )

    # --- permissions ------------------------------------------------------------------

    def setup_role_policy(self) -> None:
        """Exactly the calls the runner makes, on this project's pipeline only."""
        role = self.project.role
        assert role is not None  # PipelineProject always creates one when none is given
        name = self.sagemaker_pipeline.pipeline_name
        pipeline_arn = self.sagemaker_pipeline.pipeline_arn
        self.project.add_to_role_policy(
            iam.PolicyStatement(
                sid="UploadSource",
                # head_object needs GetObject; the runner never lists or deletes.
                actions=["s3:GetObject", "s3:PutObject"],
                resources=[self.storage.model_artifacts_bucket.arn_for_objects(f"{name}/source/*")],
            )
        )
        self.storage.key.grant_encrypt_decrypt(role)
        self.project.add_to_role_policy(
            iam.PolicyStatement(
                sid="CheckInputData",
                # whether input/ holds data before starting (ListObjectsV2 with this prefix)
                actions=["s3:ListBucket"],
                resources=[self.storage.data_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [DATA_PREFIX, f"{DATA_PREFIX}*"]}},
            )
        )
        self.project.add_to_role_policy(
            iam.PolicyStatement(
                sid="SnapshotInputData",
                # the step cache keys on URIs: the runner copies input/ to snapshots/<digest>/
                # (forecasting.pipeline.data_snapshot) and the execution reads that copy
                actions=["s3:GetObject", "s3:PutObject"],
                resources=[
                    self.storage.data_bucket.arn_for_objects(f"{DATA_PREFIX}*"),
                    self.storage.data_bucket.arn_for_objects(f"{SNAPSHOT_PREFIX}*"),
                ],
            )
        )
        self.project.add_to_role_policy(
            iam.PolicyStatement(
                sid="UpsertPipeline",
                actions=[
                    "sagemaker:DescribePipeline",
                    "sagemaker:CreatePipeline",
                    "sagemaker:UpdatePipeline",
                    "sagemaker:AddTags",
                    "sagemaker:StartPipelineExecution",
                ],
                resources=[pipeline_arn],
            )
        )
        self.project.add_to_role_policy(
            iam.PolicyStatement(
                sid="FollowExecutions",
                actions=[
                    "sagemaker:DescribePipelineExecution",
                    "sagemaker:ListPipelineExecutionSteps",
                ],
                resources=[sagemaker_arn(self, f"pipeline/{name}/execution/*")],
            )
        )
        grant_image_build(self.project, self.image_repository)
        self.project.add_to_role_policy(
            iam.PolicyStatement(
                sid="PassPipelineRole",
                actions=["iam:PassRole"],
                resources=[self.pipeline_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )

    def acknowledge_findings(self) -> None:
        """IAM5 per wildcard on each role this construct creates (CDK's grants included)."""
        name = self.sagemaker_pipeline.pipeline_name
        artifacts = {
            **CDK_GRANT_ACTIONS,
            bucket_objects(self.artifact_bucket): "the CI artifact bucket, which holds "
            "only this pipeline's source revisions",
        }
        project_role = self.project.role
        assert project_role is not None
        acknowledge_wildcards(
            project_role.node.find_child("DefaultPolicy").node.default_child,
            {
                **artifacts,
                f"{bucket_objects(self.storage.model_artifacts_bucket)[:-2]}/{name}/source/*": (
                    "the source tarballs the runner uploads, one key per content digest"
                ),
                f"{bucket_objects(self.storage.data_bucket)[:-2]}/{DATA_PREFIX}*": "the input "
                "data users upload, which the runner copies to a snapshot",
                f"{bucket_objects(self.storage.data_bucket)[:-2]}/{SNAPSHOT_PREFIX}*": "the "
                "input data snapshots the runner writes, one prefix per content fingerprint",
                regional_arn("sagemaker", f"pipeline/{name}/execution/*"): "the executions of "
                "this project's SageMaker Pipeline, to follow the one the build started",
                regional_arn(
                    "logs", f"log-group:/aws/codebuild/<{self._logical_id(self.project)}>:*"
                ): "CDK's default grant on "
                "the streams of /aws/codebuild/<project>, the name this build's log group has",
                dlc_finding(): "the AWS PyTorch deep learning container repositories of this "
                "region, which the project images are built FROM; pull actions only",
                "Resource::*": "ecr:GetAuthorizationToken takes no resource (docker login)",
            },
        )
        # CodePipeline's role and each action role CDK creates under it get the same
        # read-write grant on the artifact bucket and key; acknowledged once for all of them.
        acknowledge_wildcards(self.pipeline, artifacts)
        if self.connection_role is not None:
            acknowledge_wildcards(self.connection_role, artifacts)

    def _logical_id(self, construct: Construct) -> str:
        stack = Stack.of(self)
        return str(stack.resolve(stack.get_logical_id(construct.node.default_child)))
