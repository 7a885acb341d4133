"""The publish Lambda against moto's S3 (stateful flows) and botocore's Stubber (pinned calls)."""

from __future__ import annotations

import copy
import csv
import io
import json
import logging

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from lambdas.publish import handler as publish_handler
from lambdas.publish.handler import (
    ConfigError,
    InvalidEventError,
    Settings,
    handle_event,
    parse_event,
)
from lambdas.publish.publishing import FORECAST_COLUMNS, PublishError
from lambdas.publish.stores import S3Store

TRANSFORM_BUCKET = "project-model-artifacts"
FORECASTS_BUCKET = "project-forecasts"
DATA_BUCKET = "project-data"
JOB = "forecast-tft-v3-20240101"
OUTPUT_PATH = f"s3://{TRANSFORM_BUCKET}/transform/{JOB}"

EVENT = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "SageMaker Transform Job State Change",
    "source": "aws.sagemaker",
    "account": "123456789012",
    "time": "2024-01-01T00:00:00Z",
    "region": "us-east-1",
    "resources": [f"arn:aws:sagemaker:us-east-1:123456789012:transform-job/{JOB}"],
    "detail": {
        "TransformJobName": JOB,
        "TransformJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:transform-job/{JOB}",
        "TransformJobStatus": "Completed",
        "ModelName": "forecast-tft-v3",
        "TransformOutput": {"S3OutputPath": OUTPUT_PATH, "AssembleWith": "None"},
    },
}

FORECASTS = (
    ",".join(FORECAST_COLUMNS)
    + "\n"
    + "".join(
        f"Agency_01/SKU_0{s},volume,2017-0{step}-01 00:00:00,{step},{10 * s + step},"
        f"{10 * s + step - 1},{10 * s + step + 1},tft,3\n"
        for s in (1, 2)
        for step in (1, 2, 3)
    )
)
ACTUALS = "series_id,target,timestamp,value\nAgency_01/SKU_01,volume,2017-01-01,11.5\n"


@pytest.fixture
def s3(monkeypatch):
    """moto's S3 with the project's buckets, fake credentials and a fresh cached client."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "FORECASTS_BUCKET": FORECASTS_BUCKET,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("FORECASTS_PREFIX", "ACTUALS_URI", "KMS_KEY_ID", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        publish_handler.reset_client()
        client = boto3.client("s3", region_name="us-east-1")
        for bucket in (TRANSFORM_BUCKET, FORECASTS_BUCKET, DATA_BUCKET):
            client.create_bucket(Bucket=bucket)
        client.put_object(
            Bucket=TRANSFORM_BUCKET, Key=f"transform/{JOB}/stallion.csv.out", Body=FORECASTS
        )
        client.put_object(Bucket=DATA_BUCKET, Key="actuals/stallion.csv", Body=ACTUALS)
        yield client
        publish_handler.reset_client()


def keys(client, bucket: str) -> list[str]:
    return [item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", [])]


def event_with(**detail) -> dict:
    event = copy.deepcopy(EVENT)
    event["detail"].update(detail)
    return event


def test_actuals_not_uploaded_yet_publish_the_forecasts_alone(s3, monkeypatch):
    """The stack sets ACTUALS_URI to a fixed key before anyone uploads actuals there."""
    monkeypatch.setenv("ACTUALS_URI", f"s3://{DATA_BUCKET}/actuals/not-there-yet.csv")
    result = publish_handler.handler(EVENT, None)
    assert result["published"] is True and result["actuals_uri"] is None
    assert (result["rows"], result["series"]) == (6, 2)


def test_completed_job_is_published_with_actuals(s3, monkeypatch):
    monkeypatch.setenv("ACTUALS_URI", f"s3://{DATA_BUCKET}/actuals/stallion.csv")

    result = publish_handler.handler(EVENT, None)

    partition = f"forecasts/model=tft/version=3/run={JOB}"
    assert result["published"] is True
    assert result["actuals_uri"] == f"s3://{DATA_BUCKET}/actuals/stallion.csv"
    assert (result["rows"], result["series"]) == (6, 2)
    assert result["csv_keys"] == [f"{partition}/forecasts.csv"]
    json.dumps(result)  # the Lambda's return value must serialise
    body = s3.get_object(Bucket=FORECASTS_BUCKET, Key=f"{partition}/forecasts.csv")["Body"].read()
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert [row["actual"] for row in rows] == ["11.5", "", "", "", "", ""]
    assert {row["run"] for row in rows} == {JOB}

    manifest_key = f"forecasts/manifests/model=tft/version=3/run={JOB}.json"
    manifest = json.loads(s3.get_object(Bucket=FORECASTS_BUCKET, Key=manifest_key)["Body"].read())
    assert manifest["fileLocations"] == [
        {"URIPrefixes": [f"s3://{FORECASTS_BUCKET}/{partition}/forecasts.csv"]}
    ]
    assert manifest["globalUploadSettings"]["containsHeader"] == "true"
    assert result["manifest_uris"] == [f"s3://{FORECASTS_BUCKET}/{manifest_key}"]

    report = f"forecasts/reports/model=tft/version=3/run={JOB}/report.html"
    head = s3.head_object(Bucket=FORECASTS_BUCKET, Key=report)
    assert head["ContentType"].startswith("text/html")
    assert keys(s3, TRANSFORM_BUCKET) == [f"transform/{JOB}/stallion.csv.out"]  # inputs untouched


def test_republishing_overwrites_instead_of_duplicating(s3):
    publish_handler.handler(EVENT, None)
    first = keys(s3, FORECASTS_BUCKET)
    publish_handler.handler(EVENT, None)
    assert keys(s3, FORECASTS_BUCKET) == first
    assert len(first) == 5  # csv, two plots, report, manifest


def test_objects_are_written_with_the_kms_key(s3, monkeypatch):
    key_id = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["KeyId"]
    monkeypatch.setenv("KMS_KEY_ID", key_id)
    monkeypatch.setenv("FORECASTS_PREFIX", "/published/")

    result = publish_handler.handler(EVENT, None)

    assert all(key.startswith("published/") for key in keys(s3, FORECASTS_BUCKET))
    head = s3.head_object(Bucket=FORECASTS_BUCKET, Key=result["manifest_keys"][0])
    assert head["ServerSideEncryption"] == "aws:kms"
    assert key_id in head["SSEKMSKeyId"]


@pytest.mark.parametrize("status", ["Failed", "Stopped"])
def test_failed_job_publishes_nothing(s3, caplog, status):
    event = event_with(TransformJobStatus=status, FailureReason="ClientError: bad row 7")

    with caplog.at_level(logging.WARNING, logger=publish_handler.__name__):
        result = publish_handler.handler(event, None)

    assert result == {
        "published": False,
        "job": JOB,
        "status": status,
        "reason": "ClientError: bad row 7",
    }
    assert "ClientError: bad row 7" in caplog.text and JOB in caplog.text
    assert keys(s3, FORECASTS_BUCKET) == []


def test_bad_transform_output_raises_and_writes_nothing(s3):
    bad = FORECASTS.replace(",11,10,12,", ",eleven,10,12,")
    s3.put_object(Bucket=TRANSFORM_BUCKET, Key=f"transform/{JOB}/z.csv.out", Body=bad)

    with pytest.raises(PublishError, match=r"z\.csv\.out, line 2, column 'p50': 'eleven'"):
        publish_handler.handler(EVENT, None)
    assert keys(s3, FORECASTS_BUCKET) == []


def test_missing_outputs_raise(s3):
    event = event_with(TransformOutput={"S3OutputPath": f"s3://{TRANSFORM_BUCKET}/elsewhere"})
    with pytest.raises(PublishError, match=f"s3://{TRANSFORM_BUCKET}/elsewhere/: no .out files"):
        publish_handler.handler(event, None)


def drop(path: str) -> dict:
    event = copy.deepcopy(EVENT)
    *parents, last = path.split(".")
    node = event
    for name in parents:
        node = node[name]
    del node[last]
    return event


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([], "event is a list; expected an EventBridge event object"),
        ({**EVENT, "detail-type": "Other"}, "'detail-type' is 'Other'; expected 'SageMaker"),
        (drop("detail"), "'detail' is missing or not an object"),
        (drop("detail.TransformJobName"), "'detail.TransformJobName' is missing"),
        (drop("detail.TransformJobStatus"), "'detail.TransformJobStatus' is missing"),
        (event_with(TransformJobStatus="Done"), "'detail.TransformJobStatus' is 'Done'"),
        (drop("detail.TransformOutput"), "'detail.TransformOutput' is missing"),
        (
            drop("detail.TransformOutput.S3OutputPath"),
            "'detail.TransformOutput.S3OutputPath' is missing",
        ),
        (
            event_with(TransformOutput={"S3OutputPath": "/tmp/out"}),
            "'detail.TransformOutput.S3OutputPath' is '/tmp/out'; expected s3://bucket/prefix",
        ),
        (event_with(TransformJobName=""), "'detail.TransformJobName' is ''; expected a non-empty"),
    ],
)
def test_malformed_events_name_the_field(event, message):
    with pytest.raises(InvalidEventError) as caught:
        parse_event(event)
    assert message in str(caught.value)


def test_in_progress_job_is_skipped_without_calls():
    client = boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:  # no responses queued: any S3 call would fail the test
        result = handle_event(
            event_with(TransformJobStatus="InProgress"), Settings("bucket"), client
        )
        stub.assert_no_pending_responses()
    assert result["published"] is False


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "FORECASTS_BUCKET is not set"),
        ({"FORECASTS_BUCKET": "b", "ACTUALS_URI": "s3://data"}, "expected s3://bucket/key"),
    ],
)
def test_bad_settings_are_named(environ, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(environ)


def test_s3_store_follows_pagination_and_sets_kms():
    client = boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    store = S3Store(client, "bucket", kms_key_id="alias/project")
    with Stubber(client) as stub:
        stub.add_response(
            "list_objects_v2",
            {"Contents": [{"Key": "p/b.out"}], "IsTruncated": True, "NextContinuationToken": "t"},
            {"Bucket": "bucket", "Prefix": "p/"},
        )
        stub.add_response(
            "list_objects_v2",
            {"Contents": [{"Key": "p/a.out"}], "IsTruncated": False},
            {"Bucket": "bucket", "Prefix": "p/", "ContinuationToken": "t"},
        )
        stub.add_response(
            "put_object",
            {},
            {
                "Bucket": "bucket",
                "Key": "k.csv",
                "Body": b"x",
                "ContentType": "text/csv",
                "ServerSideEncryption": "aws:kms",
                "SSEKMSKeyId": "alias/project",
            },
        )
        assert store.list("p/") == ["p/a.out", "p/b.out"]
        store.write("k.csv", b"x", "text/csv")
        stub.assert_no_pending_responses()
    assert store.uri("k.csv") == "s3://bucket/k.csv"


# --- the registered evaluation (metrics and synthetic flag) ---------------------------------

GROUP = "forecast-tft"  # the batch-transform Lambda named the job's model f"{GROUP}-v3"
EVALUATION = {
    "regression_metrics": {"mae": {"value": 0.4321, "standard_deviation": "NaN"}},
    "evaluation": {"synthetic": True, "scale": "standardised"},
}


def register_versions(s3, evaluation_body: bytes | None, versions: int = 3) -> str:
    """``versions`` packages in moto's registry, the last with an evaluation.json in S3 (as
    the pipeline registers it: ModelMetrics.ModelQuality.Statistics)."""
    sagemaker = boto3.client("sagemaker", region_name="us-east-1")
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    uri = f"s3://{TRANSFORM_BUCKET}/{GROUP}/exec-1/evaluate/evaluation/evaluation.json"
    for version in range(1, versions + 1):
        metrics = {
            "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": uri}}
        }
        last = version == versions and evaluation_body is not None
        sagemaker.create_model_package(
            ModelPackageGroupName=GROUP, **({"ModelMetrics": metrics} if last else {})
        )
    if evaluation_body is not None:
        bucket, key = uri.removeprefix("s3://").split("/", 1)
        s3.put_object(Bucket=bucket, Key=key, Body=evaluation_body)
    return uri


def test_the_report_shows_the_registered_metrics_of_the_jobs_version(s3, monkeypatch):
    monkeypatch.setenv("MODEL_PACKAGE_GROUP", GROUP)
    uri = register_versions(s3, json.dumps(EVALUATION).encode())

    result = publish_handler.handler(EVENT, None)

    assert result["evaluation_uri"] == uri
    (report_key,) = result["report_keys"]
    page = s3.get_object(Bucket=FORECASTS_BUCKET, Key=report_key)["Body"].read().decode()
    assert "0.4321" in page and "SYNTHETIC" in page
    (csv_key,) = result["csv_keys"]
    rows = csv.DictReader(
        io.StringIO(s3.get_object(Bucket=FORECASTS_BUCKET, Key=csv_key)["Body"].read().decode())
    )
    assert {row["synthetic"] for row in rows} == {"true"}


def test_a_version_without_a_registered_evaluation_publishes_without_metrics(s3, monkeypatch):
    monkeypatch.setenv("MODEL_PACKAGE_GROUP", GROUP)
    register_versions(s3, None)
    result = publish_handler.handler(EVENT, None)
    assert result["published"] is True and result["evaluation_uri"] is None


def test_a_model_of_another_group_is_published_without_asking_the_registry(s3, monkeypatch):
    monkeypatch.setenv("MODEL_PACKAGE_GROUP", "other-group")
    result = publish_handler.handler(event_with(ModelName="forecast-tft-v3"), None)
    assert result["published"] is True and result["evaluation_uri"] is None


def test_an_evaluation_that_is_not_json_is_named_and_nothing_is_written(s3, monkeypatch):
    monkeypatch.setenv("MODEL_PACKAGE_GROUP", GROUP)
    uri = register_versions(s3, b"{not json")
    with pytest.raises(PublishError, match=f"{uri}: not valid JSON"):
        publish_handler.handler(EVENT, None)
    assert keys(s3, FORECASTS_BUCKET) == []


@pytest.mark.parametrize(
    ("model_name", "version"),
    [("forecast-tft-v3", 3), ("forecast-tft-v12", 12), ("forecast-tft-v0", None),
     ("forecast-tftx-v3", None), ("other-v3", None), ("forecast-tft", None)],
)  # fmt: skip
def test_the_version_is_read_from_the_model_name_the_transform_lambda_gives(model_name, version):
    from lambdas.publish.evaluation import package_version

    assert package_version(model_name, GROUP) == version
