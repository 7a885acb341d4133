"""The batch-transform Lambda: on an approved model package, forecast with it.

EventBridge sends ``SageMaker Model Package State Change`` (the rule keeps this project's group
and ``Approved``; :func:`lambdas.batch_transform.planning.plan_transform` checks both again).
The plan's SageMaker Model and Batch Transform job are created here. Their names depend only on
the package version and the input URI, so a repeated event (EventBridge delivers at least once,
and SageMaker may send several events per change) finds both existing and starts nothing.
A malformed event or a failed AWS call raises, so it shows in the Lambda's metrics and
EventBridge's retries.

A ``Forecast Requested`` event (source ``forecasting.requests``, detail
``ModelPackageGroupName``, ``ModelPackageVersion``, ``RunId``) forecasts again with an approved
version: the job name adds the run id's digest, so a failed transform or new histories get a
new job while the same request, sent twice, still starts one.

Environment (see ``README.md``): ``MODEL_PACKAGE_GROUP``, ``SAGEMAKER_ROLE_ARN``, ``INPUT_URI``,
``FORECASTS_BUCKET``, ``KMS_KEY_ID`` (required), ``TRANSFORM_INSTANCE_TYPE`` (default
``ml.m5.xlarge``), ``PROJECT`` (tag value, default the group).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from lambdas import aws
from lambdas.batch_transform.planning import (
    InvalidEventError,
    Settings,
    Skip,
    TransformPlan,
    is_request,
    parse_request,
    plan_request,
    plan_transform,
)
from lambdas.errors import ConfigError
from lambdas.uris import ArnScope

__all__ = [
    "ConfigError",
    "InvalidEventError",
    "Settings",
    "apply_plan",
    "handle_event",
    "handler",
    "reset_client",
    "sagemaker_client",
]

ALREADY_STARTED = "already running or done"

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)


def sagemaker_client() -> Any:
    """The container's cached SageMaker client (:func:`lambdas.aws.client`)."""
    return aws.client("sagemaker")


def reset_client() -> None:
    """Forget the cached clients (tests create them inside a moto context)."""
    aws.reset_clients()


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point."""
    return handle_event(event, Settings.from_env(os.environ), sagemaker_client())


def handle_event(event: Mapping[str, Any], settings: Settings, client: Any) -> dict[str, Any]:
    """Plan, then start the plan; a skipped event makes no AWS call at all."""
    plan = plan_request_event(event, settings, client) if is_request(event) else None
    plan = plan or plan_transform(event, settings)
    if isinstance(plan, Skip):
        logger.info("Nothing to run: %s", plan.reason)
        return {"started": False, "reason": plan.reason}
    return apply_plan(plan, client)


def plan_request_event(
    event: Mapping[str, Any], settings: Settings, client: Any
) -> TransformPlan | Skip:
    """A re-forecast request: the version's package, as the registry describes it now."""
    request = parse_request(event)
    if request.group != settings.model_package_group:
        return Skip(
            f"model package group {request.group!r} is not {settings.model_package_group!r}"
        )
    role = ArnScope.of(settings.role_arn)  # the Lambda's own partition and account
    account = str(event.get("account") or role.account)
    arn = request.package_arn(ArnScope(role.partition, settings.region, account))
    package = client.describe_model_package(ModelPackageName=arn)
    return plan_request(request, package, settings)


def apply_plan(plan: TransformPlan, client: Any) -> dict[str, Any]:
    """Create the model and the job, treating "already exists" as a repeat of this event."""
    summary = {"model": plan.model_name, "job": plan.job_name, "output": plan.output_path}
    try:
        client.create_model(**plan.create_model)
        logger.info("Created model %s", plan.model_name)
    except ClientError as error:
        if not _model_exists(error):
            raise
        # Same name, same package version: the model a previous delivery created is this one.
        logger.info("Model %s already exists; reusing it", plan.model_name)
    try:
        client.create_transform_job(**plan.create_transform_job)
    except ClientError as error:
        if not _job_exists(error):
            raise
        logger.info("Transform job %s already exists; not starting it again", plan.job_name)
        return {"started": False, "reason": ALREADY_STARTED, **summary}
    logger.info("Started transform job %s, writing to %s", plan.job_name, plan.output_path)
    return {"started": True, **summary}


def _model_exists(error: ClientError) -> bool:
    code, message = _code_and_message(error)
    return code == "ValidationException" and "already existing model" in message


def _job_exists(error: ClientError) -> bool:
    # CreateTransformJob documents ResourceInUse for a taken name; a ValidationException that
    # says the job "already exists" is read the same way rather than failing a repeated event.
    code, message = _code_and_message(error)
    return code == "ResourceInUse" or (
        code == "ValidationException" and "already exists" in message
    )


def _code_and_message(error: ClientError) -> tuple[str, str]:
    details = error.response.get("Error", {})
    return str(details.get("Code", "")), str(details.get("Message", ""))
