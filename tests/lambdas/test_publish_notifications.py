"""The publish Lambda's failure reports (SNS), stable QuickSight manifest and SPICE refresh.

SNS and QuickSight calls are pinned with botocore's Stubber against the real service models
(moto's QuickSight accepts any ingestion and remembers none); the manifest is written to moto's
S3 so the keys and body are the ones a deployed Lambda leaves behind.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber
from moto import mock_aws

from lambdas.publish import handler as publish_handler
from lambdas.publish.handler import (
    ConfigError,
    DataSet,
    Settings,
    handle_event,
    ingestion_id,
    refresh_data_set,
)
from lambdas.publish.publishing import FORECAST_COLUMNS

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "project-forecasts"
JOB = "ts-forecasting-v3-fa1e0e24"
OUTPUT_PATH = f"s3://{BUCKET}/transform/{JOB}/"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:project-failures"
DATA_SET_ARN = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:dataset/ts-forecasting-forecasts"
DATA_SET = DataSet(region=REGION, account_id=ACCOUNT, data_set_id="ts-forecasting-forecasts")
OUT_FILE = (
    ",".join(FORECAST_COLUMNS)
    + "\n"
    + "".join(
        f"store_1,sales,2024-0{step}-01 00:00:00,{step},{step}.5,{step},{step + 1},tft,3\n"
        for step in (1, 2, 3)
    )
)


def transform_event(status: str, reason: str | None = None) -> dict:
    """A ``SageMaker Transform Job State Change`` as EventBridge delivers it."""
    detail = {
        "TransformJobName": JOB,
        "TransformJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:transform-job/{JOB}",
        "TransformJobStatus": status,
        "ModelName": "ts-forecasting-v3",
        "TransformOutput": {"S3OutputPath": OUTPUT_PATH, "AssembleWith": "None"},
    }
    if reason:
        detail["FailureReason"] = reason
    return {
        "version": "0",
        "id": "5b2f2ad8-3f1e-4c9a-9d0e-7d3c1f0e2a11",
        "detail-type": "SageMaker Transform Job State Change",
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "time": "2024-06-03T05:10:00Z",
        "region": REGION,
        "resources": [detail["TransformJobArn"]],
        "detail": detail,
    }


def client(service: str):
    return boto3.client(
        service, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )


@pytest.fixture
def s3(monkeypatch):
    """moto's S3 holding one job's output, with fake credentials and fresh cached clients."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        publish_handler.reset_client()
        s3_client = boto3.client("s3", region_name=REGION)
        s3_client.create_bucket(Bucket=BUCKET)
        s3_client.put_object(Bucket=BUCKET, Key=f"transform/{JOB}/store.csv.out", Body=OUT_FILE)
        yield s3_client
        publish_handler.reset_client()


@pytest.mark.parametrize("status", ["Failed", "Stopped"])
def test_a_failed_job_is_reported_to_the_topic(status):
    sns = client("sns")
    reason = "AlgorithmError: see the job's logs"
    with Stubber(sns) as stub:
        stub.add_response(
            "publish",
            {"MessageId": "m-1"},
            {
                "TopicArn": TOPIC_ARN,
                "Subject": f"Batch Transform job {status.lower()}: {JOB}",
                "Message": f"Transform job {JOB} ended {status}; no forecasts were published.\n"
                f"Reason: {reason}\nOutput path: {OUTPUT_PATH}",
            },
        )
        result = handle_event(
            transform_event(status, reason),
            Settings(BUCKET, notification_topic_arn=TOPIC_ARN),
            client("s3"),
            sns=sns,
        )
        stub.assert_no_pending_responses()

    assert result["published"] is False
    assert result["notification_id"] == "m-1"


def test_without_a_topic_a_failed_job_sends_nothing():
    sns = client("sns")
    with Stubber(sns):  # nothing queued: any call fails the test
        result = handle_event(transform_event("Failed"), Settings(BUCKET), client("s3"), sns=sns)
    assert "notification_id" not in result


def test_a_long_job_name_is_cut_to_snss_subject_limit():
    sns = client("sns")
    long_event = transform_event("Failed")
    long_event["detail"]["TransformJobName"] = "x" * 120
    subject = ("Batch Transform job failed: " + "x" * 120)[:100]
    with Stubber(sns) as stub:
        stub.add_response(
            "publish",
            {"MessageId": "m-2"},
            {"TopicArn": TOPIC_ARN, "Subject": subject, "Message": ANY},
        )
        handle_event(long_event, Settings(BUCKET, notification_topic_arn=TOPIC_ARN), None, sns=sns)
        stub.assert_no_pending_responses()


def test_completed_job_writes_the_stable_manifest_and_refreshes_spice(s3):
    quicksight = client("quicksight")
    settings = Settings(
        BUCKET,
        quicksight_manifest_key="forecasts/manifest.json",
        quicksight_data_set=DATA_SET,
        notification_topic_arn=TOPIC_ARN,
    )
    sns = client("sns")
    with Stubber(quicksight) as stub, Stubber(sns):  # a completed job notifies nobody
        stub.add_response(
            "create_ingestion",
            {"Status": 201, "IngestionId": f"publish-{JOB}"},
            {
                "AwsAccountId": ACCOUNT,
                "DataSetId": "ts-forecasting-forecasts",
                "IngestionId": f"publish-{JOB}",
                "IngestionType": "FULL_REFRESH",
            },
        )
        result = handle_event(
            transform_event("Completed"), settings, s3, sns=sns, quicksight=quicksight
        )
        stub.assert_no_pending_responses()

    assert result["published"] is True
    assert result["ingestion_id"] == f"publish-{JOB}"
    assert result["data_set_manifest_uri"] == f"s3://{BUCKET}/forecasts/manifest.json"
    manifest = json.loads(
        s3.get_object(Bucket=BUCKET, Key="forecasts/manifest.json")["Body"].read()
    )
    # One folder prefix per model version, never the reports or per-run manifests.
    assert manifest["fileLocations"] == [
        {"URIPrefixes": [f"s3://{BUCKET}/forecasts/model=tft/version=3/"]}
    ]
    assert (result["data_set_files"], result["data_set_left_out"]) == (1, [])
    assert manifest["globalUploadSettings"]["format"] == "CSV"
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="forecasts/model=")["Contents"]
    assert [item["Key"] for item in listed] == [
        f"forecasts/model=tft/version=3/run={JOB}/forecasts.csv"
    ]


def test_the_handler_reads_the_new_settings_from_its_environment(s3, monkeypatch):
    monkeypatch.setenv("FORECASTS_BUCKET", BUCKET)
    monkeypatch.setenv("QUICKSIGHT_MANIFEST_KEY", "/forecasts/manifest.json")
    for name in ("QUICKSIGHT_DATA_SET_ARN", "NOTIFICATION_TOPIC_ARN", "KMS_KEY_ID"):
        monkeypatch.delenv(name, raising=False)

    result = publish_handler.handler(transform_event("Completed"), None)

    assert result["data_set_manifest_uri"] == f"s3://{BUCKET}/forecasts/manifest.json"
    assert "ingestion_id" not in result


def test_a_repeated_refresh_is_not_an_error():
    quicksight = client("quicksight")
    with Stubber(quicksight) as stub:
        stub.add_client_error(
            "create_ingestion",
            service_error_code="ResourceExistsException",
            service_message="Ingestion already exists",
            http_status_code=409,
        )
        assert refresh_data_set(quicksight, DATA_SET, JOB) == f"publish-{JOB}"


def test_other_refresh_errors_raise_for_a_retry():
    quicksight = client("quicksight")
    with Stubber(quicksight) as stub:
        stub.add_client_error(
            "create_ingestion", service_error_code="AccessDeniedException", http_status_code=403
        )
        with pytest.raises(ClientError, match="AccessDeniedException"):
            refresh_data_set(quicksight, DATA_SET, JOB)


def test_ingestion_ids_are_deterministic_and_valid():
    assert ingestion_id(JOB) == ingestion_id(JOB) == f"publish-{JOB}"
    assert ingestion_id("run.2024/01 x") == "publish-run-2024-01-x"
    assert len(ingestion_id("y" * 300)) == 128


def test_settings_read_the_new_variables():
    settings = Settings.from_env(
        {
            "FORECASTS_BUCKET": BUCKET,
            "NOTIFICATION_TOPIC_ARN": TOPIC_ARN,
            "QUICKSIGHT_MANIFEST_KEY": "forecasts/manifest.json",
            "QUICKSIGHT_DATA_SET_ARN": DATA_SET_ARN,
        }
    )
    assert settings.notification_topic_arn == TOPIC_ARN
    assert settings.quicksight_manifest_key == "forecasts/manifest.json"
    assert settings.quicksight_data_set == DATA_SET
    unset = Settings.from_env({"FORECASTS_BUCKET": BUCKET})
    assert (unset.notification_topic_arn, unset.quicksight_manifest_key) == (None, None)
    assert unset.quicksight_data_set is None


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("NOTIFICATION_TOPIC_ARN", "project-failures", "expected an SNS topic ARN"),
        ("QUICKSIGHT_MANIFEST_KEY", "forecasts/manifest.txt", "expected a key ending in .json"),
        ("QUICKSIGHT_DATA_SET_ARN", f"arn:aws:s3:::{BUCKET}", "dataset/ID"),
    ],
)
def test_bad_new_settings_are_named(name, value, message):
    with pytest.raises(ConfigError, match=f"{name} is .*{message}"):
        Settings.from_env({"FORECASTS_BUCKET": BUCKET, name: value})
