"""Batch inference in the template: Lambdas, rules, roles, the failure path and QuickSight.

Beyond the shapes, two things are checked against behaviour: the rules' event patterns are
evaluated (with moto's EventBridge matcher) on events shaped like the ones SageMaker sends,
and both handlers run in-process under moto with the environment the template gives them, so
the stack's wiring is known to satisfy each handler's ``Settings.from_env``.
"""

from __future__ import annotations

import copy
import csv
import fnmatch
import io
import json
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_cdk import aws_lambda as lambda_
from moto.events.models import EventPattern

from forecasting.pipeline import images
from infra.inference_layout import (
    BATCH_TRANSFORM_HANDLER,
    LAMBDA_RUNTIME,
    PUBLISH_HANDLER,
)
from lambdas.batch_transform import handler as transform_handler
from lambdas.publish import handler as publish_handler
from lambdas.publish.publishing import FORECAST_COLUMNS, PUBLISHED_COLUMNS
from tests.infra.conftest import QUICKSIGHT_PRINCIPAL
from tests.infra.synthesized import SynthesizedApp
from tests.lambdas.batch_transform_events import EVENT as APPROVAL_EVENT

ACCOUNT = "123456789012"
REGION = "us-east-1"
GROUP = "ts-forecasting"  # cdk.json's projectName: the model package group
PRINCIPAL = QUICKSIGHT_PRINCIPAL
SAGEMAKER_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
# Concrete names for the stack's tokens, as a deployment would resolve them.
DATA_BUCKET = "ts-forecasting-data-1a2b3c"
ARTIFACTS_BUCKET = "ts-forecasting-artifacts-1a2b3c"
FORECASTS_BUCKET = "ts-forecasting-forecasts-1a2b3c"
TRANSFORM_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/ts-forecasting-transform"


# --- template helpers ---------------------------------------------------------------------------


def _resources(app: SynthesizedApp, resource_type: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = app.template.find_resources(resource_type)
    return found


def _logical_id(app: SynthesizedApp, construct: Any) -> str:
    default_child = getattr(construct.node, "default_child", None) or construct
    return str(app.stack.resolve(default_child.logical_id))


def _function(app: SynthesizedApp, handler: str) -> dict[str, Any]:
    (function,) = [
        resource["Properties"]
        for resource in _resources(app, "AWS::Lambda::Function").values()
        if resource["Properties"].get("Handler") == handler
    ]
    return function


def _policy_statements(app: SynthesizedApp, role: Any) -> list[dict[str, Any]]:
    role_id = _logical_id(app, role)
    statements = []
    for policy in _resources(app, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _actions(statement: Mapping[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _by_sid(statements: list[dict[str, Any]], sid: str) -> dict[str, Any]:
    (statement,) = [s for s in statements if s.get("Sid") == sid]
    return statement


def _rule(app: SynthesizedApp, rule: Any) -> dict[str, Any]:
    properties: dict[str, Any] = _resources(app, "AWS::Events::Rule")[_logical_id(app, rule)][
        "Properties"
    ]
    return properties


def _refs(app: SynthesizedApp) -> dict[str, str]:
    """Token -> concrete value, for the tokens the batch-inference resources use."""
    stack, storage = app.stack, app.stack.storage
    inference = stack.batch_inference
    key_id = _logical_id(app, storage.key)
    refs = {
        "AWS::Partition": "aws",
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        _logical_id(app, storage.data_bucket): DATA_BUCKET,
        _logical_id(app, storage.model_artifacts_bucket): ARTIFACTS_BUCKET,
        _logical_id(app, storage.forecasts_bucket): FORECASTS_BUCKET,
        f"{key_id}.Arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0b5e1d4e-0000-4000-8000-data",
        f"{_logical_id(app, inference.transform_role)}.Arn": TRANSFORM_ROLE_ARN,
        _logical_id(app, inference.topic): f"arn:aws:sns:{REGION}:{ACCOUNT}:failures",
    }
    queue_id = _logical_id(app, inference.dead_letter_queue)
    refs[f"{queue_id}.Arn"] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:dead-letters"
    refs[f"{_logical_id(app, inference.topic.master_key)}.Arn"] = (
        f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0b5e1d4e-0000-4000-8000-notices"
    )
    for resource_id in app.template.find_resources("AWS::Logs::LogGroup"):
        if resource_id.startswith("BatchInference"):
            refs[f"{resource_id}.Arn"] = (
                f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{resource_id}:*"
            )
    repository_id = _logical_id(app, stack.source_pipeline.image_repository)
    refs[f"{repository_id}.Arn"] = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/project-images"
    for resource_id in app.template.find_resources("AWS::IAM::Role"):
        if resource_id.startswith("BatchInferenceForecastScheduleRole"):  # forecastOnNewData
            refs[f"{resource_id}.Arn"] = f"arn:aws:iam::{ACCOUNT}:role/scheduler"
    for name in ("data_bucket", "model_artifacts_bucket", "forecasts_bucket"):
        bucket_id = _logical_id(app, getattr(storage, name))
        refs[f"{bucket_id}.Arn"] = f"arn:aws:s3:::{refs[bucket_id]}"
    return refs


def _concrete(value: Any, refs: Mapping[str, str]) -> Any:
    """Evaluate Ref, Fn::GetAtt and Fn::Join with `refs`; an unknown token raises KeyError."""
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return refs[argument]
        if function == "Fn::GetAtt":
            return refs[".".join(argument)]
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(_concrete(part, refs) for part in parts)
        if function == "Fn::FindInMap":  # the DLC registry account of the region
            return images.registries()[REGION]
    if isinstance(value, dict):
        return {key: _concrete(item, refs) for key, item in value.items()}
    if isinstance(value, list):
        return [_concrete(item, refs) for item in value]
    return value


def _pattern(app: SynthesizedApp, rule: Any) -> EventPattern:
    pattern = _concrete(_rule(app, rule)["EventPattern"], _refs(app))
    return EventPattern.load(json.dumps(pattern))


def _environment(app: SynthesizedApp, handler: str) -> dict[str, str]:
    variables = _function(app, handler)["Environment"]["Variables"]
    environment: dict[str, str] = _concrete(variables, _refs(app))
    return environment


# --- Lambdas ------------------------------------------------------------------------------------


def test_functions_run_the_newest_python_runtime(default_app: SynthesizedApp) -> None:
    newest = max(
        (name for name in dir(lambda_.Runtime) if re.fullmatch(r"PYTHON_3_\d+", name)),
        key=lambda name: int(name.rsplit("_", 1)[1]),
    )
    assert LAMBDA_RUNTIME.name == getattr(lambda_.Runtime, newest).name
    for handler in (BATCH_TRANSFORM_HANDLER, PUBLISH_HANDLER):
        assert _function(default_app, handler)["Runtime"] == LAMBDA_RUNTIME.name


def test_functions_encrypt_their_environment_and_log_to_retained_groups(
    any_app: SynthesizedApp,
) -> None:
    key_arn = {"Fn::GetAtt": [_logical_id(any_app, any_app.stack.storage.key), "Arn"]}
    log_groups = _resources(any_app, "AWS::Logs::LogGroup")
    # Logs follow the data: kept by `cdk destroy` unless removalPolicy is destroy.
    retained = any_app.stack.settings.removal_mode.value == "retain"
    for handler in (BATCH_TRANSFORM_HANDLER, PUBLISH_HANDLER):
        function = _function(any_app, handler)
        assert function["KmsKeyArn"] == key_arn
        group = log_groups[function["LoggingConfig"]["LogGroup"]["Ref"]]
        assert group["Properties"]["RetentionInDays"] == 90
        assert group["DeletionPolicy"] == ("RetainExceptOnCreate" if retained else "Delete")
        assert "ReservedConcurrentExecutions" not in function


def test_function_sizes(default_app: SynthesizedApp) -> None:
    transform = _function(default_app, BATCH_TRANSFORM_HANDLER)
    publish = _function(default_app, PUBLISH_HANDLER)
    assert (transform["Timeout"], transform["MemorySize"]) == (60, 256)
    assert (publish["Timeout"], publish["MemorySize"]) == (900, 1769)


def test_batch_transform_environment(default_app: SynthesizedApp) -> None:
    assert _environment(default_app, BATCH_TRANSFORM_HANDLER) == {
        "MODEL_PACKAGE_GROUP": GROUP,
        "SAGEMAKER_ROLE_ARN": TRANSFORM_ROLE_ARN,
        "INPUT_URI": f"s3://{DATA_BUCKET}/inference/",
        "FORECASTS_BUCKET": FORECASTS_BUCKET,
        "KMS_KEY_ID": _refs(default_app)[
            f"{_logical_id(default_app, default_app.stack.storage.key)}.Arn"
        ],
        "TRANSFORM_INSTANCE_TYPE": "ml.m5.xlarge",
        "PROJECT": GROUP,
    }


def test_publish_environment(default_app: SynthesizedApp, quicksight_app: SynthesizedApp) -> None:
    key_id = _logical_id(default_app, default_app.stack.storage.key)
    assert _environment(default_app, PUBLISH_HANDLER) == {
        # where users put actuals; published without them until the object exists
        "ACTUALS_URI": f"s3://{DATA_BUCKET}/actuals/actuals.csv",
        "FORECASTS_BUCKET": FORECASTS_BUCKET,
        "FORECASTS_PREFIX": "forecasts",
        "KMS_KEY_ID": _refs(default_app)[f"{key_id}.Arn"],
        "MODEL_PACKAGE_GROUP": GROUP,  # its versions' registered evaluation.json
        "NOTIFICATION_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:failures",
        "QUICKSIGHT_MANIFEST_KEY": "forecasts/manifest.json",
        "MPLCONFIGDIR": "/tmp/matplotlib",
    }
    with_quicksight = _environment(quicksight_app, PUBLISH_HANDLER)
    assert with_quicksight["QUICKSIGHT_DATA_SET_ARN"] == (
        f"arn:aws:quicksight:{REGION}:{ACCOUNT}:dataset/ts-forecasting-forecasts"
    )


def test_lambda_asset_ships_only_the_lambdas_package(default_app: SynthesizedApp) -> None:
    code = _function(default_app, PUBLISH_HANDLER)["Code"]
    assert code == _function(default_app, BATCH_TRANSFORM_HANDLER)["Code"]  # one shared asset
    asset_hash = code["S3Key"].removesuffix(".zip")
    root = Path(default_app.app.outdir) / f"asset.{asset_hash}"
    files = sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())
    assert files, f"no staged asset at {root}"
    assert all(re.fullmatch(r"lambdas/[\w/]+\.py", name) for name in files), files
    for module in ("batch_transform/handler.py", "publish/handler.py", "publish/publishing.py"):
        assert f"lambdas/{module}" in files


def test_async_invocations_retry_then_go_to_the_dead_letter_queue(
    default_app: SynthesizedApp,
) -> None:
    queue_arn = {
        "Fn::GetAtt": [
            _logical_id(default_app, default_app.stack.batch_inference.dead_letter_queue),
            "Arn",
        ]
    }
    configs = _resources(default_app, "AWS::Lambda::EventInvokeConfig")
    # every one that events invoke; the pipeline invokes FindApprovedModel synchronously
    synchronous = _logical_id(default_app, default_app.stack.pipeline.approved_model_function)
    functions = set(_resources(default_app, "AWS::Lambda::Function")) - {synchronous}
    assert {c["Properties"]["FunctionName"]["Ref"] for c in configs.values()} == functions
    for config in configs.values():
        properties = config["Properties"]
        assert properties["MaximumRetryAttempts"] == 2
        assert properties["MaximumEventAgeInSeconds"] == 7200
        assert properties["DestinationConfig"] == {"OnFailure": {"Destination": queue_arn}}


# --- rules --------------------------------------------------------------------------------------


def test_rule_event_patterns_are_exact(default_app: SynthesizedApp) -> None:
    inference = default_app.stack.batch_inference
    forecasts_id = _logical_id(default_app, default_app.stack.storage.forecasts_bucket)
    assert _rule(default_app, inference.approval_rule)["EventPattern"] == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": {"ModelPackageGroupName": [GROUP], "ModelApprovalStatus": ["Approved"]},
    }
    assert _rule(default_app, inference.transform_job_rule)["EventPattern"] == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Transform Job State Change"],
        "detail": {
            "TransformJobStatus": ["Completed", "Failed", "Stopped"],
            "TransformJobName": [{"prefix": f"{GROUP}-v"}],
            "TransformOutput": {
                "S3OutputPath": [
                    {"prefix": {"Fn::Join": ["", ["s3://", {"Ref": forecasts_id}, "/transform/"]]}}
                ]
            },
        },
    }


def test_rule_targets_retry_and_dead_letter(default_app: SynthesizedApp) -> None:
    inference = default_app.stack.batch_inference
    queue_arn = {"Fn::GetAtt": [_logical_id(default_app, inference.dead_letter_queue), "Arn"]}
    for rule, function in (
        (inference.approval_rule, inference.batch_transform_function),
        (inference.transform_job_rule, inference.publish_function),
        (inference.registration_rule, inference.comparison_function),
    ):
        (target,) = _rule(default_app, rule)["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [_logical_id(default_app, function), "Arn"]}
        assert target["RetryPolicy"] == {
            "MaximumRetryAttempts": 8,
            "MaximumEventAgeInSeconds": 7200,
        }
        assert target["DeadLetterConfig"] == {"Arn": queue_arn}
    # EventBridge may send to the queue for these rules only.
    (policy,) = _resources(default_app, "AWS::SQS::QueuePolicy").values()
    allowed = [
        s["Condition"]["ArnEquals"]["aws:SourceArn"]
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow"
    ]
    assert allowed == [
        {"Fn::GetAtt": [_logical_id(default_app, inference.approval_rule), "Arn"]},
        {"Fn::GetAtt": [_logical_id(default_app, inference.request_rule), "Arn"]},
        {"Fn::GetAtt": [_logical_id(default_app, inference.transform_job_rule), "Arn"]},
        {"Fn::GetAtt": [_logical_id(default_app, inference.registration_rule), "Arn"]},
        *(  # the accuracy Lambda's (infra/accuracy.py)
            {"Fn::GetAtt": [_logical_id(default_app, rule), "Arn"]}
            for rule in default_app.stack.accuracy.rules
        ),
    ]


def _approval(**detail: Any) -> dict[str, Any]:
    event = copy.deepcopy(APPROVAL_EVENT)
    event["detail"].update(
        {
            "ModelPackageGroupName": GROUP,
            "ModelPackageArn": f"{SAGEMAKER_ARN}:model-package/{GROUP}/3",
            **detail,
        }
    )
    event["resources"] = [event["detail"]["ModelPackageArn"]]
    return event


@pytest.mark.parametrize(
    ("event", "matches"),
    [
        (_approval(), True),
        (_approval(ModelApprovalStatus="PendingManualApproval"), False),
        (_approval(ModelApprovalStatus="Rejected"), False),
        (_approval(ModelPackageGroupName="another-project"), False),
        (_approval(ModelPackageGroupName=f"{GROUP}-v2"), False),
        ({**_approval(), "source": "custom.sagemaker"}, False),
        ({**_approval(), "detail-type": "SageMaker Model Package Group State Change"}, False),
    ],
)
def test_approval_rule_on_real_shaped_events(
    default_app: SynthesizedApp, event: dict[str, Any], matches: bool
) -> None:
    pattern = _pattern(default_app, default_app.stack.batch_inference.approval_rule)
    assert pattern.matches_event(event) is matches


def _transform_event(
    status: str, name: str = f"{GROUP}-v3-fa1e0e24", bucket: str = FORECASTS_BUCKET
) -> dict[str, Any]:
    """The describe-transform-job shape SageMaker puts in the event detail."""
    arn = f"{SAGEMAKER_ARN}:transform-job/{name}"
    return {
        "version": "0",
        "id": "0d5b3e9a-3c70-4a5e-8d0f-0b0c2b9d2e61",
        "detail-type": "SageMaker Transform Job State Change",
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "time": "2024-06-03T05:10:00Z",
        "region": REGION,
        "resources": [arn],
        "detail": {
            "TransformJobName": name,
            "TransformJobArn": arn,
            "TransformJobStatus": status,
            "ModelName": name.rsplit("-", 1)[0],
            "TransformOutput": {
                "S3OutputPath": f"s3://{bucket}/transform/{name}/",
                "Accept": "text/csv",
                "AssembleWith": "None",
            },
            "TransformResources": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
            "CreationTime": 1717391400000,
        },
    }


@pytest.mark.parametrize(
    ("event", "matches"),
    [
        (_transform_event("Completed"), True),
        (_transform_event("Failed"), True),
        # documented as reported: the publish Lambda tells the topic a stopped job made nothing
        (_transform_event("Stopped"), True),
        (_transform_event("InProgress"), False),
        (_transform_event("Stopping"), False),
        (_transform_event("Completed", name="another-project-v1-0a1b2c3d"), False),
        # Named like this project's but writing elsewhere: another stack's job.
        (_transform_event("Completed", name=f"{GROUP}-v2-v1-0a1b2c3d", bucket="other"), False),
        (_transform_event("Completed", name="pipelines-abc-transform"), False),
    ],
)
def test_transform_job_rule_on_real_shaped_events(
    default_app: SynthesizedApp, event: dict[str, Any], matches: bool
) -> None:
    pattern = _pattern(default_app, default_app.stack.batch_inference.transform_job_rule)
    assert pattern.matches_event(event) is matches


# --- IAM ----------------------------------------------------------------------------------------


def test_lambda_roles_use_no_managed_policies(default_app: SynthesizedApp) -> None:
    inference = default_app.stack.batch_inference
    roles = _resources(default_app, "AWS::IAM::Role")
    for function in (inference.batch_transform_function, inference.publish_function):
        role = roles[_logical_id(default_app, function.role)]["Properties"]
        assert "ManagedPolicyArns" not in role
        assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
            "Service": "lambda.amazonaws.com"
        }


def test_batch_transform_role_is_scoped_to_this_projects_names(
    default_app: SynthesizedApp,
) -> None:
    inference = default_app.stack.batch_inference
    refs = _refs(default_app)
    statements = _policy_statements(default_app, inference.batch_transform_function.role)
    create = _by_sid(statements, "CreateModelAndTransformJob")
    assert sorted(_actions(create)) == [
        "sagemaker:AddTags",
        "sagemaker:CreateModel",
        "sagemaker:CreateTransformJob",
    ]
    patterns = _concrete(create["Resource"], refs)
    assert patterns == [
        f"{SAGEMAKER_ARN}:model/{GROUP}-v*",
        f"{SAGEMAKER_ARN}:transform-job/{GROUP}-v*",
    ]
    # SageMaker lowercases names in ARNs: the patterns only match if they are lowercase too.
    assert all(pattern.split(":", 5)[5] == pattern.split(":", 5)[5].lower() for pattern in patterns)
    pass_role = _by_sid(statements, "PassTransformRole")
    assert _concrete(pass_role["Resource"], refs) == TRANSFORM_ROLE_ARN
    assert pass_role["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }
    grant = _by_sid(statements, "JobKeyGrant")
    assert grant["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    assert all(statement.get("Resource") != "*" for statement in statements)


def test_transform_role_reads_model_and_input_and_writes_only_transform_output(
    default_app: SynthesizedApp,
) -> None:
    inference = default_app.stack.batch_inference
    refs = _refs(default_app)
    statements = _policy_statements(default_app, inference.transform_role)
    object_actions = {}
    for statement in statements:
        resources = _concrete(statement["Resource"], refs)
        for resource in [resources] if isinstance(resources, str) else resources:
            if resource.startswith("arn:aws:s3:::") and "/" in resource:
                object_actions[resource] = set(_actions(statement))
    assert object_actions == {
        f"arn:aws:s3:::{ARTIFACTS_BUCKET}/ts-forecasting/*": {
            "s3:GetObject*",
            "s3:GetBucket*",
            "s3:List*",
        },
        f"arn:aws:s3:::{DATA_BUCKET}/inference/*": {"s3:GetObject*", "s3:GetBucket*", "s3:List*"},
        f"arn:aws:s3:::{FORECASTS_BUCKET}/transform/*": {
            "s3:PutObject",
            "s3:PutObjectLegalHold",
            "s3:PutObjectRetention",
            "s3:PutObjectTagging",
            "s3:PutObjectVersionTagging",
            "s3:Abort*",
        },
    }
    actions = {action for statement in statements for action in _actions(statement)}
    assert not any(action.startswith("sagemaker:") for action in actions)


def test_publish_role_reads_transform_output_and_writes_the_published_prefix(
    default_app: SynthesizedApp, quicksight_app: SynthesizedApp
) -> None:
    inference = default_app.stack.batch_inference
    refs = _refs(default_app)
    statements = _policy_statements(default_app, inference.publish_function.role)
    by_resource: dict[str, set[str]] = {}
    for statement in statements:
        resources = _concrete(statement["Resource"], refs)
        for resource in [resources] if isinstance(resources, str) else resources:
            by_resource.setdefault(resource, set()).update(_actions(statement))
    assert by_resource[f"arn:aws:s3:::{FORECASTS_BUCKET}/transform/*"] == {
        "s3:GetObject*",
        "s3:GetBucket*",
        "s3:List*",
    }
    assert "s3:PutObject" in by_resource[f"arn:aws:s3:::{FORECASTS_BUCKET}/forecasts/*"]
    assert by_resource[refs[_logical_id(default_app, inference.topic)]] == {"sns:Publish"}
    assert not any("quicksight" in action for actions in by_resource.values() for action in actions)

    qs = quicksight_app.stack.batch_inference
    refresh = _by_sid(_policy_statements(quicksight_app, qs.publish_function.role), "RefreshSpice")
    data_set = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:dataset/ts-forecasting-forecasts"
    assert _actions(refresh) == ["quicksight:CreateIngestion"]
    assert _concrete(refresh["Resource"], _refs(quicksight_app)) == [
        data_set,
        f"{data_set}/ingestion/*",
    ]


# --- failure path -------------------------------------------------------------------------------


def test_dead_letter_queue_is_encrypted_and_tls_only(any_app: SynthesizedApp) -> None:
    (queue,) = _resources(any_app, "AWS::SQS::Queue").values()
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    (policy,) = _resources(any_app, "AWS::SQS::QueuePolicy").values()
    deny = policy["Properties"]["PolicyDocument"]["Statement"][0]
    assert (deny["Effect"], deny["Condition"]) == (
        "Deny",
        {"Bool": {"aws:SecureTransport": "false"}},
    )


def test_topic_is_kms_encrypted_tls_only_and_alarmed(any_app: SynthesizedApp) -> None:
    inference = any_app.stack.batch_inference
    key_id = _logical_id(any_app, inference.topic.master_key)
    (topic,) = _resources(any_app, "AWS::SNS::Topic").values()
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    key = _resources(any_app, "AWS::KMS::Key")[key_id]["Properties"]
    assert key["EnableKeyRotation"] is True
    cloudwatch = [
        s for s in key["KeyPolicy"]["Statement"] if s.get("Sid") == "AllowCloudWatchAlarmsToPublish"
    ]
    assert cloudwatch[0]["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    # a service principal in a key policy is pinned to this account's alarms (confused deputy)
    condition = cloudwatch[0]["Condition"]
    assert condition["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert ":alarm:*" in json.dumps(condition["ArnLike"]["aws:SourceArn"])
    services = [s for s in key["KeyPolicy"]["Statement"] if "Service" in s.get("Principal", {})]
    assert services and all("aws:SourceAccount" in json.dumps(s["Condition"]) for s in services)

    (topic_policy,) = _resources(any_app, "AWS::SNS::TopicPolicy").values()
    statements = topic_policy["Properties"]["PolicyDocument"]["Statement"]
    assert statements[0]["Effect"] == "Deny"
    assert statements[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    alarm_id = _logical_id(any_app, inference.dead_letter_alarm)
    allow = _by_sid(statements, "AllowDeadLetterAlarm")
    assert allow["Condition"]["ArnEquals"] == {"aws:SourceArn": {"Fn::GetAtt": [alarm_id, "Arn"]}}

    alarm = _resources(any_app, "AWS::CloudWatch::Alarm")[alarm_id]["Properties"]
    assert alarm["AlarmActions"] == [{"Ref": _logical_id(any_app, inference.topic)}]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (
        1,
        "GreaterThanOrEqualToThreshold",
    )
    assert alarm["Dimensions"] == [
        {
            "Name": "QueueName",
            "Value": {
                "Fn::GetAtt": [_logical_id(any_app, inference.dead_letter_queue), "QueueName"]
            },
        }
    ]


def test_email_subscription_only_when_configured(
    default_app: SynthesizedApp, quicksight_app: SynthesizedApp
) -> None:
    default_app.template.resource_count_is("AWS::SNS::Subscription", 0)
    quicksight_app.template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )


# --- QuickSight ---------------------------------------------------------------------------------


def test_quicksight_is_absent_by_default(default_app: SynthesizedApp) -> None:
    default_app.template.resource_count_is("AWS::QuickSight::DataSource", 0)
    default_app.template.resource_count_is("AWS::QuickSight::DataSet", 0)
    assert "QuickSightDataSetId" not in default_app.template_json["Outputs"]


def test_quicksight_reads_the_stable_manifest_with_its_own_role(
    quicksight_app: SynthesizedApp,
) -> None:
    storage = quicksight_app.stack.storage
    quicksight = quicksight_app.stack.quicksight
    assert quicksight is not None
    (source,) = _resources(quicksight_app, "AWS::QuickSight::DataSource").values()
    properties = source["Properties"]
    assert properties["Type"] == "S3"
    assert properties["DataSourceParameters"]["S3Parameters"] == {
        "ManifestFileLocation": {
            "Bucket": {"Ref": _logical_id(quicksight_app, storage.forecasts_bucket)},
            "Key": "forecasts/manifest.json",
        },
        "RoleArn": {"Fn::GetAtt": [_logical_id(quicksight_app, quicksight.role), "Arn"]},
    }
    assert properties["Permissions"][0]["Principal"] == PRINCIPAL
    # The role QuickSight assumes reads the published prefix and nothing else of the bucket.
    refs = _refs(quicksight_app)
    objects = {
        resource
        for statement in _policy_statements(quicksight_app, quicksight.role)
        for resource in (
            _concrete(statement["Resource"], refs)
            if isinstance(statement["Resource"], list)
            else [_concrete(statement["Resource"], refs)]
        )
        if resource.startswith("arn:aws:s3:::") and "/" in resource
    }
    assert objects == {f"arn:aws:s3:::{FORECASTS_BUCKET}/forecasts/*"}


def test_quicksight_data_set_is_spice_over_the_published_columns(
    quicksight_app: SynthesizedApp,
) -> None:
    (data_set,) = _resources(quicksight_app, "AWS::QuickSight::DataSet").values()
    properties = data_set["Properties"]
    assert properties["ImportMode"] == "SPICE"
    assert properties["DataSetId"] == "ts-forecasting-forecasts"
    assert properties["Permissions"][0]["Principal"] == PRINCIPAL
    assert "quicksight:CreateIngestion" in properties["Permissions"][0]["Actions"]
    s3_source = properties["PhysicalTableMap"]["forecasts"]["S3Source"]
    assert [column["Name"] for column in s3_source["InputColumns"]] == list(PUBLISHED_COLUMNS)
    assert {column["Type"] for column in s3_source["InputColumns"]} == {"STRING"}
    assert "LogicalTableMap" not in properties  # deprecated: DataPrepConfiguration instead
    prep = properties["DataPrepConfiguration"]
    # source table -> import -> cast -> the "forecasts" table, each step naming the one before
    (source_id,) = prep["SourceTableMap"]
    assert prep["SourceTableMap"][source_id] == {"PhysicalTableId": "forecasts"}
    steps = prep["TransformStepMap"]
    (import_id,) = [key for key, step in steps.items() if "ImportTableStep" in step]
    (cast_id,) = [key for key, step in steps.items() if "CastColumnTypesStep" in step]
    assert steps[import_id]["ImportTableStep"]["Source"] == {"SourceTableId": source_id}
    cast_step = steps[cast_id]["CastColumnTypesStep"]
    assert cast_step["Source"] == {"TransformOperationId": import_id}
    assert prep["DestinationTableMap"]["forecasts"]["Source"] == {"TransformOperationId": cast_id}
    casts = {cast["ColumnName"]: cast for cast in cast_step["CastColumnTypeOperations"]}
    assert casts["timestamp"]["Format"] == "yyyy-MM-dd HH:mm:ss"
    assert {name: cast["NewColumnType"] for name, cast in casts.items()} == {
        "timestamp": "DATETIME",
        "horizon_step": "INTEGER",
        "p50": "DECIMAL",
        "p10": "DECIMAL",
        "p90": "DECIMAL",
        "actual": "DECIMAL",
    }
    outputs = quicksight_app.template_json["Outputs"]
    assert outputs["QuickSightDataSetId"] == {"Value": "ts-forecasting-forecasts"}


# --- outputs ------------------------------------------------------------------------------------


def test_outputs_name_the_inference_input_manifest_and_failure_path(
    default_app: SynthesizedApp,
) -> None:
    outputs = default_app.template_json["Outputs"]
    refs = _refs(default_app)
    inference = default_app.stack.batch_inference
    assert (
        _concrete(outputs["InferenceInputUri"]["Value"], refs) == f"s3://{DATA_BUCKET}/inference/"
    )
    assert _concrete(outputs["ForecastsManifestUri"]["Value"], refs) == (
        f"s3://{FORECASTS_BUCKET}/forecasts/manifest.json"
    )
    assert outputs["DeadLetterQueueUrl"]["Value"] == {
        "Ref": _logical_id(default_app, inference.dead_letter_queue)
    }
    assert outputs["NotificationTopicArn"]["Value"] == {
        "Ref": _logical_id(default_app, inference.topic)
    }


# --- the handlers, run with the environment the stack gives them --------------------------------


def _set_environment(monkeypatch: pytest.MonkeyPatch, environment: Mapping[str, str]) -> None:
    for name in (
        "MODEL_PACKAGE_GROUP",
        "SAGEMAKER_ROLE_ARN",
        "INPUT_URI",
        "FORECASTS_BUCKET",
        "FORECASTS_PREFIX",
        "KMS_KEY_ID",
        "TRANSFORM_INSTANCE_TYPE",
        "PROJECT",
        "ACTUALS_URI",
        "NOTIFICATION_TOPIC_ARN",
        "QUICKSIGHT_MANIFEST_KEY",
        "QUICKSIGHT_DATA_SET_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)


def _event_from(job: Mapping[str, Any], status: str) -> dict[str, Any]:
    """The state-change event SageMaker sends: the job's description as the detail."""
    detail = json.loads(
        json.dumps(
            {**job, "TransformJobStatus": status},
            default=lambda value: (
                int(value.timestamp() * 1000) if isinstance(value, datetime) else str(value)
            ),
        )
    )
    detail.pop("ResponseMetadata", None)
    return {
        "version": "0",
        "id": "7f9f2d1c-8d55-4c2e-9a0e-3c8a2e6b1f00",
        "detail-type": "SageMaker Transform Job State Change",
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "time": "2024-06-03T05:10:00Z",
        "region": REGION,
        "resources": [detail["TransformJobArn"]],
        "detail": detail,
    }


def test_stack_wiring_runs_approval_to_published_forecasts(
    default_app: SynthesizedApp, aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Approval event -> batch-transform handler (template env) -> the job it starts matches
    the second rule -> publish handler (template env) writes the partition and the manifest."""
    inference = default_app.stack.batch_inference
    refs = _refs(default_app)
    key_arn = refs[f"{_logical_id(default_app, default_app.stack.storage.key)}.Arn"]

    _set_environment(monkeypatch, _environment(default_app, BATCH_TRANSFORM_HANDLER))
    result = transform_handler.handler(_approval(), None)

    sagemaker = boto3.client("sagemaker", region_name=REGION)
    model = sagemaker.describe_model(ModelName=result["model"])
    job = sagemaker.describe_transform_job(TransformJobName=result["job"])
    assert result["started"] is True
    assert model["ExecutionRoleArn"] == TRANSFORM_ROLE_ARN
    assert job["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == (
        f"s3://{DATA_BUCKET}/inference/"
    )
    assert job["TransformOutput"]["S3OutputPath"] == (
        f"s3://{FORECASTS_BUCKET}/transform/{result['job']}/"
    )
    assert job["TransformOutput"]["KmsKeyId"] == key_arn
    assert job["TransformResources"]["VolumeKmsKeyId"] == key_arn
    assert job["TransformResources"]["InstanceType"] == "ml.m5.xlarge"
    # What the handler creates falls under what its role may create.
    create = _by_sid(
        _policy_statements(default_app, inference.batch_transform_function.role),
        "CreateModelAndTransformJob",
    )
    allowed = _concrete(create["Resource"], refs)
    for arn in (model["ModelArn"], job["TransformJobArn"]):
        assert any(fnmatch.fnmatchcase(arn, pattern) for pattern in allowed), arn

    completed = _event_from(job, "Completed")
    assert _pattern(default_app, inference.transform_job_rule).matches_event(completed)

    # The job's output, as the inference container writes it.
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=FORECASTS_BUCKET)
    # The actuals a user uploads where the stack's ActualsUri output says.
    s3.create_bucket(Bucket=DATA_BUCKET)
    s3.put_object(
        Bucket=DATA_BUCKET,
        Key="actuals/actuals.csv",
        Body="series_id,target,timestamp,value\nstore_1,sales,2024-01-01 00:00:00,1.25\n",
    )
    rows = "".join(
        f"store_1,sales,2024-0{step}-01 00:00:00,{step},{step}.5,{step},{step + 1},tft,3\n"
        for step in (1, 2)
    )
    s3.put_object(
        Bucket=FORECASTS_BUCKET,
        Key=f"transform/{result['job']}/histories.csv.out",
        Body=",".join(FORECAST_COLUMNS) + "\n" + rows,
    )
    # The version's registered evaluation, where the pipeline writes and registers it
    # (s3://artifacts/{pipeline}/{execution}/evaluate/evaluation/evaluation.json).
    evaluation_uri = f"s3://{ARTIFACTS_BUCKET}/{GROUP}/exec-3/evaluate/evaluation/evaluation.json"
    s3.create_bucket(Bucket=ARTIFACTS_BUCKET)
    s3.put_object(
        Bucket=ARTIFACTS_BUCKET,
        Key=evaluation_uri.split("/", 3)[3],
        Body=json.dumps({"regression_metrics": {"mae": 0.875}, "evaluation": {"synthetic": False}}),
    )
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    for _ in range(3):  # the approval event is for version 3
        package_arn = sagemaker.create_model_package(
            ModelPackageGroupName=GROUP,
            ModelMetrics={
                "ModelQuality": {
                    "Statistics": {"ContentType": "application/json", "S3Uri": evaluation_uri}
                }
            },
        )["ModelPackageArn"]
    _set_environment(monkeypatch, _environment(default_app, PUBLISH_HANDLER))
    published = publish_handler.handler(completed, None)

    assert published["evaluation_uri"] == evaluation_uri
    # What the handler reads falls under what its role may read, and nothing wider.
    statements = _policy_statements(default_app, inference.publish_function.role)
    for action, arn in (
        ("sagemaker:DescribeModelPackage", package_arn),
        ("s3:GetObject", "arn:aws:s3:::" + evaluation_uri.removeprefix("s3://")),
    ):
        granted = [
            pattern
            for statement in statements
            if any(fnmatch.fnmatchcase(action, allowed) for allowed in _actions(statement))
            for pattern in _as_list(_concrete(statement["Resource"], refs))
        ]
        assert any(fnmatch.fnmatchcase(arn, pattern) for pattern in granted), (action, arn)
        elsewhere = arn.replace(f"/{GROUP}/", "/another-project/")
        assert not any(fnmatch.fnmatchcase(elsewhere, pattern) for pattern in granted), elsewhere

    partition = f"forecasts/model=tft/version=3/run={result['job']}/forecasts.csv"
    assert published["csv_keys"] == [partition]
    body = s3.get_object(Bucket=FORECASTS_BUCKET, Key=partition)["Body"].read().decode()
    published_rows = list(csv.DictReader(io.StringIO(body)))
    assert [row["run"] for row in published_rows] == [result["job"]] * 2
    assert [row["actual"] for row in published_rows] == ["1.25", ""]  # joined where known
    manifest = json.loads(
        s3.get_object(Bucket=FORECASTS_BUCKET, Key="forecasts/manifest.json")["Body"].read()
    )
    assert manifest["fileLocations"] == [
        {"URIPrefixes": [f"s3://{FORECASTS_BUCKET}/forecasts/model=tft/version=3/"]}
    ]
    head = s3.head_object(Bucket=FORECASTS_BUCKET, Key=partition)
    assert head["ServerSideEncryption"] == "aws:kms"


def test_stack_wiring_reports_a_failed_job_to_the_topic(
    default_app: SynthesizedApp, aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    sns = boto3.client("sns", region_name=REGION)
    topic_arn = sns.create_topic(Name="failures")["TopicArn"]
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    environment = _environment(default_app, PUBLISH_HANDLER)
    assert environment["NOTIFICATION_TOPIC_ARN"] == topic_arn  # the moto topic stands in for it
    _set_environment(monkeypatch, environment)

    failed = _transform_event("Failed")
    failed["detail"]["FailureReason"] = "ClientError: See job logs for more information"
    assert _pattern(
        default_app, default_app.stack.batch_inference.transform_job_rule
    ).matches_event(failed)
    result = publish_handler.handler(failed, None)

    assert result["published"] is False
    (message,) = sqs.receive_message(QueueUrl=queue_url)["Messages"]
    body = json.loads(message["Body"])
    assert body["Subject"] == f"Batch Transform job failed: {GROUP}-v3-fa1e0e24"
    assert "ClientError: See job logs" in body["Message"]


def _request_event(group: str) -> dict[str, Any]:
    return {
        "source": "forecasting.requests",
        "detail-type": "Forecast Requested",
        "account": ACCOUNT,
        "region": REGION,
        "detail": {"ModelPackageGroupName": group, "ModelPackageVersion": 3, "RunId": "r1"},
    }


def test_re_forecast_requests_for_this_group_reach_the_batch_transform_lambda(
    default_app: SynthesizedApp,
) -> None:
    """The documented re-run path (README "Forecasting again"): a custom event to the default
    bus, handled by the same Lambda (and so with the same idempotent job names)."""
    inference = default_app.stack.batch_inference
    pattern = _pattern(default_app, inference.request_rule)
    assert pattern.matches_event(_request_event(GROUP))
    assert not pattern.matches_event(_request_event("another-project"))
    (target,) = _rule(default_app, inference.request_rule)["Targets"]
    function_id = _logical_id(default_app, inference.batch_transform_function)
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert "DeadLetterConfig" in target
