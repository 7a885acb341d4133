"""A realistic approval event and settings shared by the batch-transform Lambda's tests."""

from __future__ import annotations

import copy
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
GROUP = "demand-forecasting-tft"
VERSION = 3
PACKAGE_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{GROUP}/{VERSION}"
IMAGE = (
    f"763104351884.dkr.ecr.{REGION}.amazonaws.com/"
    "pytorch-inference:2.3.0-cpu-py311-ubuntu20.04-sagemaker"
)
MODEL_DATA_URL = "s3://demand-forecasting-artifacts/pipelines/abc123/Train/output/model.tar.gz"
ENVIRON = {
    "MODEL_PACKAGE_GROUP": GROUP,
    "SAGEMAKER_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/demand-forecasting-sagemaker",
    "INPUT_URI": "s3://demand-forecasting-data/transform-input/stallion/",
    "FORECASTS_BUCKET": "demand-forecasting-forecasts",
    "KMS_KEY_ID": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "AWS_REGION": REGION,
}

# The shape SageMaker sends (see "Events that Amazon SageMaker AI sends to Amazon EventBridge",
# model package state change): the package description, with CreationTime in epoch ms.
EVENT: dict[str, Any] = {
    "version": "0",
    "id": "c800a495-b000-072c-7392-c683e89c96a8",
    "detail-type": "SageMaker Model Package State Change",
    "source": "aws.sagemaker",
    "account": ACCOUNT,
    "time": "2024-06-03T04:45:23Z",
    "region": REGION,
    "resources": [PACKAGE_ARN],
    "detail": {
        "ModelPackageGroupName": GROUP,
        "ModelPackageVersion": VERSION,
        "ModelPackageArn": PACKAGE_ARN,
        "ModelPackageDescription": "demand-forecasting: gated on val_mase <= threshold",
        "CreationTime": 1717389855225,
        "InferenceSpecification": {
            "Containers": [
                {
                    "Image": IMAGE,
                    "ImageDigest": "sha256:" + "0" * 64,
                    "ModelDataUrl": MODEL_DATA_URL,
                    "Environment": {
                        "SAGEMAKER_PROGRAM": "inference.py",
                        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                        "SAGEMAKER_REGION": REGION,
                    },
                }
            ],
            "SupportedTransformInstanceTypes": ["ml.m5.xlarge"],
            "SupportedContentTypes": ["text/csv", "application/jsonlines"],
            "SupportedResponseMIMETypes": ["text/csv", "application/jsonlines"],
        },
        "ModelPackageStatus": "Completed",
        "ModelPackageStatusDetails": {
            "ValidationStatuses": [],
            "ImageScanStatuses": [],
        },
        "CertifyForMarketplace": False,
        "ModelApprovalStatus": "Approved",
        "ApprovalDescription": "metrics reviewed",
        "CustomerMetadataProperties": {"model_family": "tft"},
        "LastModifiedTime": 1717390123000,
        "CreatedBy": {},
        "LastModifiedBy": {},
    },
}


def event_with(**detail: Any) -> dict[str, Any]:
    """A copy of :data:`EVENT` with these ``detail`` fields replaced."""
    event = copy.deepcopy(EVENT)
    event["detail"].update(detail)
    return event
