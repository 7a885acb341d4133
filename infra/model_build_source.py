"""The CI pipeline's source of the model-build code: a seeded CodeCommit repo or a connection."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import RemovalPolicy
from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from infra.settings import InfrastructureSettings, SourceType

# Left out of the repository's first commit: caches and build metadata of a local checkout.
SEED_EXCLUDE = ["__pycache__", "*.pyc", "*.egg-info", ".pytest_cache", ".ruff_cache", ".venv"]
MODEL_BUILD = Path(__file__).resolve().parent.parent / "model_build"


@dataclass(frozen=True)
class Source:
    """The source action, the V2 triggers it needs, and what it created for them."""

    action: codepipeline.IAction
    triggers: list[codepipeline.TriggerProps]
    repository: codecommit.Repository | None = None  # CodeCommit
    connection_role: iam.Role | None = None  # CodeConnections


def model_build_source(
    scope: Construct,
    settings: InfrastructureSettings,
    output: codepipeline.Artifact,
    removal: RemovalPolicy,
) -> Source:
    """The source action, and the V2 triggers it needs (CodeCommit uses EventBridge)."""
    source = settings.source
    if source.type is SourceType.CODECOMMIT:
        repository = seeded_repository(scope, settings, removal)
        action = actions.CodeCommitSourceAction(
            action_name="CodeCommit",
            repository=repository,
            branch=source.branch,
            output=output,
        )
        return Source(action, [], repository=repository)
    assert source.connection_arn and source.repository_owner  # checked by the settings
    role = connection_role(scope, settings, source.connection_arn)
    connection_action = actions.CodeStarConnectionsSourceAction(
        action_name="CodeConnections",
        connection_arn=source.connection_arn,
        owner=source.repository_owner,
        repo=source.repository_name,
        branch=source.branch,
        output=output,
        role=role,
    )
    trigger = codepipeline.TriggerProps(
        provider_type=codepipeline.ProviderType.CODE_STAR_SOURCE_CONNECTION,
        git_configuration=codepipeline.GitConfiguration(
            source_action=connection_action,
            push_filter=[codepipeline.GitPushFilter(branches_includes=[source.branch])],
        ),
    )
    return Source(connection_action, [trigger], connection_role=role)


def connection_role(
    scope: Construct, settings: InfrastructureSettings, connection_arn: str
) -> iam.Role:
    """The source action's role, made here to add the permission CDK leaves out.

    CDK grants ``codestar-connections:UseConnection``, but IAM matches the action's
    service prefix against the ARN's, and connections made since mid-2024 have
    ``arn:aws:codeconnections:...`` ARNs, which need ``codeconnections:UseConnection``.
    """
    # The account as trusted principal, as in CDK's own action roles: of its principals,
    # only CodePipeline's role is granted sts:AssumeRole on it.
    role = iam.Role(
        scope,
        "SourceActionRole",
        assumed_by=iam.AccountRootPrincipal(),
        description=f"{settings.project_name}: CodePipeline source action",
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
    return role


def seeded_repository(
    scope: Construct, settings: InfrastructureSettings, removal: RemovalPolicy
) -> codecommit.Repository:
    """A repository seeded with ``model_build/`` (CloudFormation commits it on creation
    only; later changes are pushed by the user). An asset, not ``Code.from_directory``,
    because only an asset can leave caches and build metadata out of the first commit."""
    source = settings.source
    seed = s3_assets.Asset(scope, "SeedCode", path=str(MODEL_BUILD), exclude=SEED_EXCLUDE)
    repository = codecommit.Repository(
        scope,
        "Repository",
        repository_name=source.repository_name,
        description=f"{settings.project_name}: model-build code; a push to "
        f"{source.branch} retrains",
        code=codecommit.Code.from_asset(seed, source.branch),
    )
    # The repository holds the user's code: kept on `cdk destroy` unless removalPolicy is
    # destroy, like the data.
    repository.apply_removal_policy(removal)
    return repository
