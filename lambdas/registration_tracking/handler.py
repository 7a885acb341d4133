"""The run-tagging Lambda: when a version registers, its MLflow run learns which version it became.

EventBridge sends ``SageMaker Model Package State Change`` for this project's group with
``ModelApprovalStatus: PendingManualApproval`` (a registration). A version the pipeline
registered with tracking on names its tracking server in CustomerMetadataProperties
(``mlflow_tracking_server``), and its registered evaluation.json (ModelMetrics) holds the run id
the evaluate step recorded into (``mlflow.run_id``). The Lambda sets the run's tags
``model_package_arn``, ``model_package_group``, ``model_package_version`` and
``pipeline_execution_arn`` (through :mod:`lambdas.registration_tracking.tracking_server`) and
puts ``mlflow_run_id`` into the version's metadata, so each leads to the other.

The run id comes from evaluation.json rather than from a ``Std:JsonGet`` in the RegisterModel
step: neither the SageMaker Python SDK's tests nor AWS's documentation show that expression
resolved in CustomerMetadataProperties, and a missing path there would fail the registration.

Idempotent: the tags already on the run and the metadata already on the version are not set
again, so the state-change event that the metadata update (or the comparison Lambda's) causes
ends after one round. A version registered without tracking, or whose evaluation names no run,
is skipped and logged; a run on another server than this stack's, or a failed call, is an error.

Environment: ``MODEL_PACKAGE_GROUP``, ``TRACKING_SERVER_ARN`` (both required).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import botocore.session

from lambdas import aws
from lambdas.batch_transform.events import PENDING, parse_event
from lambdas.errors import required_env
from lambdas.publish.evaluation import registered_evaluation
from lambdas.registration_tracking.tracking_server import TrackingServer

# CustomerMetadataProperties the pipeline writes (forecasting.pipeline.tracking) and this adds
SERVER_KEY = "mlflow_tracking_server"
EXECUTION_KEY = "pipeline_execution_arn"
RUN_ID_KEY = "mlflow_run_id"

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)


class RunTaggingError(RuntimeError):
    """The version's run cannot be tagged by this Lambda; the message says why."""


@dataclass(frozen=True)
class Settings:
    model_package_group: str
    tracking_server_arn: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        return cls(
            required_env(environ, "MODEL_PACKAGE_GROUP"),
            required_env(environ, "TRACKING_SERVER_ARN"),
        )


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point."""
    settings = Settings.from_env(os.environ)
    server = TrackingServer(
        settings.tracking_server_arn, botocore.session.get_session().get_credentials()
    )
    return handle_event(event, settings, aws.client("sagemaker"), aws.client("s3"), server)


def handle_event(
    event: Mapping[str, Any],
    settings: Settings,
    sagemaker: Any,
    s3: Any,
    server: TrackingServer,
) -> dict[str, Any]:
    package = parse_event(event)
    if package.group != settings.model_package_group or package.approval_status != PENDING:
        return _skipped(f"{package.arn} is {package.approval_status} in {package.group}")
    described = sagemaker.describe_model_package(ModelPackageName=package.arn)
    metadata = dict(described.get("CustomerMetadataProperties") or {})
    server_arn = metadata.get(SERVER_KEY)
    if not server_arn:
        return _skipped(f"{package.arn} was registered without MLflow tracking ({SERVER_KEY})")
    if server_arn != server.arn:
        raise RunTaggingError(
            f"{package.arn}: its run is on tracking server {server_arn}; this stack's Lambda "
            f"may tag runs on {server.arn} only"
        )
    run_id = registered_run_id(s3, package.arn, described)
    if run_id is None:
        return _skipped(f"{package.arn}: its evaluation names no MLflow run (mlflow.run_id)")
    wanted = {
        "model_package_arn": package.arn,
        "model_package_group": package.group,
        "model_package_version": str(package.version),
    }
    if metadata.get(EXECUTION_KEY):
        wanted["pipeline_execution_arn"] = metadata[EXECUTION_KEY]
    present = server.run_tags(run_id)
    missing = {key: value for key, value in wanted.items() if present.get(key) != value}
    for key, value in missing.items():
        server.set_tag(run_id, key, value)
    linked = metadata.get(RUN_ID_KEY) == run_id
    if not linked:
        sagemaker.update_model_package(
            ModelPackageArn=package.arn, CustomerMetadataProperties={RUN_ID_KEY: run_id}
        )
    logger.info(
        "run %s on %s: tags set %s; version metadata %s",
        run_id, server.arn, sorted(missing) or "none (already there)",
        "already linked" if linked else f"now names it ({RUN_ID_KEY})",
    )  # fmt: skip
    return {"tagged": True, "run_id": run_id, "tags_set": sorted(missing), "linked": not linked}


def registered_run_id(s3: Any, arn: str, package: Mapping[str, Any]) -> str | None:
    """``mlflow.run_id`` of the version's registered evaluation.json; None if it names none.
    A tracked version without a readable evaluation is an error."""
    evaluation, _ = registered_evaluation(s3, package, arn)
    if evaluation is None:
        raise RunTaggingError(f"{arn}: registered with MLflow tracking but without ModelMetrics")
    tracking = evaluation.get("mlflow")
    run_id = tracking.get("run_id") if isinstance(tracking, Mapping) else None
    return str(run_id) if run_id else None


def _skipped(reason: str) -> dict[str, Any]:
    logger.info("%s; no MLflow run tagged", reason)
    return {"tagged": False, "reason": reason}
