"""The forecast schedule in the template: off by default; on, an EventBridge Scheduler schedule
whose payload the batch-transform Lambda (with the template's environment) runs."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from infra.inference_layout import BATCH_TRANSFORM_HANDLER
from lambdas.batch_transform import handler as transform_handler
from lambdas.batch_transform.events import SCHEDULE_DETAIL_TYPE, parse_scheduled
from tests.infra.conftest import FORECAST_SCHEDULE
from tests.infra.synthesized import SynthesizedApp
from tests.infra.test_batch_inference import (
    DATA_BUCKET,
    GROUP,
    REGION,
    _concrete,
    _environment,
    _logical_id,
    _refs,
    _set_environment,
)
from tests.lambdas.conftest import real_name_clashes  # noqa: F401 (moto refuses taken names)

# Scheduler's context attributes, as it substitutes them into the payload
SCHEDULED_TIME = "2026-12-06T06:00:00Z"
EXECUTION_ID = "d6c9bfd4-8b0e-4a43-a6e5-5f1a0c2b9e11"


def _schedules(app: SynthesizedApp) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = app.template.find_resources("AWS::Scheduler::Schedule")
    return found


def _schedule(app: SynthesizedApp) -> dict[str, Any]:
    ((_, schedule),) = _schedules(app).items()
    properties: dict[str, Any] = schedule["Properties"]
    return properties


def _payload(app: SynthesizedApp) -> dict[str, Any]:
    text = _schedule(app)["Target"]["Input"]
    assert isinstance(text, str), text  # no token left for CloudFormation to resolve
    text = text.replace("<aws.scheduler.scheduled-time>", SCHEDULED_TIME)
    text = text.replace("<aws.scheduler.execution-id>", EXECUTION_ID)
    payload: dict[str, Any] = json.loads(text)
    return payload


def test_no_schedule_by_default(default_app: SynthesizedApp) -> None:
    assert _schedules(default_app) == {}
    assert default_app.stack.batch_inference.schedule is None
    assert default_app.template.find_resources("AWS::Scheduler::ScheduleGroup") == {}


def test_the_schedule_invokes_the_batch_transform_lambda(quicksight_app: SynthesizedApp) -> None:
    app, inference = quicksight_app, quicksight_app.stack.batch_inference
    schedule = _schedule(app)
    assert schedule["ScheduleExpression"] == FORECAST_SCHEDULE
    assert schedule["ScheduleExpressionTimezone"] == "Etc/UTC"
    assert schedule["State"] == "ENABLED"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    function_id = _logical_id(app, inference.batch_transform_function)
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    queue_id = _logical_id(app, inference.dead_letter_queue)
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue_id, "Arn"]}}
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 7200, "MaximumRetryAttempts": 8}


def test_the_payload_is_the_event_the_lambda_reads(quicksight_app: SynthesizedApp) -> None:
    payload = _payload(quicksight_app)
    assert payload["detail-type"] == SCHEDULE_DETAIL_TYPE
    assert payload["id"] == EXECUTION_ID
    run = parse_scheduled(payload)
    assert (run.group, run.time) == (GROUP, SCHEDULED_TIME)


def test_schedulers_role_may_invoke_this_function_and_dead_letter_only(
    quicksight_app: SynthesizedApp,
) -> None:
    app = quicksight_app
    role_arn = _schedule(app)["Target"]["RoleArn"]
    role_id = role_arn["Fn::GetAtt"][0]
    role = app.template_json["Resources"][role_id]
    (principal,) = [
        s["Principal"]["Service"]
        for s in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    ]
    assert principal == "scheduler.amazonaws.com"
    refs = _refs(app)
    function_id = _logical_id(app, app.stack.batch_inference.batch_transform_function)
    refs[f"{function_id}.Arn"] = f"arn:aws:lambda:{REGION}:123456789012:function:transform"
    allowed: list[tuple[str, Any]] = []
    for policy in app.template.find_resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                actions = statement["Action"]
                for action in [actions] if isinstance(actions, str) else actions:
                    allowed.append((action, _concrete(statement["Resource"], refs)))
    for action, resource in allowed:
        resources = resource if isinstance(resource, list) else [resource]
        assert action in {"lambda:InvokeFunction", "sqs:SendMessage"}, action
        for arn in resources:
            assert arn.startswith(
                (
                    f"arn:aws:lambda:{REGION}:123456789012:function:transform",
                    f"arn:aws:sqs:{REGION}:123456789012:dead-letters",
                )
            ), arn
    assert {action for action, _ in allowed} == {"lambda:InvokeFunction", "sqs:SendMessage"}


@pytest.mark.usefixtures("real_name_clashes")
def test_a_scheduled_payload_through_the_lambda_starts_once(
    quicksight_app: SynthesizedApp, aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The schedule's payload -> the Lambda with the template's environment -> a job over the
    input prefix the template names; the next day, with the same input, nothing."""
    app = quicksight_app
    environment = _environment(app, BATCH_TRANSFORM_HANDLER)
    _set_environment(monkeypatch, environment)
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        InferenceSpecification={
            "Containers": [
                {"Image": "image:latest", "ModelDataUrl": "s3://artifacts/model.tar.gz"}
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        ModelApprovalStatus="Approved",
    )
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=DATA_BUCKET)
    assert environment["INPUT_URI"] == f"s3://{DATA_BUCKET}/inference/"
    s3.put_object(Bucket=DATA_BUCKET, Key="inference/stores.csv", Body=b"history\n")

    first = transform_handler.handler(_payload(app), None)
    second = transform_handler.handler(_payload(app), None)

    assert first["started"] is True and first["job"].startswith(f"{GROUP}-v1-c")
    assert second["started"] is False and second["reason"].startswith("nothing new")


# --- the debounced trigger on new input (forecastOnNewData) -----------------------------------


def _s3_created(bucket: str, key: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-12-06T05:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {"version": "0", "bucket": {"name": bucket}, "object": {"key": key}},
    }


def test_no_new_input_rule_by_default(default_app: SynthesizedApp) -> None:
    assert default_app.stack.batch_inference.new_input_rule is None
    environment = _function_environment(default_app)
    assert "FORECAST_ON_NEW_DATA_MINUTES" not in environment


def _function_environment(app: SynthesizedApp) -> dict[str, Any]:
    function_id = _logical_id(app, app.stack.batch_inference.batch_transform_function)
    resource = app.template_json["Resources"][function_id]
    variables: dict[str, Any] = resource["Properties"]["Environment"]["Variables"]
    return variables


@pytest.mark.parametrize(
    ("bucket", "key", "matches"),
    [
        (DATA_BUCKET, "inference/day-2/stores.csv", True),
        (DATA_BUCKET, "actuals/actuals.csv", False),
        (DATA_BUCKET, "input/train.csv", False),
        ("another-bucket", "inference/stores.csv", False),
    ],
)
def test_the_new_input_rule_catches_objects_under_the_inference_prefix(
    quicksight_app: SynthesizedApp, bucket: str, key: str, matches: bool
) -> None:
    from tests.infra.test_batch_inference import _pattern

    rule = quicksight_app.stack.batch_inference.new_input_rule
    assert rule is not None
    assert _pattern(quicksight_app, rule).matches_event(_s3_created(bucket, key)) is matches


def test_the_data_bucket_sends_its_events_to_eventbridge(quicksight_app: SynthesizedApp) -> None:
    bucket_id = _logical_id(quicksight_app, quicksight_app.stack.storage.data_bucket)
    properties = quicksight_app.template_json["Resources"][bucket_id]["Properties"]
    assert properties["NotificationConfiguration"]["EventBridgeConfiguration"] == {
        "EventBridgeEnabled": True
    }
    # CloudFormation's own switch: no custom-resource Lambda to set it
    assert quicksight_app.template.find_resources("Custom::S3BucketNotifications") == {}


def test_the_lambda_gets_what_it_needs_to_debounce(quicksight_app: SynthesizedApp) -> None:
    from lambdas.batch_transform.debounce import Debounce

    app = quicksight_app
    environment = _environment(app, BATCH_TRANSFORM_HANDLER)  # tokens made concrete
    debounce = Debounce.from_env(environment, "arn:aws:lambda:us-east-1:123456789012:function:f")
    assert debounce is not None and debounce.quiet.total_seconds() == 15 * 60
    # one role for the recurring schedule and the one-time schedules the Lambda sets
    role_id = _schedule(app)["Target"]["RoleArn"]["Fn::GetAtt"][0]
    assert _function_environment(app)["SCHEDULER_ROLE_ARN"] == {"Fn::GetAtt": [role_id, "Arn"]}
    assert debounce.role_arn == "arn:aws:iam::123456789012:role/scheduler"
