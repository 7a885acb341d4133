"""Source + CI: a push to the model-build repository re-runs the SageMaker Pipeline.

CodePipeline (V2) watches the repository, CodeBuild runs ``model_build/buildspec.yml``,
which calls ``python -m forecasting.pipeline upsert --start``: it uploads the source, creates or
updates the SageMaker Pipeline (the runner is its only owner, see :mod:`infra.sagemaker_pipeline`)
from the pushed code and ``training.json``, and starts an execution. The build does not wait for
it: the execution's end reaches the SNS topic through an EventBridge rule.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import ArnFormat, CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from forecasting.pipeline.data_snapshot import SNAPSHOT_PREFIX
from infra.nag import CDK_GRANT_ACTIONS, acknowledge_wildcards, bucket_objects, regional_arn
from infra.networking import vpc_environment
from infra.sagemaker_pipeline import (
    DATA_PREFIX,
    SageMakerPipelineConstruct,
    dlc_finding,
    dlc_repositories,
    sagemaker_arn,
)
from infra.settings import InfrastructureSettings, SourceType
from infra.storage import StorageConstruct, removal_policy

ARTIFACTS_LOG_PREFIX = "codepipeline-artifacts/"
# Left out of the repository's first commit: caches and build metadata of a local checkout.
SEED_EXCLUDE = ["__pycache__", "*.pyc", "*.egg-info", ".pytest_cache", ".ruff_cache", ".venv"]
MODEL_BUILD = Path(__file__).resolve().parent.parent / "model_build"
# The build installs the runner, builds the project images when image/ changed (a GPU image's
# CUDA wheels take the longest), uploads the source and starts the execution; it does not wait
# for training (see the module docstring).
BUILD_TIMEOUT = Duration.hours(2)
# Each push that changes image/ adds up to three images; older ones serve registered models
# that may still be approved, so many are kept.
IMAGES_KEPT = 30
# What `docker push` calls on the project repository, and `docker pull` (FROM) on the DLCs'
# (ECR User Guide: "IAM permissions for pushing an image", "... for pulling an image").
ECR_PUSH_ACTIONS = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
    "ecr:BatchGetImage",
]
ECR_PULL_ACTIONS = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
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

        self.repository: codecommit.Repository | None = None
        self.connection_role: iam.Role | None = None
        source_output = codepipeline.Artifact("Source")
        self.source_action, triggers = self.setup_source(source_output)
        self.log_group = self.setup_log_group(f"/aws/codebuild/{name}")
        self.image_repository = self.setup_image_repository()
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
            triggers=triggers,
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

    # --- source -----------------------------------------------------------------------

    def setup_source(
        self, output: codepipeline.Artifact
    ) -> tuple[codepipeline.IAction, list[codepipeline.TriggerProps]]:
        """The source action, and the V2 triggers it needs (CodeCommit uses EventBridge)."""
        source = self.settings.source
        if source.type is SourceType.CODECOMMIT:
            self.repository = self.setup_repository()
            action = actions.CodeCommitSourceAction(
                action_name="CodeCommit",
                repository=self.repository,
                branch=source.branch,
                output=output,
            )
            return action, []
        assert source.connection_arn and source.repository_owner  # checked by the settings
        connection_action = actions.CodeStarConnectionsSourceAction(
            action_name="CodeConnections",
            connection_arn=source.connection_arn,
            owner=source.repository_owner,
            repo=source.repository_name,
            branch=source.branch,
            output=output,
            role=self.setup_connection_role(source.connection_arn),
        )
        trigger = codepipeline.TriggerProps(
            provider_type=codepipeline.ProviderType.CODE_STAR_SOURCE_CONNECTION,
            git_configuration=codepipeline.GitConfiguration(
                source_action=connection_action,
                push_filter=[codepipeline.GitPushFilter(branches_includes=[source.branch])],
            ),
        )
        return connection_action, [trigger]

    def setup_connection_role(self, connection_arn: str) -> iam.Role:
        """The source action's role, made here to add the permission CDK leaves out.

        CDK grants ``codestar-connections:UseConnection``, but IAM matches the action's
        service prefix against the ARN's, and connections made since mid-2024 have
        ``arn:aws:codeconnections:...`` ARNs, which need ``codeconnections:UseConnection``.
        """
        # The account as trusted principal, as in CDK's own action roles: of its principals,
        # only CodePipeline's role is granted sts:AssumeRole on it.
        role = iam.Role(
            self,
            "SourceActionRole",
            assumed_by=iam.AccountRootPrincipal(),
            description=f"{self.settings.project_name}: CodePipeline source action",
        )
        service = connection_arn.split(":")[2]
        if service != "codestar-connections":
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="UseConnection",
                    actions=[f"{service}:UseConnection"],
                    resources=[connection_arn],
                )
            )
        self.connection_role = role
        return role

    def setup_repository(self) -> codecommit.Repository:
        """A repository seeded with ``model_build/`` (CloudFormation commits it on creation
        only; later changes are pushed by the user). An asset, not ``Code.from_directory``,
        because only an asset can leave caches and build metadata out of the first commit."""
        source = self.settings.source
        seed = s3_assets.Asset(self, "SeedCode", path=str(MODEL_BUILD), exclude=SEED_EXCLUDE)
        repository = codecommit.Repository(
            self,
            "Repository",
            repository_name=source.repository_name,
            description=f"{self.settings.project_name}: model-build code; a push to "
            f"{source.branch} retrains",
            code=codecommit.Code.from_asset(seed, source.branch),
        )
        # The repository holds the user's code: kept on `cdk destroy` unless removalPolicy is
        # destroy, like the data.
        repository.apply_removal_policy(self._removal_policy)
        return repository

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

    def setup_image_repository(self) -> ecr.Repository:
        """The project images the jobs run (built by the CodeBuild project on push): encrypted
        with the project key, scanned on push, tags immutable (a tag names its content).

        CloudFormation names it: ECR's name rule refuses project names with "--", and a named
        repository kept by a failed first deploy would block the next one."""
        repository = ecr.Repository(
            self,
            "ImageRepository",
            encryption=ecr.RepositoryEncryption.KMS,
            encryption_key=self.storage.key,
            image_scan_on_push=True,
            image_tag_mutability=ecr.TagMutability.IMMUTABLE,
            lifecycle_rules=[
                ecr.LifecycleRule(
                    description="untagged layers of interrupted pushes",
                    tag_status=ecr.TagStatus.UNTAGGED,
                    max_image_age=Duration.days(7),
                    rule_priority=1,
                ),
                ecr.LifecycleRule(
                    description=f"keep the newest {IMAGES_KEPT} images",
                    tag_status=ecr.TagStatus.ANY,
                    max_image_count=IMAGES_KEPT,
                    rule_priority=2,
                ),
            ],
            removal_policy=self._removal_policy,
            empty_on_delete=self._removal_policy is RemovalPolicy.DESTROY,
        )
        # the jobs (and the models the pipeline registers) run these images
        repository.grant_pull(self.pipeline_role)
        return repository

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
        self.project.add_to_role_policy(
            iam.PolicyStatement(
                sid="PushProjectImages",
                # DescribeImages: whether a tag exists (the build skips it then)
                actions=[*ECR_PUSH_ACTIONS, "ecr:DescribeImages"],
                resources=[self.image_repository.repository_arn],
            )
        )
        self.project.add_to_role_policy(
            iam.PolicyStatement(
                sid="PullBaseImages",
                actions=ECR_PULL_ACTIONS,
                resources=[dlc_repositories(self)],
            )
        )
        self.project.add_to_role_policy(
            iam.PolicyStatement(
                sid="EcrLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"]
            )
        )
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
