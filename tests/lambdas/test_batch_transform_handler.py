"""The batch-transform Lambda against moto's SageMaker (stateful) and Stubber (pinned calls)."""

from __future__ import annotations

import json
import re

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from lambdas.batch_transform import handler as transform_handler
from lambdas.batch_transform.handler import (
    ConfigError,
    InvalidEventError,
    Settings,
    handle_event,
)
from lambdas.batch_transform.planning import TransformPlan, plan_transform
from tests.lambdas.batch_transform_events import (
    ENVIRON,
    EVENT,
    GROUP,
    IMAGE,
    MODEL_DATA_URL,
    REGION,
    event_with,
)

SETTINGS = Settings.from_env(ENVIRON)
JOB = f"{GROUP}-v3-fa1e0e24"
MODEL = f"{GROUP}-v3"


def test_approved_event_creates_the_model_and_starts_the_job(sagemaker):
    result = transform_handler.handler(EVENT, None)

    output = f"s3://demand-forecasting-forecasts/transform/{JOB}/"
    assert result == {"started": True, "model": MODEL, "job": JOB, "output": output}
    json.dumps(result)  # the Lambda's return value must serialise
    model = sagemaker.describe_model(ModelName=MODEL)
    assert model["ExecutionRoleArn"] == ENVIRON["SAGEMAKER_ROLE_ARN"]
    container = model["PrimaryContainer"]
    assert (container["Image"], container["ModelDataUrl"]) == (IMAGE, MODEL_DATA_URL)
    assert container["Environment"]["FORECAST_MODEL_VERSION"] == "3"
    job = sagemaker.describe_transform_job(TransformJobName=JOB)
    assert job["ModelName"] == MODEL
    assert (job["BatchStrategy"], job["MaxPayloadInMB"]) == ("SingleRecord", 100)
    assert job["ModelClientConfig"] == {
        "InvocationsTimeoutInSeconds": 3600,
        "InvocationsMaxRetries": 0,
    }
    assert job["TransformInput"] == {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": ENVIRON["INPUT_URI"]}},
        "ContentType": "text/csv",
        "SplitType": "None",
    }
    assert job["TransformOutput"] == {
        "S3OutputPath": output,
        "Accept": "text/csv",
        "AssembleWith": "None",
        "KmsKeyId": ENVIRON["KMS_KEY_ID"],
    }
    assert job["TransformResources"] == {
        "InstanceType": "ml.m5.xlarge",
        "InstanceCount": 1,
        "VolumeKmsKeyId": ENVIRON["KMS_KEY_ID"],
    }


def test_a_repeated_event_starts_no_second_job(sagemaker):
    first = transform_handler.handler(EVENT, None)
    second = transform_handler.handler({**EVENT, "id": "a-second-delivery"}, None)

    assert first["started"] is True
    assert second == {**first, "started": False, "reason": "already running or done"}
    jobs = sagemaker.list_transform_jobs()["TransformJobSummaries"]
    assert [job["TransformJobName"] for job in jobs] == [JOB]
    assert [m["ModelName"] for m in sagemaker.list_models()["Models"]] == [MODEL]


def test_a_pending_package_creates_nothing(sagemaker):
    result = transform_handler.handler(
        event_with(ModelApprovalStatus="PendingManualApproval"), None
    )

    assert result["started"] is False
    assert "PendingManualApproval" in result["reason"]
    assert sagemaker.list_models()["Models"] == []
    assert sagemaker.list_transform_jobs()["TransformJobSummaries"] == []


def test_missing_settings_fail_before_any_call(sagemaker, monkeypatch):
    monkeypatch.delenv("INPUT_URI")
    with pytest.raises(ConfigError, match="INPUT_URI is not set"):
        transform_handler.handler(EVENT, None)
    assert sagemaker.list_models()["Models"] == []


def offline_client():
    return boto3.client(
        "sagemaker", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )


def approved_plan() -> TransformPlan:
    plan = plan_transform(EVENT, SETTINGS)
    assert isinstance(plan, TransformPlan)
    return plan


MODEL_ARN = f"arn:aws:sagemaker:{REGION}:123456789012:model/{MODEL}"
JOB_ARN = f"arn:aws:sagemaker:{REGION}:123456789012:transform-job/{JOB}"


def test_skipped_events_make_no_calls():
    client = offline_client()
    with Stubber(client) as stub:  # nothing queued: any SageMaker call would fail the test
        result = handle_event(event_with(ModelPackageGroupName="other-group"), SETTINGS, client)
        stub.assert_no_pending_responses()
    assert result["started"] is False


def test_an_existing_model_is_reused():
    client, plan = offline_client(), approved_plan()
    with Stubber(client) as stub:
        stub.add_client_error(
            "create_model",
            "ValidationException",
            f'Cannot create already existing model "{MODEL_ARN}".',
            expected_params=plan.create_model,
        )
        stub.add_response(
            "create_transform_job", {"TransformJobArn": JOB_ARN}, plan.create_transform_job
        )
        result = handle_event(EVENT, SETTINGS, client)
        stub.assert_no_pending_responses()
    assert result["started"] is True


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("ResourceInUse", f"Transform job {JOB} is in use."),
        ("ValidationException", f"A transform job with name {JOB} already exists."),
    ],
)
def test_an_existing_job_is_not_started_again(code, message):
    client, plan = offline_client(), approved_plan()
    with Stubber(client) as stub:
        stub.add_response("create_model", {"ModelArn": MODEL_ARN}, plan.create_model)
        stub.add_client_error(
            "create_transform_job", code, message, expected_params=plan.create_transform_job
        )
        result = handle_event(EVENT, SETTINGS, client)
        stub.assert_no_pending_responses()
    assert result["started"] is False
    assert result["reason"] == "already running or done"


@pytest.mark.parametrize(
    ("operation", "code", "message"),
    [
        ("create_model", "ValidationException", "Could not access model data at s3://..."),
        ("create_model", "AccessDeniedException", "not authorized to perform iam:PassRole"),
        ("create_transform_job", "ResourceLimitExceeded", "ml.m5.xlarge for transform job usage"),
        ("create_transform_job", "ValidationException", "Could not find model"),
    ],
)
def test_other_errors_raise(operation, code, message):
    client = offline_client()
    with Stubber(client) as stub:
        if operation == "create_transform_job":
            stub.add_response("create_model", {"ModelArn": MODEL_ARN})
        stub.add_client_error(operation, code, message)
        with pytest.raises(ClientError, match=code):
            handle_event(EVENT, SETTINGS, client)
        stub.assert_no_pending_responses()


# --- re-forecasting an approved version --------------------------------------------------------


def _request(version: int, run_id: str, group: str = GROUP) -> dict:
    """What `aws events put-events` delivers for the documented re-forecast request."""
    return {
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "Forecast Requested",
        "source": "forecasting.requests",
        "account": "123456789012",
        "time": "2026-12-06T10:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": {"ModelPackageGroupName": group, "ModelPackageVersion": version, "RunId": run_id},
    }


def _register(sagemaker, status: str) -> int:
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


def test_a_request_reruns_an_approved_version_once_per_run_id(sagemaker):
    """A failed transform, or new histories, can be forecast again through the same Lambda:
    each run id is one new job; the same request delivered twice starts nothing the second
    time; the approval's own job is untouched."""
    version = _register(sagemaker, "Approved")
    first = transform_handler.handler(_request(version, "2026-12-06"), None)
    again = transform_handler.handler(_request(version, "2026-12-06"), None)
    other = transform_handler.handler(_request(version, "retry-2"), None)
    assert first["started"] and other["started"]
    assert again == {**first, "started": False, "reason": "already running or done"}
    assert first["job"] != other["job"]
    assert first["job"].startswith(f"{GROUP}-v{version}-fa1e0e24-r")
    approval_job = plan_transform(event_with(ModelPackageVersion=version), SETTINGS).job_name
    assert approval_job not in (first["job"], other["job"])
    jobs = sagemaker.list_transform_jobs()["TransformJobSummaries"]
    assert sorted(j["TransformJobName"] for j in jobs) == sorted([first["job"], other["job"]])
    described = sagemaker.describe_transform_job(TransformJobName=first["job"])
    assert described["ModelName"] == f"{GROUP}-v{version}"


def test_a_request_for_a_version_that_is_not_approved_is_refused(sagemaker):
    version = _register(sagemaker, "PendingManualApproval")
    with pytest.raises(InvalidEventError, match="is PendingManualApproval; only Approved"):
        transform_handler.handler(_request(version, "r1"), None)
    assert sagemaker.list_transform_jobs()["TransformJobSummaries"] == []


def test_a_request_for_another_group_makes_no_call():
    with Stubber(boto3.client("sagemaker", region_name=REGION)) as stubber:
        result = handle_event(_request(1, "r1", group="other-project"), SETTINGS, stubber.client)
    assert result["started"] is False and "other-project" in result["reason"]


@pytest.mark.parametrize(
    ("detail", "message"),
    [
        ({"RunId": ""}, "'detail.RunId' is ''"),
        ({"RunId": "has space"}, "'detail.RunId' is 'has space'; expected up to 128"),
        ({"ModelPackageVersion": "3"}, "'detail.ModelPackageVersion' is '3'"),
    ],
)
def test_malformed_requests_name_the_field(detail, message):
    event = _request(3, "r1")
    event["detail"].update(detail)
    with pytest.raises(InvalidEventError, match=re.escape(message)):
        handle_event(event, SETTINGS, None)
