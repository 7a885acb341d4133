"""The SageMaker Pipeline calls the CodeBuild runner makes: upsert, start, and wait for the end.

Each takes its client as an argument, so tests pass moto's or a botocore ``Stubber``'s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from forecasting.s3_uris import split_s3_uri

log = logging.getLogger("forecasting.pipeline")

SUCCEEDED = "Succeeded"
# CompletedWithFailures: an execution that went on past a failed step, which is still a failure
FAILED = frozenset({"Failed", "Stopped", "CompletedWithFailures"})
NOT_FOUND = "ResourceNotFound"  # DescribePipeline's only modelled error
PROJECT_TAG = "project"
DEFAULT_POLL_SECONDS = 30.0
DEFAULT_TIMEOUT_SECONDS = 8 * 3600.0


class PipelineFailed(Exception):
    """An execution ended Failed, Stopped or CompletedWithFailures."""

    def __init__(self, execution_arn: str, status: str, step: str | None, reason: str) -> None:
        self.execution_arn = execution_arn
        self.status = status
        self.step = step
        self.reason = reason
        outcome = "was stopped" if status == "Stopped" else "failed"
        where = f" at step {step}" if step else ""
        super().__init__(f"pipeline execution {execution_arn} {outcome}{where}: {reason}")


def _error_code(err: Exception) -> str | None:
    response = getattr(err, "response", None) or {}
    code: str | None = response.get("Error", {}).get("Code")
    return code


def upsert_pipeline(
    sm: Any,
    *,
    name: str,
    definition: str,
    role_arn: str,
    description: str,
    project: str | None = None,
) -> str:
    """Update the pipeline, or create it when it does not exist; returns its ARN.

    The runner creates the pipeline outside CloudFormation (the definition needs the uploaded
    source), so it tags it here as the stack tags its own resources (``project``).
    """
    from botocore.exceptions import ClientError

    try:
        sm.describe_pipeline(PipelineName=name)
    except ClientError as err:
        if _error_code(err) != NOT_FOUND:
            raise
        response = sm.create_pipeline(
            PipelineName=name,
            PipelineDefinition=definition,
            PipelineDescription=description,
            RoleArn=role_arn,
            Tags=[{"Key": PROJECT_TAG, "Value": project or name}],
        )
        created: str = response["PipelineArn"]
        log.info("created pipeline %s", created)
        return created
    response = sm.update_pipeline(
        PipelineName=name,
        PipelineDefinition=definition,
        PipelineDescription=description,
        RoleArn=role_arn,
    )
    updated: str = response["PipelineArn"]
    log.info("updated pipeline %s", updated)
    return updated


def start_execution(
    sm: Any, *, name: str, parameters: Mapping[str, str], display_name: str | None = None
) -> str:
    """Start an execution with parameter overrides (the rest keep their defaults); its ARN."""
    request: dict[str, Any] = {
        "PipelineName": name,
        "PipelineParameters": [{"Name": k, "Value": str(v)} for k, v in parameters.items()],
    }
    if display_name:
        request["PipelineExecutionDisplayName"] = display_name
    arn: str = sm.start_pipeline_execution(**request)["PipelineExecutionArn"]
    log.info("started execution %s", arn)
    return arn


def has_input_data(s3: Any, uri: str) -> bool:
    """Whether any object lies under the ``s3://bucket/prefix`` the pipeline reads."""
    from botocore.exceptions import ClientError

    bucket, prefix = split_s3_uri(uri)
    try:
        response = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
    except ClientError as err:
        if _error_code(err) != "AccessDenied":
            raise
        # an override outside the data bucket's input/ prefix: the execution will tell
        log.warning("cannot list %s to check for data; starting anyway", uri)
        return True
    return int(response.get("KeyCount", 0)) > 0


def no_input_message(uri: str, pipeline_name: str) -> str:
    return (
        f"no input data under {uri}: pipeline {pipeline_name} is ready but was not started. "
        f"Upload your CSV files (aws s3 cp data.csv {uri}), then start it with "
        f"aws sagemaker start-pipeline-execution --pipeline-name {pipeline_name} "
        "or push to the model-build repository."
    )


def list_execution_steps(sm: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Every step of the execution, oldest first, across all pages."""
    steps: list[dict[str, Any]] = []
    request: dict[str, Any] = {"PipelineExecutionArn": execution_arn, "SortOrder": "Ascending"}
    while True:
        page = sm.list_pipeline_execution_steps(**request)
        steps.extend(page.get("PipelineExecutionSteps", []))
        token = page.get("NextToken")
        if not token:
            return steps
        request["NextToken"] = token


def _job_arn(step: Mapping[str, Any]) -> str | None:
    """The ARN of the job a step ran (training, processing, ...), where its logs are."""
    for value in step.get("Metadata", {}).values():
        if isinstance(value, dict) and "Arn" in value:
            job: str = value["Arn"]
            return job
    return None


def _failure(
    arn: str, execution: Mapping[str, Any], steps: Sequence[Mapping[str, Any]]
) -> PipelineFailed:
    """The first failed (or, for a stopped execution, stopped) step and why."""
    status = execution["PipelineExecutionStatus"]
    wanted = ("Stopped", "Stopping") if status == "Stopped" else ("Failed",)
    culprit = next((s for s in steps if s.get("StepStatus") in wanted), None)
    if culprit is None:
        reason = execution.get("FailureReason") or f"execution status {status}"
        return PipelineFailed(arn, status, None, reason)
    # a job step explains itself in FailureReason, a Fail step in its metadata
    reason = (
        culprit.get("FailureReason")
        or culprit.get("Metadata", {}).get("Fail", {}).get("ErrorMessage")
        or execution.get("FailureReason")
        or f"step status {culprit['StepStatus']}"
    )
    job_arn = _job_arn(culprit)
    if job_arn:
        reason = f"{reason} ({job_arn})"
    return PipelineFailed(arn, status, culprit["StepName"], reason)


def wait_for_execution(
    sm: Any,
    arn: str,
    *,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    echo: Callable[[str], Any] = print,
    sleep: Callable[[float], Any] = time.sleep,
) -> str:
    """Poll until the execution ends, echoing each step's status once per change.

    Returns the final status (``Succeeded``); raises :class:`PipelineFailed` for a failed or
    stopped execution and ``TimeoutError`` when it still runs after ``timeout_seconds`` of
    polling (it keeps running: stopping it is a decision for a person).
    """
    reported: dict[str, str] = {}
    waited = 0.0
    while True:
        # describe first, then list: once the execution has ended, the steps listed are final
        execution = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        status: str = execution["PipelineExecutionStatus"]
        steps = list_execution_steps(sm, arn)
        for step in steps:
            name, step_status = step["StepName"], step["StepStatus"]
            if reported.get(name) != step_status:
                reported[name] = step_status
                echo(f"{name}: {step_status}")
        if status == SUCCEEDED:
            return status
        if status in FAILED:
            raise _failure(arn, execution, steps)
        if waited >= timeout_seconds:
            raise TimeoutError(
                f"pipeline execution {arn} is still {status} after {waited:.0f} s; it keeps "
                "running (stop it with aws sagemaker stop-pipeline-execution)"
            )
        sleep(poll_seconds)
        waited += poll_seconds
