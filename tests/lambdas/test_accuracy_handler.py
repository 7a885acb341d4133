"""The accuracy Lambda against moto (S3, the model registry, CloudWatch, SNS, SageMaker
Pipelines): actuals arrive day by day, drift raises one alarm and one retrain."""

from __future__ import annotations

import csv
import io
import json
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

from forecasting.series_naming import SeriesNaming
from lambdas.accuracy import handler as accuracy_handler
from lambdas.accuracy.handler import InvalidEventError, Settings
from lambdas.accuracy.scoring import ACCURACY_COLUMNS
from lambdas.errors import ConfigError
from lambdas.publish.publishing import PUBLISHED_COLUMNS

REGION, ACCOUNT = "us-east-1", "123456789012"
GROUP, DATA, FORECASTS = "ts-forecasting", "data-bucket", "forecasts-bucket"
PIPELINE = "ts-forecasting"
CONTEXT = SimpleNamespace(invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:acc")
PARTITION = f"forecasts/model={GROUP}/version=1/run=r1/forecasts.csv"


def forecasts_csv() -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PUBLISHED_COLUMNS)
    for day in range(1, 6):
        writer.writerow(
            ["s1", "y", f"2026-01-0{day} 00:00:00", day, 100, 90, 110, GROUP, "1", "", "r1", "", ""]
        )
    return out.getvalue()


def object_created(bucket: str, key: str) -> dict:
    return {
        "version": "0",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "detail": {"version": "0", "bucket": {"name": bucket}, "object": {"key": key}},
    }


@pytest.fixture
def aws(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        accuracy_handler.aws.reset_clients()
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (DATA, FORECASTS):
            s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=FORECASTS, Key=PARTITION, Body=forecasts_csv().encode())
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        uri = f"s3://{DATA}/{GROUP}/exec-1/evaluation.json"
        s3.put_object(
            Bucket=DATA,
            Key=f"{GROUP}/exec-1/evaluation.json",
            Body=json.dumps({"regression_metrics": {"smape": {"value": 4.0}}}).encode(),
        )
        sagemaker.create_model_package(
            ModelPackageGroupName=GROUP,
            ModelMetrics={
                "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": uri}}
            },
        )
        sagemaker.create_pipeline(
            PipelineName=PIPELINE,
            RoleArn=f"arn:aws:iam::{ACCOUNT}:role/pipeline",
            PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}),
        )
        topic = boto3.client("sns", region_name=REGION).create_topic(Name="notes")["TopicArn"]
        for name, value in {
            "FORECASTS_BUCKET": FORECASTS,
            "DATA_BUCKET": DATA,
            "MODEL_PACKAGE_GROUP": GROUP,
            "METRIC_NAMESPACE": f"{GROUP}/accuracy",
            "NOTIFICATION_TOPIC_ARN": topic,
            "WINDOW_DAYS": "2",
            "RETRAIN": "true",
            "COOLDOWN_DAYS": "7",
            "PIPELINE_NAME": PIPELINE,
        }.items():
            monkeypatch.setenv(name, value)
        yield SimpleNamespace(s3=s3, sagemaker=sagemaker)
        accuracy_handler.aws.reset_clients()


def arrive(aws, day: int, value: float) -> dict:
    key = f"actuals/day{day}.csv"
    body = f"series_id,target,timestamp,value\ns1,y,2026-01-0{day} 00:00:00,{value}\n"
    aws.s3.put_object(Bucket=DATA, Key=key, Body=body.encode())
    return accuracy_handler.handler(object_created(DATA, key), CONTEXT)


def test_actuals_day_by_day_alarm_once_and_retrain_once(aws):
    # day 1: forecast 100, actual 101 (sMAPE 0.995 %, registered 4 %): fine
    first = arrive(aws, 1, 101)
    (version,) = first["versions"]
    assert (version["status"], version["reference_smape"]) == ("OK", 4.0)
    assert first["notification_ids"] == [] and first["pipeline_execution_arn"] is None
    table = aws.s3.get_object(
        Bucket=FORECASTS, Key=f"forecasts/accuracy/model={GROUP}/accuracy.csv"
    )
    rows = list(csv.DictReader(io.StringIO(table["Body"].read().decode())))
    assert tuple(rows[0]) == ACCURACY_COLUMNS
    assert [(r["horizon_step"], r["matched"], r["mae"]) for r in rows[:2]] == [
        ("1", "1", "1.0"),
        ("2", "0", ""),
    ]
    manifest = json.loads(
        aws.s3.get_object(Bucket=FORECASTS, Key=f"forecasts/accuracy/model={GROUP}/manifest.json")[
            "Body"
        ].read()
    )
    assert manifest["fileLocations"] == [
        {"URIPrefixes": [f"s3://{FORECASTS}/forecasts/accuracy/model={GROUP}/accuracy.csv"]}
    ]
    metrics = boto3.client("cloudwatch", region_name=REGION).list_metrics(
        Namespace=f"{GROUP}/accuracy"
    )["Metrics"]
    names = {m["MetricName"] for m in metrics}
    assert {"MAE", "SMAPE", "Bias", "CoverageP10P90", "RollingSMAPE", "ErrorRatio"} <= names
    assert all({"Name": "Version", "Value": "1"} in m["Dimensions"] for m in metrics)

    # day 2: actual 130 (sMAPE 26 %): the 2-day rolling sMAPE 13.5 % > 1.5 x 4 %
    second = arrive(aws, 2, 130)
    assert second["versions"][0]["status"] == "ALARM"
    assert len(second["notification_ids"]) == 1
    assert second["pipeline_execution_arn"].startswith(
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{PIPELINE}/execution/"
    )
    # day 3: still in alarm, inside the cool-down: no second notice, no second retrain
    third = arrive(aws, 3, 140)
    assert third["versions"][0]["status"] == "ALARM"
    assert third["notification_ids"] == [] and third["pipeline_execution_arn"] is None
    assert "cool-down" in third["retrain"]
    executions = aws.sagemaker.list_pipeline_executions(PipelineName=PIPELINE)
    assert len(executions["PipelineExecutionSummaries"]) == 1


def test_a_new_partition_triggers_a_pass_too(aws):
    result = accuracy_handler.handler(object_created(FORECASTS, PARTITION), CONTEXT)
    assert result["forecasts"] == 5 and result["actuals"] == 0


def test_training_shaped_actuals_are_read_with_the_columns_the_version_registered(aws):
    """evaluation.json's "columns" (as the TFT's evaluation records them: one id column, the
    target not in the id) say how the training file's rows name the forecast series."""
    columns = SeriesNaming("day", ("store",), ("y",), target_in_id=False).to_dict()
    report = {"regression_metrics": {"smape": {"value": 4.0}}, "evaluation": {"columns": columns}}
    aws.s3.put_object(
        Bucket=DATA, Key=f"{GROUP}/exec-1/evaluation.json", Body=json.dumps(report).encode()
    )
    key = "actuals/2026-01.csv"
    body = "day,store,price,y\n2026-01-01,s1,2.5,101\n2026-01-02,s1,2.5,\n2026-01-01,s2,1,7\n"
    aws.s3.put_object(Bucket=DATA, Key=key, Body=body.encode())
    result = accuracy_handler.handler(object_created(DATA, key), CONTEXT)
    assert result["actuals"] == 2 and result["forecasts"] == 5
    table = aws.s3.get_object(
        Bucket=FORECASTS, Key=f"forecasts/accuracy/model={GROUP}/accuracy.csv"
    )
    rows = list(csv.DictReader(io.StringIO(table["Body"].read().decode())))
    assert [(r["horizon_step"], r["matched"], r["mae"]) for r in rows[:2]] == [
        ("1", "1", "1.0"),
        ("2", "0", ""),
    ]
    assert result["notes"] == [
        f"s3://{DATA}/{key}: column(s) 'price' neither the time, a series id nor a target of "
        "version 1: ignored"
    ]


def test_a_bad_actuals_file_names_its_line_and_column_and_writes_nothing(aws):
    key = "actuals/bad.csv"
    aws.s3.put_object(
        Bucket=DATA, Key=key, Body=b"series_id,target,timestamp,value\ns1,y,2026-01-01,n/a\n"
    )
    with pytest.raises(ValueError, match=rf"s3://{DATA}/{key}, line 2, column 'value'"):
        accuracy_handler.handler(object_created(DATA, key), CONTEXT)
    listed = aws.s3.list_objects_v2(Bucket=FORECASTS, Prefix="forecasts/accuracy/")
    assert "Contents" not in listed


@pytest.mark.parametrize(
    "event",
    [
        {"detail-type": "Object Deleted"},
        {"detail-type": "Object Created", "detail": {}},
        object_created(DATA, "input/train.csv"),
        object_created(FORECASTS, "forecasts/accuracy/model=x/accuracy.csv"),
    ],
)
def test_events_outside_the_two_prefixes_are_refused(aws, event):
    with pytest.raises(InvalidEventError):
        accuracy_handler.handler(event, CONTEXT)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"RETRAIN": "yes"}, "RETRAIN"),
        ({"ALARM_RATIO": "high"}, "ALARM_RATIO"),
        ({"WINDOW_DAYS": "0"}, "window"),
        ({"PIPELINE_NAME": ""}, "PIPELINE_NAME"),
        ({"DATA_BUCKET": ""}, "DATA_BUCKET"),
    ],
)
def test_bad_settings_are_named(aws, monkeypatch, change, message):
    import os

    environ = {**os.environ, **change}
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(environ)
