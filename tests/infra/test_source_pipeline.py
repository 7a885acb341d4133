"""Source + CI as synthesized: repository or connection -> CodePipeline V2 -> CodeBuild runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_cdk import CfnElement
from cfnlint.api import ManualArgs, lint_file

from forecasting.pipeline import codebuild, runner_options
from infra.model_build_source import MODEL_BUILD
from infra.source_pipeline import ARTIFACTS_LOG_PREFIX
from tests.infra.conftest import BuildApp
from tests.infra.synthesized import SynthesizedApp

CONNECTION_ARN = "arn:aws:codeconnections:eu-west-1:123456789012:connection/abc-123"


@pytest.fixture(scope="module")
def connections_app(build_app: BuildApp) -> SynthesizedApp:
    """An external repository through CodeConnections instead of a CodeCommit repository
    (synthesizing also proves cdk-nag passes for this variant)."""
    return build_app(
        sourceType="codeconnections",
        connectionArn=CONNECTION_ARN,
        repositoryOwner="me",
        repositoryName="repo",
    )


def _one(app: SynthesizedApp, resource_type: str) -> tuple[str, dict[str, Any]]:
    (found,) = app.template.find_resources(resource_type).items()
    return found


def _id(app: SynthesizedApp, construct: Any) -> str:
    resource = construct if isinstance(construct, CfnElement) else construct.node.default_child
    return str(app.stack.resolve(resource.logical_id))


def _pipeline(app: SynthesizedApp) -> dict[str, Any]:
    _, pipeline = _one(app, "AWS::CodePipeline::Pipeline")
    return pipeline


def _environment(app: SynthesizedApp) -> dict[str, Any]:
    _, project = _one(app, "AWS::CodeBuild::Project")
    variables = project["Properties"]["Environment"]["EnvironmentVariables"]
    assert all(v["Type"] == "PLAINTEXT" for v in variables)
    return {v["Name"]: v["Value"] for v in variables}


def _statements(app: SynthesizedApp, role: Any) -> list[dict[str, Any]]:
    role_ref = {"Ref": _id(app, role)}
    return [
        statement
        for policy in app.template.find_resources("AWS::IAM::Policy").values()
        if role_ref in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _codecommit_rules(app: SynthesizedApp) -> list[dict[str, Any]]:
    """EventBridge rules on CodeCommit pushes (other constructs may add rules of their own)."""
    rules = app.template.find_resources("AWS::Events::Rule").values()
    return [r for r in rules if r["Properties"]["EventPattern"].get("source") == ["aws.codecommit"]]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


# --- CodeCommit (cdk.json's default) -----------------------------------------------------


def test_the_repository_is_seeded_with_model_build_from_an_asset(default_app):
    _, repository = _one(default_app, "AWS::CodeCommit::Repository")
    props = repository["Properties"]
    assert props["RepositoryName"] == "ts-forecasting"
    code = props["Code"]
    assert code["BranchName"] == "main"
    assert code["S3"]["Bucket"] == {
        "Fn::Sub": "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}"
    }
    assert code["S3"]["Key"].endswith(".zip")
    # The user's code survives `cdk destroy` unless removalPolicy is destroy.
    assert repository["DeletionPolicy"] == "RetainExceptOnCreate"


def test_the_seed_holds_the_buildspec_and_package_but_no_local_junk(default_app):
    _, repository = _one(default_app, "AWS::CodeCommit::Repository")
    digest = repository["Properties"]["Code"]["S3"]["Key"].removesuffix(".zip")
    staged = Path(default_app.app.outdir) / f"asset.{digest}"
    names = {path.relative_to(staged).as_posix() for path in staged.rglob("*")}
    assert {"buildspec.yml", "pyproject.toml", "forecasting/pipeline/codebuild.py"} <= names
    junk = [n for n in names if "__pycache__" in n or ".egg-info" in n or n.endswith(".pyc")]
    assert junk == []


def test_codepipeline_is_v2_with_a_kms_artifact_store_and_source_then_build(default_app):
    props = _pipeline(default_app)["Properties"]
    storage = default_app.stack.storage
    source_pipeline = default_app.stack.source_pipeline
    assert props["PipelineType"] == "V2"
    assert props["RestartExecutionOnUpdate"] is True
    assert props["ArtifactStore"] == {
        "Type": "S3",
        "Location": {"Ref": _id(default_app, source_pipeline.artifact_bucket)},
        "EncryptionKey": {
            "Type": "KMS",
            "Id": {"Fn::GetAtt": [_id(default_app, storage.key), "Arn"]},
        },
    }
    source, build = props["Stages"]
    assert [source["Name"], build["Name"]] == ["Source", "Build"]
    (source_action,) = source["Actions"]
    (build_action,) = build["Actions"]
    assert source_action["ActionTypeId"]["Provider"] == "CodeCommit"
    assert source_action["Configuration"]["BranchName"] == "main"
    assert source_action["Configuration"]["PollForSourceChanges"] is False  # EventBridge
    assert build_action["ActionTypeId"]["Provider"] == "CodeBuild"
    assert build_action["InputArtifacts"] == source_action["OutputArtifacts"]
    assert build_action["Configuration"]["ProjectName"] == {
        "Ref": _id(default_app, source_pipeline.project)
    }
    assert len(_codecommit_rules(default_app)) == 1  # a push to main starts a run


def test_codepipeline_starts_only_after_the_registry_and_the_execution_role_exist(default_app):
    """Its first run starts on creation: the runner creates the SageMaker Pipeline with the role
    (and its policy) and the first execution registers into the group."""
    depends_on = str(_pipeline(default_app)["DependsOn"])
    stack = default_app.stack
    assert _id(default_app, stack.pipeline.model_package_group) in depends_on
    assert _id(default_app, stack.pipeline.role) in depends_on
    policy = stack.pipeline.role.node.find_child("DefaultPolicy").node.default_child
    assert _id(default_app, policy) in depends_on


def test_the_stack_does_not_hold_the_sagemaker_pipeline(default_app):
    """One owner: the runner writes the pipeline on every push; a `cdk deploy` from a checkout
    with unpushed changes to model_build/ cannot overwrite it (item 5 of issue 18)."""
    assert default_app.template.find_resources("AWS::SageMaker::Pipeline") == {}
    buildspec = yaml.safe_load((MODEL_BUILD / "buildspec.yml").read_text())
    # the build builds the missing project images, then starts the execution and does not
    # wait for it (training may outlast a build)
    assert buildspec["phases"]["build"]["commands"] == [
        "python -m forecasting.pipeline images --build",
        "python -m forecasting.pipeline upsert --start",
    ]


def test_the_artifact_bucket_is_encrypted_versioned_and_logged(any_app):
    storage = any_app.stack.storage
    bucket = any_app.template_json["Resources"][
        _id(any_app, any_app.stack.source_pipeline.artifact_bucket)
    ]
    props = bucket["Properties"]
    rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": [_id(any_app, storage.key), "Arn"]},
    }
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    (lifecycle,) = props["LifecycleConfiguration"]["Rules"]
    assert lifecycle["ExpirationInDays"] > 0  # per-execution artifacts do not pile up
    assert props["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": _id(any_app, storage.access_logs_bucket)},
        "LogFilePrefix": ARTIFACTS_LOG_PREFIX,
    }
    retained = any_app.stack.settings.removal_mode == "retain"
    assert bucket["DeletionPolicy"] == ("RetainExceptOnCreate" if retained else "Delete")


def test_the_build_project_runs_the_buildspec_encrypted_with_the_project_key(default_app):
    _, project = _one(default_app, "AWS::CodeBuild::Project")
    props = project["Properties"]
    key_arn = {"Fn::GetAtt": [_id(default_app, default_app.stack.storage.key), "Arn"]}
    assert props["Source"] == {"Type": "CODEPIPELINE", "BuildSpec": "buildspec.yml"}
    assert props["EncryptionKey"] == key_arn
    assert props["Environment"]["Image"] == "aws/codebuild/standard:7.0"
    # docker build needs the Docker daemon, which CodeBuild runs in privileged mode only
    assert props["Environment"]["PrivilegedMode"] is True
    # the build starts the execution and does not wait for training (an EventBridge rule
    # reports the end): two hours cover install, image builds, upload and upsert
    assert props["TimeoutInMinutes"] == 120
    log_group = default_app.stack.source_pipeline.log_group
    assert props["LogsConfig"]["CloudWatchLogs"] == {
        "GroupName": {"Ref": _id(default_app, log_group)},
        "Status": "ENABLED",
    }
    logs = default_app.template_json["Resources"][_id(default_app, log_group)]
    assert logs["Properties"]["KmsKeyId"] == key_arn
    assert logs["Properties"]["RetentionInDays"] > 0


def test_the_image_offers_the_python_the_buildspec_asks_for():
    """aws/codebuild/standard:7.0 ships the python 3.11 and 3.12 runtimes."""
    buildspec = yaml.safe_load((MODEL_BUILD / "buildspec.yml").read_text(encoding="utf-8"))
    python = str(buildspec["phases"]["install"]["runtime-versions"]["python"])
    assert python in {"3.11", "3.12"}


def test_the_logs_service_may_use_the_key_for_the_build_log_group_only(default_app):
    key = default_app.template_json["Resources"][_id(default_app, default_app.stack.storage.key)]
    (statement,) = [
        s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Sid") == "CodeBuildLogs"
    ]
    assert "logs." in json.dumps(statement["Principal"])
    arn = json.dumps(statement["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"])
    assert ":log-group:/aws/codebuild/ts-forecasting-model-build" in arn


def test_the_build_environment_comes_from_the_stack_resources(default_app):
    stack = default_app.stack
    env = _environment(default_app)
    assert env["PIPELINE_NAME"] == "ts-forecasting"
    assert env["PROJECT_NAME"] == "ts-forecasting"
    assert env["MODEL_PACKAGE_GROUP"] == "ts-forecasting"
    assert env["PIPELINE_ROLE_ARN"] == {
        "Fn::GetAtt": [_id(default_app, stack.pipeline.role), "Arn"]
    }
    assert env["ARTIFACTS_BUCKET"] == {
        "Ref": _id(default_app, stack.storage.model_artifacts_bucket)
    }
    assert env["KMS_KEY_ID"] == {"Fn::GetAtt": [_id(default_app, stack.storage.key), "Arn"]}
    assert env["DATA_URI"] == {
        "Fn::Join": ["", ["s3://", {"Ref": _id(default_app, stack.storage.data_bucket)}, "/input/"]]
    }
    # training settings travel with the pushed code (model_build/training.json), not the stack
    assert "PIPELINE_SETTINGS" not in env


def test_the_build_environment_names_are_exactly_what_the_runner_reads(mlflow_app, default_app):
    # MLFLOW_TRACKING_SERVER_ARN only with mlflowTracking set; the runner's option is optional
    assert set(_environment(mlflow_app)) - set(_environment(default_app)) == {
        "MLFLOW_TRACKING_SERVER_ARN"
    }
    names = set(_environment(mlflow_app))
    read_by_options = {option.env[0] for option in runner_options.OPTIONS}
    # AWS_REGION is the only runner setting CodeBuild provides itself; the training
    # configuration is the pushed training.json.
    # (SUBNET_IDS and SECURITY_GROUP_IDS come only with a VPC: tests/infra/test_networking.py)
    optional = {"AWS_REGION", "PIPELINE_SETTINGS", "SUBNET_IDS", "SECURITY_GROUP_IDS"}
    assert names == read_by_options - optional
    # and with them (plus CodeBuild's AWS_REGION) the runner has every required setting
    environ = {name: "value" for name in names} | {"AWS_REGION": "eu-west-1"}
    resolved = runner_options.resolve_options(codebuild.parse_args(["upsert"]), environ)
    unset = {"settings", "subnet_ids", "security_group_ids"}
    assert {o.dest for o in runner_options.OPTIONS} - unset == set(resolved)


def test_the_build_role_may_only_run_this_project_pipeline(default_app):
    stack = default_app.stack
    statements = {
        s["Sid"]: s
        for s in _statements(default_app, stack.source_pipeline.project.role)
        if "Sid" in s
    }

    def sagemaker_arn(resource: str) -> dict[str, Any]:
        return {
            "Fn::Join": [
                "",
                [
                    "arn:",
                    {"Ref": "AWS::Partition"},
                    ":sagemaker:",
                    {"Ref": "AWS::Region"},
                    ":",
                    {"Ref": "AWS::AccountId"},
                    f":{resource}",
                ],
            ]
        }

    upload = statements["UploadSource"]
    assert _actions(upload) == ["s3:GetObject", "s3:PutObject"]
    bucket_arn = {"Fn::GetAtt": [_id(default_app, stack.storage.model_artifacts_bucket), "Arn"]}
    assert upload["Resource"] == {"Fn::Join": ["", [bucket_arn, "/ts-forecasting/source/*"]]}
    upsert = statements["UpsertPipeline"]
    assert set(_actions(upsert)) == {
        "sagemaker:DescribePipeline",
        "sagemaker:CreatePipeline",
        "sagemaker:UpdatePipeline",
        "sagemaker:AddTags",
        "sagemaker:StartPipelineExecution",
    }
    assert upsert["Resource"] == sagemaker_arn("pipeline/ts-forecasting")
    follow = statements["FollowExecutions"]
    assert set(_actions(follow)) == {
        "sagemaker:DescribePipelineExecution",
        "sagemaker:ListPipelineExecutionSteps",
    }
    assert follow["Resource"] == sagemaker_arn("pipeline/ts-forecasting/execution/*")
    pass_role = statements["PassPipelineRole"]
    assert pass_role["Action"] == "iam:PassRole"
    assert pass_role["Resource"] == {"Fn::GetAtt": [_id(default_app, stack.pipeline.role), "Arn"]}
    assert pass_role["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }


def test_the_build_role_has_no_service_wildcards_or_star_resources(default_app):
    role = default_app.stack.source_pipeline.project.role
    statements = _statements(default_app, role)
    actions = [a for s in statements for a in _actions(s)]
    assert not any(a == "*" or a.endswith(":*") for a in actions)
    # docker login's token is the one action that takes no resource
    assert [s["Action"] for s in statements if s["Resource"] == "*"] == [
        "ecr:GetAuthorizationToken"
    ]
    # the runner writes to S3 only under its source prefix and the data snapshots: no delete
    writes = [s for s in statements if "s3:PutObject" in _actions(s)]
    assert [s["Sid"] for s in writes] == ["UploadSource", "SnapshotInputData"]
    (snapshots,) = [s for s in writes if s["Sid"] == "SnapshotInputData"]
    data_arn = {"Fn::GetAtt": [_id(default_app, default_app.stack.storage.data_bucket), "Arn"]}
    assert snapshots["Resource"] == [
        {"Fn::Join": ["", [data_arn, f"/{prefix}*"]]} for prefix in ("input/", "snapshots/")
    ]
    assert not any(a.startswith("s3:Delete") for a in actions)


def test_outputs_name_the_repository_and_the_codepipeline(default_app):
    outputs = default_app.template_json["Outputs"]
    repository_id = _id(default_app, default_app.stack.source_pipeline.repository)
    assert outputs["RepositoryCloneUrlHttp"]["Value"] == {
        "Fn::GetAtt": [repository_id, "CloneUrlHttp"]
    }
    assert "codecommit::" in json.dumps(outputs["RepositoryCloneUrlGrc"]["Value"])
    assert outputs["CodePipelineName"]["Value"] == {
        "Ref": _id(default_app, default_app.stack.source_pipeline.pipeline)
    }
    assert "SourceRepository" not in outputs


# --- CodeConnections ----------------------------------------------------------------------


def test_codeconnections_uses_the_connection_and_no_codecommit(connections_app):
    connections_app.template.resource_count_is("AWS::CodeCommit::Repository", 0)
    assert _codecommit_rules(connections_app) == []
    props = _pipeline(connections_app)["Properties"]
    assert props["PipelineType"] == "V2"
    (source_action,) = props["Stages"][0]["Actions"]
    assert source_action["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert source_action["Configuration"] == {
        "ConnectionArn": CONNECTION_ARN,
        "FullRepositoryId": "me/repo",
        "BranchName": "main",
    }
    assert props["Triggers"] == [
        {
            "ProviderType": "CodeStarSourceConnection",
            "GitConfiguration": {
                "SourceActionName": source_action["Name"],
                "Push": [{"Branches": {"Includes": ["main"]}}],
            },
        }
    ]


def test_the_source_role_may_use_a_codeconnections_arn(connections_app):
    """IAM matches the action's service prefix to the ARN's: codeconnections:UseConnection."""
    role = connections_app.stack.source_pipeline.connection_role
    uses = [
        s
        for s in _statements(connections_app, role)
        if any("UseConnection" in a for a in _actions(s))
    ]
    assert {a for s in uses for a in _actions(s)} >= {"codeconnections:UseConnection"}
    assert all(s["Resource"] == CONNECTION_ARN for s in uses)
    (source_action,) = _pipeline(connections_app)["Properties"]["Stages"][0]["Actions"]
    assert source_action["RoleArn"] == {"Fn::GetAtt": [_id(connections_app, role), "Arn"]}


def test_codeconnections_outputs_name_the_external_repository(connections_app):
    outputs = connections_app.template_json["Outputs"]
    assert outputs["SourceRepository"]["Value"] == "me/repo@main"
    assert "RepositoryCloneUrlHttp" not in outputs
    assert "CodePipelineName" in outputs


def test_codeconnections_template_has_no_cfn_lint_errors(connections_app, tmp_path):
    path = tmp_path / "template.json"
    path.write_text(json.dumps(connections_app.template_json), encoding="utf-8")
    matches = lint_file(path, config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    assert [f"{m.rule.id} {m.message}" for m in matches if m.rule.id.startswith("E")] == []
