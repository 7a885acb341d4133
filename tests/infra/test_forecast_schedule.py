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
