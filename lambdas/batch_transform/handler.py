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

A ``Forecast Scheduled`` event (the forecast schedule, source ``forecasting.schedule``) forecasts
the current input with the group's latest Approved version
(:mod:`lambdas.batch_transform.schedule`): one job per version and input content, so a run with
nothing new starts nothing and says so in its log and result. S3's ``Object Created`` under the
input prefix (re)sets a one-time schedule that sends that event once uploads have been quiet
for ``FORECAST_ON_NEW_DATA_MINUTES`` (:mod:`lambdas.batch_transform.debounce`).

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
from lambdas.batch_transform.debounce import Debounce, is_new_input, plan_debounce
from lambdas.batch_transform.events import (
    InvalidEventError,
    is_request,
    is_scheduled,
    parse_request,
    parse_scheduled,
)
from lambdas.batch_transform.planning import (
    Settings,
    Skip,
    TransformPlan,
    plan_request,
    plan_transform,
)
from lambdas.batch_transform.schedule import (
    InputObject,
    latest_approved,
    nothing_new,
    plan_scheduled,
)
from lambdas.errors import ConfigError
from lambdas.uris import ArnScope, split_s3_uri

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
    settings = Settings.from_env(os.environ)
    if is_new_input(event):
        function_arn = str(getattr(context, "invoked_function_arn", ""))
        debounce = Debounce.from_env(os.environ, function_arn)
        return debounce_new_input(event, settings, debounce, aws.client("scheduler"))
    return handle_event(event, settings, sagemaker_client())


def debounce_new_input(
    event: Mapping[str, Any], settings: Settings, debounce: Debounce | None, scheduler: Any
) -> dict[str, Any]:
    """(Re)set the one-time schedule that forecasts once the uploads are quiet."""
    if debounce is None:
        reason = "new input, but FORECAST_ON_NEW_DATA_MINUTES is not set: not scheduling"
        logger.info(reason)
        return {"started": False, "reason": reason}
    request = plan_debounce(event, settings, debounce)
    if isinstance(request, Skip):
        logger.info("Nothing to schedule: %s", request.reason)
        return {"started": False, "reason": request.reason}
    try:
        scheduler.update_schedule(**request)  # pushes a pending run later
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        try:
            scheduler.create_schedule(**request)
        except ClientError as clash:  # another upload's invocation created it meanwhile
            if clash.response.get("Error", {}).get("Code") != "ConflictException":
                raise
            scheduler.update_schedule(**request)
    reason = f"new input: forecast scheduled {request['ScheduleExpression']} UTC"
    logger.info("%s (schedule %s)", reason, request["Name"])
    return {"started": False, "reason": reason, "schedule": request["Name"]}


def handle_event(
    event: Mapping[str, Any], settings: Settings, client: Any, *, s3: Any = None
) -> dict[str, Any]:
    """Plan, then start the plan; a skipped approval makes no AWS call at all.

    ``s3`` (default: the cached client) lists the input of a scheduled run."""
    if is_scheduled(event):
        plan = plan_scheduled_event(event, settings, client, s3 or aws.client("s3"))
    elif is_request(event):
        plan = plan_request_event(event, settings, client)
    else:
        plan = plan_transform(event, settings)
    if isinstance(plan, Skip):
        logger.info("Nothing to run: %s", plan.reason)
        return {"started": False, "reason": plan.reason}
    result = apply_plan(plan, client)
    if is_scheduled(event) and not result["started"]:
        job = client.describe_transform_job(TransformJobName=plan.job_name)
        result["reason"] = nothing_new(plan, str(job["TransformJobStatus"]))
        logger.warning("Scheduled run: %s", result["reason"])
    return result


def plan_scheduled_event(
    event: Mapping[str, Any], settings: Settings, client: Any, s3: Any
) -> TransformPlan | Skip:
    """A scheduled run: the latest approved version (if any) over what the input holds now."""
    run = parse_scheduled(event)
    if run.group != settings.model_package_group:
        return plan_scheduled(run, None, (), settings)
    answer = client.list_model_packages(
        ModelPackageGroupName=settings.model_package_group,
        ModelApprovalStatus="Approved",
        SortBy="CreationTime",
        SortOrder="Descending",
        MaxResults=1,  # versions are numbered in creation order: the newest is the highest
    )
    summary = latest_approved(answer.get("ModelPackageSummaryList", []))
    package = None
    if summary is not None:
        package = client.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
    return plan_scheduled(run, package, list_input(s3, settings.input_uri), settings)


def list_input(s3: Any, input_uri: str) -> list[InputObject]:
    """Every object under the input prefix (what the transform job reads), key, size, ETag."""
    bucket, prefix = split_s3_uri(input_uri, "INPUT_URI", error=ConfigError)
    objects = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            objects.append(InputObject(str(item["Key"]), int(item["Size"]), str(item["ETag"])))
    return objects


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
