"""The FindApprovedModel Lambda, invoked by the SageMaker Pipeline's Lambda step.

SageMaker Pipelines invokes the function synchronously with the step's ``Arguments`` as the
event and reads the keys of the returned object that the step's ``OutputParameters`` name (the
SageMaker Python SDK's ``LambdaStep``, src/sagemaker/workflow/lambda_step.py, writes that shape).
The event: ``ModelPackageGroupName`` and ``NoApprovedModelUri`` (``s3://bucket/prefix/``, where
the marker goes when no version is approved). Errors raise: the step, and the execution, fail
with the message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from lambdas import aws
from lambdas.approved_model.finding import (
    approved_model,
    marker_body,
    marker_key,
)
from lambdas.batch_transform.events import APPROVED
from lambdas.batch_transform.schedule import latest_approved
from lambdas.errors import ConfigError
from lambdas.uris import split_s3_uri

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)
# ListModelPackages answers newest first: the latest approved version is on the first page.
PAGE_SIZE = 100


def handler(event: Mapping[str, Any], context: Any) -> dict[str, str]:
    """Lambda entry point."""
    return find_approved_model(event, aws.client("sagemaker"), aws.client("s3"))


def find_approved_model(event: Mapping[str, Any], sagemaker: Any, s3: Any) -> dict[str, str]:
    group = _text(event, "ModelPackageGroupName")
    marker_uri = _text(event, "NoApprovedModelUri")
    bucket, prefix = split_s3_uri(marker_uri, "NoApprovedModelUri", error=ConfigError)
    listing = sagemaker.list_model_packages(
        ModelPackageGroupName=group,
        ModelApprovalStatus=APPROVED,
        SortBy="CreationTime",
        SortOrder="Descending",
        MaxResults=PAGE_SIZE,
    )
    summary = latest_approved(listing.get("ModelPackageSummaryList", []))
    package = (
        sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        if summary
        else None
    )
    found = approved_model(group, package, marker_uri)
    if found.reason is not None:
        # written every time: the same bytes, and the input must exist for this execution
        s3.put_object(
            Bucket=bucket,
            Key=marker_key(prefix),
            Body=marker_body(found.reason),
            ContentType="application/json",
        )
        logger.info("%s (marker %s)", found.reason, marker_uri)
    else:
        logger.info("%s version %s: %s", group, found.version, found.model_data_url)
    return found.outputs()


def _text(event: Mapping[str, Any], name: str) -> str:
    value = event.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"the step's argument {name} is {value!r}; expected a non-empty string")
    return value.strip()
