"""The run-tagging Lambda, with SageMaker and S3 stubbed by botocore and the tracking server's
HTTP answered by a fake: a registered version's run gets its tags once, a version without a run
is skipped and said, and every failure is loud.

The request shape is the ``sagemaker-mlflow`` plugin's (SigV4 for ``sagemaker-mlflow``, the
server ARN in a header, the regional endpoint) and MLflow's REST API 2.0; see
lambdas/registration_tracking/tracking_server.py for the sources.
"""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.credentials import Credentials
from botocore.response import StreamingBody
from botocore.stub import Stubber

from forecasting.pipeline import tracking as pipeline_tracking
from lambdas.errors import ConfigError
from lambdas.registration_tracking import handler as tagging
from lambdas.registration_tracking.tracking_server import (
    ACTIONS,
    TrackingServer,
    TrackingServerError,
)
from tests.lambdas.batch_transform_events import GROUP, PACKAGE_ARN, REGION, VERSION, event_with

SERVER = f"arn:aws:sagemaker:{REGION}:123456789012:mlflow-tracking-server/demand-mlflow"
EXECUTION = f"arn:aws:sagemaker:{REGION}:123456789012:pipeline/p/execution/abc"
EVALUATION = "s3://artifacts/p/abc/evaluate/evaluation/evaluation.json"
RUN = "0123456789abcdef0123456789abcdef"
SETTINGS = tagging.Settings(GROUP, SERVER)
REGISTERED = event_with(ModelApprovalStatus="PendingManualApproval")


class FakeServer:
    """The tracking server's REST API over one run: answers runs/get and runs/set-tag."""

    def __init__(self, tags: dict[str, str] | None = None, fail: int | None = None) -> None:
        self.tags = dict(tags or {})
        self.fail = fail
        self.requests: list[tuple[str, str, dict[str, str], bytes | None]] = []

    def __call__(
        self, method: str, url: str, headers: Any, body: bytes | None
    ) -> tuple[int, bytes]:
        self.requests.append((method, url, dict(headers), body))
        if self.fail:
            return self.fail, b'{"error_code": "INTERNAL_ERROR"}'
        path = urlsplit(url).path
        if method == "GET" and path == "/api/2.0/mlflow/runs/get":
            assert parse_qs(urlsplit(url).query) == {"run_id": [RUN]}
            tags = [{"key": k, "value": v} for k, v in self.tags.items()]
            return 200, json.dumps(
                {"run": {"info": {"run_id": RUN}, "data": {"tags": tags}}}
            ).encode()
        if method == "POST" and path == "/api/2.0/mlflow/runs/set-tag":
            sent = json.loads(body or b"")
            assert sent["run_id"] == RUN
            self.tags[sent["key"]] = sent["value"]
            return 200, b"{}"
        return 404, b'{"error_code": "ENDPOINT_NOT_FOUND"}'

    def set_tags(self) -> list[str]:
        return [json.loads(b or b"")["key"] for m, _, _, b in self.requests if m == "POST"]


def package(metadata: dict[str, str] | None, evaluation_uri: str | None = EVALUATION) -> dict:
    described: dict[str, Any] = {
        "ModelPackageName": GROUP,
        "ModelPackageGroupName": GROUP,
        "ModelPackageVersion": VERSION,
        "ModelPackageArn": PACKAGE_ARN,
        "CreationTime": datetime(2024, 6, 3, tzinfo=UTC),
        "ModelPackageStatus": "Completed",
        "ModelPackageStatusDetails": {"ValidationStatuses": []},
        "ModelApprovalStatus": "PendingManualApproval",
    }
    if metadata is not None:
        described["CustomerMetadataProperties"] = metadata
    if evaluation_uri:
        described["ModelMetrics"] = {
            "ModelQuality": {
                "Statistics": {"ContentType": "application/json", "S3Uri": evaluation_uri}
            }
        }
    return described


TRACKED = {
    "model_family": "tft",
    tagging.SERVER_KEY: SERVER,
    tagging.EXECUTION_KEY: EXECUTION,
}


def run_lambda(
    described: dict,
    evaluation: dict | None = None,
    server: FakeServer | None = None,
    updates: list[dict] | None = None,
) -> dict:
    sagemaker = boto3.client("sagemaker", region_name=REGION, aws_access_key_id="x",
                             aws_secret_access_key="x")  # fmt: skip
    s3 = boto3.client("s3", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(sagemaker) as sm_stub, Stubber(s3) as s3_stub:
        sm_stub.add_response("describe_model_package", described, {"ModelPackageName": PACKAGE_ARN})
        if evaluation is not None:
            body = json.dumps(evaluation).encode()
            s3_stub.add_response(
                "get_object",
                {"Body": StreamingBody(io.BytesIO(body), len(body))},
                {"Bucket": "artifacts", "Key": EVALUATION.split("artifacts/", 1)[1]},
            )
        for update in updates or []:
            sm_stub.add_response("update_model_package", {"ModelPackageArn": PACKAGE_ARN}, update)
        tracking = TrackingServer(
            SERVER, Credentials("AKID", "SECRET"), send=server or FakeServer()
        )
        result = tagging.handle_event(REGISTERED, SETTINGS, sagemaker, s3, tracking)
        sm_stub.assert_no_pending_responses()
        s3_stub.assert_no_pending_responses()
    return result


LINK = {"ModelPackageArn": PACKAGE_ARN, "CustomerMetadataProperties": {"mlflow_run_id": RUN}}
WANTED = {
    "model_package_arn": PACKAGE_ARN,
    "model_package_group": GROUP,
    "model_package_version": str(VERSION),
    "pipeline_execution_arn": EXECUTION,
}


def test_a_registered_version_tags_its_run_once_and_names_it():
    server = FakeServer(tags={"model_artifact": "s3://m"})
    result = run_lambda(package(TRACKED), {"mlflow": {"run_id": RUN}}, server, [LINK])
    assert result == {"tagged": True, "run_id": RUN, "tags_set": sorted(WANTED), "linked": True}
    assert server.tags == {"model_artifact": "s3://m", **WANTED}
    # the metadata update sends another registration event: nothing left to do then
    again = run_lambda(package({**TRACKED, "mlflow_run_id": RUN}), {"mlflow": {"run_id": RUN}},
                       server)  # fmt: skip
    assert again["tags_set"] == [] and again["linked"] is False
    assert server.set_tags() == sorted(WANTED)  # each tag set once over both events


def test_the_requests_are_signed_for_sagemaker_mlflow_and_name_the_server():
    server = FakeServer()
    run_lambda(package(TRACKED), {"mlflow": {"run_id": RUN}}, server, [LINK])
    for method, url, headers, body in server.requests:
        assert url.startswith(f"https://{REGION}.experiments.sagemaker.aws/api/2.0/mlflow/runs/")
        assert headers["x-mlflow-sm-tracking-server-arn"] == SERVER
        assert f"/{REGION}/sagemaker-mlflow/aws4_request" in headers["Authorization"]
        assert "x-mlflow-sm-tracking-server-arn" in headers["Authorization"]  # signed
        if method == "POST":
            assert headers["Content-Type"] == "application/json" and body
    # every call the Lambda makes has its IAM action (the role is checked against these in
    # tests/infra/test_mlflow_tracking.py)
    called = {
        urlsplit(url).path.removeprefix("/api/2.0/mlflow/") for _, url, _, _ in server.requests
    }
    assert called == set(ACTIONS)


def test_a_version_without_a_run_is_skipped_and_said(caplog):
    caplog.set_level(logging.INFO, logger=tagging.__name__)
    untracked = run_lambda(package({"model_family": "tft"}))
    assert untracked["tagged"] is False
    assert "registered without MLflow tracking" in caplog.text
    server = FakeServer()
    no_run = run_lambda(package(TRACKED), {"regression_metrics": {}}, server)
    assert no_run["tagged"] is False and "names no MLflow run" in no_run["reason"]
    assert server.requests == []


def test_another_group_or_status_is_not_read():
    other = tagging.handle_event(
        event_with(ModelApprovalStatus="Approved"),
        SETTINGS,
        None,
        None,
        None,  # type: ignore[arg-type]
    )
    assert other["tagged"] is False


@pytest.mark.parametrize("status", [403, 404, 500])
def test_a_refused_call_is_an_error_naming_the_call(status):
    with pytest.raises(TrackingServerError, match=f"runs/get on {SERVER}: HTTP {status}"):
        run_lambda(package(TRACKED), {"mlflow": {"run_id": RUN}}, FakeServer(fail=status))


def test_a_run_on_another_server_or_without_metrics_is_an_error():
    elsewhere = {**TRACKED, tagging.SERVER_KEY: SERVER.replace("demand-mlflow", "other")}
    with pytest.raises(tagging.RunTaggingError, match=r"may tag runs on .*demand-mlflow only"):
        run_lambda(package(elsewhere))
    with pytest.raises(tagging.RunTaggingError, match="without ModelMetrics"):
        run_lambda(package(TRACKED, evaluation_uri=None))


@pytest.mark.parametrize(
    "arn",
    ["arn:aws:sagemaker:eu-west-1:123456789012:pipeline/x", "demand-mlflow",
     "arn:aws:sagemaker:eu-west-1:1:mlflow-tracking-server/x"],
)  # fmt: skip
def test_only_a_tracking_server_arn_is_taken(arn):
    with pytest.raises(ConfigError, match="not a SageMaker MLflow tracking server ARN"):
        TrackingServer(arn, Credentials("AKID", "SECRET"))


def test_settings_name_a_missing_variable():
    with pytest.raises(ConfigError, match="TRACKING_SERVER_ARN is not set"):
        tagging.Settings.from_env({"MODEL_PACKAGE_GROUP": GROUP})


def test_the_metadata_keys_are_the_pipelines():
    """The Lambda ships without model_build: the keys are copies, pinned here."""
    definition_metadata = pipeline_tracking.with_tracking(
        [{"Name": "CheckMetric", "Type": "Condition", "Arguments": {"IfSteps": [
            {"Type": "RegisterModel", "Arguments": {"CustomerMetadataProperties": {}}}
        ]}}],
        SERVER,
        "e",
    )[0]["Arguments"]["IfSteps"][0]["Arguments"]["CustomerMetadataProperties"]  # fmt: skip
    assert set(definition_metadata) == {tagging.SERVER_KEY, tagging.EXECUTION_KEY}
