"""The comparison Lambda: when a version registers, compare it with the approved version.

EventBridge sends ``SageMaker Model Package State Change`` for this project's group with
``ModelApprovalStatus: PendingManualApproval`` (a registration: nothing returns to pending).
The Lambda reads the new version's registered ``evaluation.json`` (whose ``approved`` block
holds the approved model's metrics on the new version's test windows, scored by the pipeline's
Evaluate step) and the latest Approved version's, compares them
(:func:`lambdas.comparison.comparison.compare`: on the same windows where it can, else the
registered evaluations, labelled), writes the
comparison as a page and JSON under ``{FORECASTS_PREFIX}/approvals/{group}/version={N}/``, and
puts the verdict, the worse metrics, each metric and the page's URI into the new package's
CustomerMetadataProperties (``comparison.*``), which the registry shows the approver.

Updating the package's metadata makes SageMaker send another state-change event for it; the
Lambda then computes the same comparison, finds the metadata already there and updates
nothing, so the pair ends after one round.

Environment: ``MODEL_PACKAGE_GROUP``, ``REPORT_BUCKET`` (required), ``FORECASTS_PREFIX``
(default ``forecasts``), ``KMS_KEY_ID`` (optional, SSE-KMS for the reports).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambdas import aws
from lambdas.batch_transform.events import PENDING, parse_event
from lambdas.batch_transform.schedule import latest_approved
from lambdas.comparison.comparison import (
    MAX_METADATA_ENTRIES,
    METADATA_PREFIX,
    Comparison,
    compare,
    report_folder,
)
from lambdas.comparison.page import comparison_page
from lambdas.errors import required_env
from lambdas.publish.evaluation import registered_evaluation

DEFAULT_FORECASTS_PREFIX = "forecasts"

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)


@dataclass(frozen=True)
class Settings:
    model_package_group: str
    report_bucket: str
    forecasts_prefix: str = DEFAULT_FORECASTS_PREFIX
    kms_key_id: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        return cls(
            model_package_group=required_env(environ, "MODEL_PACKAGE_GROUP"),
            report_bucket=required_env(environ, "REPORT_BUCKET"),
            forecasts_prefix=environ.get("FORECASTS_PREFIX", DEFAULT_FORECASTS_PREFIX)
            .strip()
            .strip("/"),
            kms_key_id=environ.get("KMS_KEY_ID", "").strip() or None,
        )


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point."""
    return handle_event(
        event, Settings.from_env(os.environ), aws.client("sagemaker"), aws.client("s3")
    )


def handle_event(
    event: Mapping[str, Any], settings: Settings, sagemaker: Any, s3: Any
) -> dict[str, Any]:
    package = parse_event(event)
    if package.group != settings.model_package_group or package.approval_status != PENDING:
        reason = f"{package.arn} is {package.approval_status} in {package.group}; not compared"
        logger.info(reason)
        return {"compared": False, "reason": reason}
    new = sagemaker.describe_model_package(ModelPackageName=package.arn)
    new_evaluation, _ = registered_evaluation(s3, new, package.arn)
    approved = approved_package(sagemaker, package.group, package.version)
    approved_evaluation = (
        registered_evaluation(s3, approved, approved["ModelPackageArn"])[0] if approved else None
    )
    comparison = compare(
        package.group,
        package.version,
        new_evaluation or {},
        int(approved["ModelPackageVersion"]) if approved else None,
        approved_evaluation,
    )
    if new_evaluation is None:
        note = f"version {package.version} registered no evaluation"
        comparison = dataclasses.replace(comparison, notes=(*comparison.notes, note))
    folder = report_folder(settings.forecasts_prefix, package.group, package.version)
    comparison = dataclasses.replace(
        comparison, report_uri=f"s3://{settings.report_bucket}/{folder}/comparison.html"
    )
    _put(s3, settings, f"{folder}/comparison.html", comparison_page(comparison), "text/html")
    body = json.dumps(comparison.to_dict(), indent=2)
    _put(s3, settings, f"{folder}/comparison.json", body, "application/json")
    updated = record_in_registry(sagemaker, package.arn, new, comparison)
    logger.info("%s (%s)", comparison.verdict(), comparison.report_uri)
    return {"compared": True, "metadata_updated": updated, **comparison.to_dict()}


def approved_package(sagemaker: Any, group: str, new_version: int) -> dict[str, Any] | None:
    """The latest Approved version other than the new one, described; None if there is none."""
    answer = sagemaker.list_model_packages(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        SortBy="CreationTime",
        SortOrder="Descending",
        MaxResults=2,  # the new version itself, should it be approved already, and the one before
    )
    summaries = [
        s
        for s in answer.get("ModelPackageSummaryList", [])
        if s.get("ModelPackageVersion") != new_version
    ]
    summary = latest_approved(summaries)
    if summary is None:
        return None
    described: dict[str, Any] = sagemaker.describe_model_package(
        ModelPackageName=summary["ModelPackageArn"]
    )
    return described


def record_in_registry(
    sagemaker: Any, arn: str, package: Mapping[str, Any], comparison: Comparison
) -> bool:
    """Put the comparison into the package's metadata, unless it is there already."""
    current = dict(package.get("CustomerMetadataProperties") or {})
    others = {k: v for k, v in current.items() if not k.startswith(METADATA_PREFIX)}
    wanted = comparison.metadata(room=MAX_METADATA_ENTRIES - len(others))
    ours = {k: v for k, v in current.items() if k.startswith(METADATA_PREFIX)}
    if ours == wanted:
        logger.info("%s already carries this comparison; not updating it", arn)
        return False
    stale = sorted(set(ours) - set(wanted))
    request: dict[str, Any] = {"ModelPackageArn": arn, "CustomerMetadataProperties": wanted}
    if stale:
        request["CustomerMetadataPropertiesToRemove"] = stale
    sagemaker.update_model_package(**request)
    return True


def _put(s3: Any, settings: Settings, key: str, body: str, content_type: str) -> None:
    extra = (
        {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": settings.kms_key_id}
        if settings.kms_key_id
        else {}
    )
    s3.put_object(
        Bucket=settings.report_bucket,
        Key=key,
        Body=body.encode(),
        ContentType=content_type,
        **extra,
    )
