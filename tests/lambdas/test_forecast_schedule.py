"""Scheduled forecasting: the latest approved version over the current input, once per content.

Against moto's SageMaker registry and S3 (stateful), through the Lambda entry point.
"""

from __future__ import annotations

import contextlib
import json

import boto3
import pytest
from botocore.stub import Stubber

from lambdas.batch_transform import handler as transform_handler
from lambdas.batch_transform.events import InvalidEventError, ScheduledRun, scheduled_event
from lambdas.batch_transform.planning import Settings, Skip, TransformPlan
from lambdas.batch_transform.schedule import (
    InputObject,
    content_digest,
    latest_approved,
    nothing_new,
    plan_scheduled,
)
from tests.lambdas.batch_transform_events import ENVIRON, GROUP, IMAGE, MODEL_DATA_URL, REGION

SETTINGS = Settings.from_env(ENVIRON)
DATA_BUCKET = "demand-forecasting-data"
INPUT_PREFIX = "transform-input/stallion/"


def _event(group: str = GROUP, time: str = "2026-12-06T06:00:00Z") -> dict:
    return scheduled_event(group, time, "3f6a5b8e-5d5b-4f0a-9a5e-1c2d3e4f5a6b")


def _register(sagemaker, status: str) -> int:
    with contextlib.suppress(sagemaker.exceptions.ClientError):  # registered before
        sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    arn = sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": MODEL_DATA_URL}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        ModelApprovalStatus=status,
    )["ModelPackageArn"]
    return int(arn.rsplit("/", 1)[1])


@pytest.fixture
def s3(sagemaker):
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=DATA_BUCKET)
    return client


def _upload(s3, name: str, body: bytes) -> None:
    s3.put_object(Bucket=DATA_BUCKET, Key=INPUT_PREFIX + name, Body=body)


def _jobs(sagemaker) -> list[str]:
    summaries = sagemaker.list_transform_jobs()["TransformJobSummaries"]
    return sorted(job["TransformJobName"] for job in summaries)


def test_a_repeated_schedule_with_nothing_new_starts_nothing_and_says_so(sagemaker, s3):
    version = _register(sagemaker, "Approved")
    _upload(s3, "day1.csv", b"series_id,timestamp,value\nA,2026-12-05 00:00,1\n")

    first = transform_handler.handler(_event(), None)
    again = transform_handler.handler(_event(time="2026-12-07T06:00:00Z"), None)

    assert first["started"] is True
    assert first["job"].startswith(f"{GROUP}-v{version}-c")
    assert again["started"] is False
    status = sagemaker.describe_transform_job(TransformJobName=first["job"])["TransformJobStatus"]
    assert again["reason"] == (
        f"nothing new: version {version} has already forecast this input "
        f"(transform job {first['job']}, {status})"
    )
    json.dumps(again)
    assert _jobs(sagemaker) == [first["job"]]


@pytest.mark.parametrize("status", ["Failed", "Stopped"])
def test_a_failed_job_for_the_same_input_is_said_loudly(status):
    """The schedule will not start that input again (one job per version and content): its
    reason names the end state and how to run it again."""
    objects = [InputObject("x.csv", 1, '"e"')]
    package = {
        "ModelPackageVersion": 2,
        "ModelApprovalStatus": "Approved",
        "InferenceSpecification": {
            "Containers": [{"Image": IMAGE, "ModelDataUrl": MODEL_DATA_URL}]
        },
    }
    plan = plan_scheduled(ScheduledRun(GROUP, ""), package, objects, SETTINGS)
    assert isinstance(plan, TransformPlan)
    assert nothing_new(plan, status) == (
        f"nothing new, but version 2's transform job {plan.job_name} for this input ended "
        f"{status}: send a Forecast Requested event to run it again"
    )


def test_new_histories_and_a_newly_approved_version_each_get_their_own_job(sagemaker, s3):
    first_version = _register(sagemaker, "Approved")
    _upload(s3, "day1.csv", b"day one\n")
    day1 = transform_handler.handler(_event(), None)
    _upload(s3, "day1.csv", b"day one, corrected\n")  # same key, new content
    day2 = transform_handler.handler(_event(), None)
    newer = _register(sagemaker, "Approved")
    _register(sagemaker, "PendingManualApproval")  # not approved: never the one that forecasts
    day3 = transform_handler.handler(_event(), None)

    assert day1["started"] and day2["started"] and day3["started"]
    assert len({day1["job"], day2["job"], day3["job"]}) == 3
    assert day2["job"].startswith(f"{GROUP}-v{first_version}-c")
    assert day3["job"].startswith(f"{GROUP}-v{newer}-c")
    assert day3["model"] == f"{GROUP}-v{newer}"
    described = sagemaker.describe_transform_job(TransformJobName=day3["job"])
    uri = described["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
    assert uri == ENVIRON["INPUT_URI"]


def test_no_approved_version_yet_starts_nothing_and_says_so(sagemaker, s3):
    _register(sagemaker, "PendingManualApproval")
    _upload(s3, "day1.csv", b"day one\n")
    result = transform_handler.handler(_event(), None)
    assert result == {
        "started": False,
        "reason": f"no Approved version of {GROUP} yet: nothing to forecast with",
    }
    assert _jobs(sagemaker) == []


def test_an_empty_input_prefix_starts_nothing_and_says_so(sagemaker, s3):
    _register(sagemaker, "Approved")
    result = transform_handler.handler(_event(), None)
    assert result["started"] is False
    assert result["reason"] == f"no input under {ENVIRON['INPUT_URI']}: nothing to forecast"


def test_a_schedule_of_another_group_makes_no_call():
    client = boto3.client("sagemaker", region_name=REGION)
    with Stubber(client) as stub:
        result = transform_handler.handle_event(
            _event(group="other-project"), SETTINGS, client, s3=object()
        )
        stub.assert_no_pending_responses()
    assert result["started"] is False and "other-project" in result["reason"]


def test_a_malformed_scheduled_event_names_the_field():
    event = _event()
    del event["detail"]["ModelPackageGroupName"]
    with pytest.raises(InvalidEventError, match=r"'detail\.ModelPackageGroupName' is missing"):
        transform_handler.handle_event(event, SETTINGS, None, s3=None)


# --- the pure rules -----------------------------------------------------------------------------


def test_the_content_digest_ignores_listing_order_and_quotes_but_not_content():
    a = InputObject("in/a.csv", 10, '"abc"')
    b = InputObject("in/b.csv", 20, '"def"')
    assert content_digest([a, b]) == content_digest([b, InputObject("in/a.csv", 10, "abc")])
    assert content_digest([a, b]) != content_digest([a])
    assert content_digest([a, b]) != content_digest([a, InputObject("in/b.csv", 20, '"xyz"')])
    assert content_digest([a]) != content_digest([InputObject("in/c.csv", 10, '"abc"')])


def test_the_latest_approved_version_is_the_highest_approved_number():
    summaries = [
        {"ModelPackageVersion": 1, "ModelApprovalStatus": "Approved"},
        {"ModelPackageVersion": 4, "ModelApprovalStatus": "Rejected"},
        {"ModelPackageVersion": 3, "ModelApprovalStatus": "Approved"},
        {"ModelPackageVersion": 5, "ModelApprovalStatus": "PendingManualApproval"},
    ]
    found = latest_approved(summaries)
    assert found is not None and found["ModelPackageVersion"] == 3
    assert latest_approved(summaries[3:]) is None


def test_a_version_rejected_between_listing_and_describing_is_skipped():
    package = {
        "ModelPackageVersion": 2,
        "ModelApprovalStatus": "Rejected",
        "InferenceSpecification": {
            "Containers": [{"Image": IMAGE, "ModelDataUrl": MODEL_DATA_URL}]
        },
    }
    objects = [InputObject("x.csv", 1, '"e"')]
    result = plan_scheduled(ScheduledRun(GROUP, ""), package, objects, SETTINGS)
    assert isinstance(result, Skip) and "is Rejected now" in result.reason
    package["ModelApprovalStatus"] = "Approved"
    planned = plan_scheduled(ScheduledRun(GROUP, ""), package, objects, SETTINGS)
    assert isinstance(planned, TransformPlan)
    assert planned.job_name == f"{GROUP}-v2-c{content_digest(objects)}"
