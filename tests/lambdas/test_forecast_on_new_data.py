"""New input under the inference prefix, debounced: each upload pushes one one-time schedule
later; the schedule sends the scheduled run's event. Against moto's EventBridge Scheduler."""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

from lambdas.batch_transform import handler as transform_handler
from lambdas.batch_transform.debounce import Debounce, plan_debounce, schedule_name
from lambdas.batch_transform.events import parse_scheduled
from lambdas.batch_transform.planning import Settings, Skip
from lambdas.errors import ConfigError
from tests.lambdas.batch_transform_events import ACCOUNT, ENVIRON, GROUP, REGION

SETTINGS = Settings.from_env(ENVIRON)
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:batch-transform"
CONTEXT = SimpleNamespace(invoked_function_arn=FUNCTION_ARN)
DEBOUNCE = {
    "FORECAST_ON_NEW_DATA_MINUTES": "15",
    "SCHEDULER_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/scheduler",
    "DEAD_LETTER_QUEUE_ARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:dead-letters",
}


def uploaded(key: str, time: str, bucket: str = "demand-forecasting-data") -> dict:
    """S3's EventBridge event for a new object (S3 user guide, "EventBridge event message
    structure")."""
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": time,
        "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": 5, "etag": "b1946ac92492d2347c6235b4d2611184"},
            "request-id": "N4N7GDK58NMKJ12R",
            "reason": "PutObject",
        },
    }


@pytest.fixture
def scheduler(monkeypatch):
    for name, value in {
        **ENVIRON,
        **DEBOUNCE,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        transform_handler.reset_client()
        yield boto3.client("scheduler", region_name=REGION)
        transform_handler.reset_client()


def test_each_upload_pushes_the_one_pending_run_later(scheduler):
    key = "transform-input/stallion/day-1/part-1.csv"
    first = transform_handler.handler(uploaded(key, "2026-12-06T05:00:00Z"), CONTEXT)
    second = transform_handler.handler(
        uploaded(key.replace("1.csv", "2.csv"), "2026-12-06T05:07:00Z"), CONTEXT
    )

    assert first["reason"] == "new input: forecast scheduled at(2026-12-06T05:15:00) UTC"
    assert second["reason"] == "new input: forecast scheduled at(2026-12-06T05:22:00) UTC"
    (listed,) = scheduler.list_schedules()["Schedules"]
    assert listed["Name"] == schedule_name(GROUP) == f"{GROUP}-forecast-on-new-data"
    schedule = scheduler.get_schedule(Name=schedule_name(GROUP))
    assert schedule["ScheduleExpression"] == "at(2026-12-06T05:22:00)"
    assert schedule["ActionAfterCompletion"] == "DELETE"
    target = schedule["Target"]
    assert (target["Arn"], target["RoleArn"]) == (FUNCTION_ARN, DEBOUNCE["SCHEDULER_ROLE_ARN"])
    assert target["DeadLetterConfig"] == {"Arn": DEBOUNCE["DEAD_LETTER_QUEUE_ARN"]}
    event = json.loads(
        target["Input"]
        .replace("<aws.scheduler.scheduled-time>", "2026-12-06T05:22:00Z")
        .replace("<aws.scheduler.execution-id>", "e1")
    )
    assert parse_scheduled(event).group == GROUP  # what the schedule's run then reads


def test_objects_elsewhere_schedule_nothing(scheduler):
    result = transform_handler.handler(
        uploaded("actuals/actuals.csv", "2026-12-06T05:00:00Z"), CONTEXT
    )
    assert result["started"] is False and "is not under" in result["reason"]
    assert scheduler.list_schedules()["Schedules"] == []


def test_without_the_setting_new_input_is_only_logged(scheduler, monkeypatch):
    monkeypatch.delenv("FORECAST_ON_NEW_DATA_MINUTES")
    result = transform_handler.handler(
        uploaded("transform-input/stallion/a.csv", "2026-12-06T05:00:00Z"), CONTEXT
    )
    assert "not scheduling" in result["reason"]
    assert scheduler.list_schedules()["Schedules"] == []


@pytest.mark.parametrize("minutes", ["0", "-5", "soon"])
def test_a_bad_quiet_time_is_a_configuration_error(minutes):
    with pytest.raises(ConfigError, match="FORECAST_ON_NEW_DATA_MINUTES"):
        Debounce.from_env({**DEBOUNCE, "FORECAST_ON_NEW_DATA_MINUTES": minutes}, FUNCTION_ARN)


def test_the_schedule_name_fits_schedulers_limit_for_the_longest_group():
    debounce = Debounce(timedelta(minutes=1), FUNCTION_ARN, "arn:r", "arn:q")
    long_group = Settings(**{**SETTINGS.__dict__, "model_package_group": "g" * 63})
    request = plan_debounce(
        uploaded("transform-input/stallion/a.csv", "2026-12-06T05:00:00Z"), long_group, debounce
    )
    assert not isinstance(request, Skip)
    assert len(request["Name"]) <= 64  # CreateSchedule's Name: 1-64 [0-9a-zA-Z-_.]


@pytest.mark.parametrize("operation", ["CreateSchedule", "UpdateSchedule"])
def test_the_request_is_what_scheduler_accepts(operation):
    import botocore.session
    from botocore.validate import validate_parameters

    model = botocore.session.get_session().get_service_model("scheduler")
    debounce = Debounce.from_env(DEBOUNCE, FUNCTION_ARN)
    assert debounce is not None
    request = plan_debounce(
        uploaded("transform-input/stallion/a.csv", "2026-12-06T05:00:00Z"), SETTINGS, debounce
    )
    assert not isinstance(request, Skip)
    validate_parameters(request, model.operation_model(operation).input_shape)
    name_pattern = model.operation_model(operation).input_shape.members["Name"].metadata
    assert name_pattern["max"] == 64
