"""Which model the Evaluate step scores beside the new one: the group's latest Approved version.

Pure logic, standard library only: the Lambda (boto3's answers) and local mode (its registry)
pass in what ``ListModelPackages`` and ``DescribeModelPackage`` answered and get the same
outputs. Both choose the version with the scheduled forecast's rule for "latest approved"
(:func:`lambdas.batch_transform.schedule.latest_approved`): one home for it.

The outputs are the Lambda step's ``OutputParameters`` (strings of at most 1024 characters:
SageMaker API reference, ``OutputParameter``). ``ModelDataUrl`` always names existing objects, so
the Evaluate step's ProcessingInput never fails to download: the approved model's
``model.tar.gz``, or, when none is approved, a marker object whose ``reason`` the Evaluate step
records (``forecasting.steps.evaluate.NO_APPROVED_MODEL_FILE``; a test pins the two names).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambdas.batch_transform.events import APPROVED, parse_container

NO_APPROVED_MODEL_FILE = "NO_APPROVED_MODEL.json"
NONE = "none"  # the version, ARN and family outputs when no version is approved
OUTPUTS = ("ModelDataUrl", "ModelPackageVersion", "ModelPackageArn", "ModelFamily")
FAMILY_METADATA = "model_family"  # the Register step's CustomerMetadataProperties key


@dataclass(frozen=True)
class ApprovedModel:
    """The Lambda step's outputs; ``reason`` says why there is no model (``version`` NONE)."""

    model_data_url: str
    version: str = NONE
    arn: str = NONE
    family: str = NONE
    reason: str | None = None

    def outputs(self) -> dict[str, str]:
        return {
            "ModelDataUrl": self.model_data_url,
            "ModelPackageVersion": self.version,
            "ModelPackageArn": self.arn,
            "ModelFamily": self.family,
        }


def marker_key(marker_prefix: str) -> str:
    """The marker object's key under ``marker_prefix`` (a key prefix ending in ``/``)."""
    return f"{marker_prefix.rstrip('/')}/{NO_APPROVED_MODEL_FILE}"


def marker_body(reason: str) -> bytes:
    """The marker's content: always the same bytes for the same reason (idempotent writes)."""
    return (json.dumps({"reason": reason}, sort_keys=True) + "\n").encode()


def approved_model(group: str, package: Mapping[str, Any] | None, marker_uri: str) -> ApprovedModel:
    """The outputs for ``package`` (``DescribeModelPackage``'s answer for the chosen version;
    None: none is approved), with ``marker_uri`` (``s3://bucket/prefix/``) standing in for the
    model when there is none."""
    if package is None:
        return ApprovedModel(
            model_data_url=marker_uri,
            reason=f"no version of {group} is approved yet: nothing to compare with",
        )
    status = package.get("ModelApprovalStatus")
    version = package.get("ModelPackageVersion")
    if status != APPROVED:  # rejected between the listing and the description
        return ApprovedModel(
            model_data_url=marker_uri,
            reason=f"{group} version {version} was {status} when described, not {APPROVED}",
        )
    _, model_data_url = parse_container(package)
    metadata = package.get("CustomerMetadataProperties") or {}
    return ApprovedModel(
        model_data_url=model_data_url,
        version=str(version),
        arn=str(package.get("ModelPackageArn", NONE)),
        family=str(metadata.get(FAMILY_METADATA, NONE)),
    )
