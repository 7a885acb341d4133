"""The ECR repository of the project images, and what the build needs to push images into it."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.sagemaker_pipeline import dlc_repositories

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


def project_image_repository(
    scope: Construct, key: kms.IKey, removal: RemovalPolicy, pipeline_role: iam.IRole
) -> ecr.Repository:
    """The project images the jobs run (built by the CodeBuild project on push): encrypted
    with the project key, scanned on push, tags immutable (a tag names its content).

    CloudFormation names it: ECR's name rule refuses project names with "--", and a named
    repository kept by a failed first deploy would block the next one."""
    repository = ecr.Repository(
        scope,
        "ImageRepository",
        encryption=ecr.RepositoryEncryption.KMS,
        encryption_key=key,
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
        removal_policy=removal,
        empty_on_delete=removal is RemovalPolicy.DESTROY,
    )
    # the jobs (and the models the pipeline registers) run these images
    repository.grant_pull(pipeline_role)
    return repository


def grant_image_build(project: codebuild.PipelineProject, repository: ecr.IRepository) -> None:
    """Push to the project repository, pull the DLCs the images are built FROM, log in."""
    project.add_to_role_policy(
        iam.PolicyStatement(
            sid="PushProjectImages",
            # DescribeImages: whether a tag exists (the build skips it then)
            actions=[*ECR_PUSH_ACTIONS, "ecr:DescribeImages"],
            resources=[repository.repository_arn],
        )
    )
    project.add_to_role_policy(
        iam.PolicyStatement(
            sid="PullBaseImages",
            actions=ECR_PULL_ACTIONS,
            resources=[dlc_repositories(project)],
        )
    )
    project.add_to_role_policy(
        iam.PolicyStatement(sid="EcrLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"])
    )
