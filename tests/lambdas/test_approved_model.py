"""The FindApprovedModel Lambda: the rule, and the handler against moto's registry and S3."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from lambdas.approved_model import handler as approved_handler
from lambdas.approved_model.finding import NO_APPROVED_MODEL_FILE, approved_model
from lambdas.errors import ConfigError
from tests.lambdas.batch_transform_events import IMAGE, MODEL_DATA_URL, REGION

GROUP = "demand-forecasting"
BUCKET = "demand-forecasting-artifacts"
MARKER_URI = f"s3://{BUCKET}/demand-forecasting/no-approved-model/"
EVENT = {"ModelPackageGroupName": GROUP, "NoApprovedModelUri": MARKER_URI}


@pytest.fixture
def aws(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        approved_handler.aws.reset_clients()
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        yield sagemaker, s3
        approved_handler.aws.reset_clients()


def _register(sagemaker, status: str, family: str = "informer") -> str:
    arn: str = sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": MODEL_DATA_URL.replace(
                "model.tar.gz", f"{status}-{family}/model.tar.gz")}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        ModelApprovalStatus=status,
        CustomerMetadataProperties={"model_family": family},
    )["ModelPackageArn"]  # fmt: skip
    return arn


def test_none_approved_points_at_a_marker_that_exists(aws):
    sagemaker, s3 = aws
    _register(sagemaker, "PendingManualApproval")
    _register(sagemaker, "Rejected")
    outputs = approved_handler.handler(EVENT, None)
    assert outputs == {"ModelDataUrl": MARKER_URI, "ModelPackageVersion": "none",
                       "ModelPackageArn": "none", "ModelFamily": "none"}  # fmt: skip
    key = f"demand-forecasting/no-approved-model/{NO_APPROVED_MODEL_FILE}"
    marker = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert marker == {"reason": f"no version of {GROUP} is approved yet: nothing to compare with"}
    # idempotent: a second execution writes the same object again
    assert approved_handler.handler(EVENT, None) == outputs
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 1


def test_the_latest_approved_version_is_chosen_and_rejected_ones_ignored(aws):
    sagemaker, s3 = aws
    _register(sagemaker, "Approved", "tft")
    second = _register(sagemaker, "Approved")
    _register(sagemaker, "Rejected")  # newer, but rejected
    _register(sagemaker, "PendingManualApproval")
    outputs = approved_handler.handler(EVENT, None)
    described = sagemaker.describe_model_package(ModelPackageName=second)
    assert outputs == {
        "ModelDataUrl": described["InferenceSpecification"]["Containers"][0]["ModelDataUrl"],
        "ModelPackageVersion": "2",
        "ModelPackageArn": second,
        "ModelFamily": "informer",
    }
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0  # no marker when one is approved
    # each output fits SageMaker's OutputParameter (Value: at most 1024 characters)
    assert all(0 < len(value) <= 1024 for value in outputs.values())


def test_a_version_rejected_after_the_listing_is_no_reference():
    found = approved_model(GROUP, {"ModelApprovalStatus": "Rejected", "ModelPackageVersion": 4},
                           MARKER_URI)  # fmt: skip
    assert found.model_data_url == MARKER_URI and "version 4 was Rejected" in str(found.reason)


@pytest.mark.parametrize("event", [{}, {"ModelPackageGroupName": GROUP},
                                   {**EVENT, "NoApprovedModelUri": "bucket/prefix"}])  # fmt: skip
def test_a_malformed_step_argument_is_named(event):
    with pytest.raises(ConfigError, match=r"NoApprovedModelUri|ModelPackageGroupName"):
        approved_handler.find_approved_model(event, None, None)
