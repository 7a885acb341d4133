"""Approval in local mode: the cloud's event-driven path, run by an adapter instead of AWS.

Cloud: UpdateModelPackage → EventBridge ``SageMaker Model Package State Change`` → the batch
transform Lambda (``plan_transform`` + CreateModel + CreateTransformJob) → ``SageMaker
Transform Job State Change`` → the publish Lambda (``publish``). Here: the registry's status
change → the same event, built from the registry record → the same ``plan_transform`` with
local settings → :mod:`local_mode.transform` executes the plan's requests unchanged (``s3://``
URIs map to the local buckets) → ``publish`` with ``LocalStore``. Every event is kept in
``<home>/events`` for inspection.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forecasting.errors import ConfigError, ForecastingError
from forecasting.pipeline.definition import step
from lambdas.batch_transform.planning import (
    TRANSFORM_SETTINGS,
    InvalidEventError,
    Settings,
    Skip,
    TransformPlan,
    plan_transform,
)
from lambdas.comparison.comparison import Comparison
from lambdas.comparison.page import comparison_section
from lambdas.publish.publishing import PublishError, PublishResult, publish
from lambdas.publish.report import Image
from lambdas.publish.stores import LocalStore
from local_mode import files
from local_mode.evidence import record_comparison
from local_mode.layout import (
    ACCOUNT,
    FORECASTS_PREFIX,
    REGION,
    Home,
    container_path,
    split_s3_uri,
)
from local_mode.registry import APPROVED, ModelPackage, Registry, StatusChange
from local_mode.transform import (
    COMPLETED,
    JobResult,
    LocalModel,
    TransformError,
    create_model,
    invoke,
    run_transform_job,
)

PACKAGE_EVENT = "SageMaker Model Package State Change"
TRANSFORM_EVENT = "SageMaker Transform Job State Change"
LOCAL_ROLE = f"arn:aws:iam::{ACCOUNT}:role/local-mode"
JSON_LINES_SUFFIXES = (".jsonl", ".jsonlines")
INTERPRETATION_FILE = "interpretation.json"  # the TFT's evaluate step lists its figures there
# What each of pytorch-forecasting's interpretation plots shows, for the report's captions.
INTERPRETATION_CAPTIONS = {
    "attention": "Encoder attention: how much the first forecast step attends to each past "
    "step (summed over the test series)",
    "static_variables": "Variable importance: static variables (per series)",
    "encoder_variables": "Variable importance: encoder variables (the observed past)",
    "decoder_variables": "Variable importance: decoder variables (known in the future)",
}


class ApprovalError(ForecastingError):
    """The approval's transform or publishing failed; the message names the cause."""


@dataclass
class ApprovalOutcome:
    """What an approval (or a scheduled run, which has no status ``change``) did."""

    change: StatusChange | None
    event_path: Path | None = None
    skipped: str | None = None  # plan_transform's reason for doing nothing
    plan: TransformPlan | None = None
    model: LocalModel | None = None
    job: JobResult | None = None
    published: PublishResult | None = None
    publish_store: LocalStore | None = None
    already_published: bool = False
    comparison: Comparison | None = None  # this version against the one approved before it
    package: ModelPackage | None = None  # the version the plan ran


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def package_event(package: ModelPackage, *, event_id: str, at: datetime) -> dict[str, Any]:
    """The EventBridge event SageMaker sends for a package's status, from the registry record.

    Shaped as the cloud sends it: the envelope, then the package description in ``detail``.
    """
    return {
        "version": "0",
        "id": event_id,
        "detail-type": PACKAGE_EVENT,
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [package.arn],
        "detail": {
            "ModelPackageGroupName": package.group,
            "ModelPackageVersion": package.version,
            "ModelPackageArn": package.arn,
            "ModelPackageDescription": package.description,
            "CreationTime": _epoch_ms(package.created_at),
            "InferenceSpecification": package.inference_specification,
            "ModelPackageStatus": "Completed",
            "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
            "CertifyForMarketplace": False,
            "ModelApprovalStatus": package.approval_status,
            "ApprovalDescription": package.approval_description,
            "CustomerMetadataProperties": package.customer_metadata,
            "LastModifiedTime": _epoch_ms(package.updated_at),
            "CreatedBy": {},
            "LastModifiedBy": {},
        },
    }


def transform_event(record: dict[str, Any], *, event_id: str, at: datetime) -> dict[str, Any]:
    """``SageMaker Transform Job State Change`` for a finished local job."""
    detail = {
        key: record[key]
        for key in (
            "TransformJobName",
            "TransformJobStatus",
            "FailureReason",
            "ModelName",
            "TransformInput",
            "TransformOutput",
            "CreationTime",
            "TransformEndTime",
        )
        if key in record
    }
    return {
        "version": "0",
        "id": event_id,
        "detail-type": TRANSFORM_EVENT,
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [],
        "detail": detail,
    }


def local_settings(home: Home, package: ModelPackage) -> Settings:
    """The batch-transform Lambda's settings for a deployment of this package's family."""
    return Settings(
        model_package_group=package.group,
        role_arn=LOCAL_ROLE,
        input_uri=home.input_uri(package.model_family),
        forecasts_bucket=home.forecasts_bucket,
        kms_key_id="local",
        region=REGION,
    )


def save_event(home: Home, event: dict[str, Any], kind: str) -> Path:
    path = home.events / f"{event['time'].replace(':', '')}-{kind}-{event['id'][:8]}.json"
    files.atomic_write_json(path, event)
    return path


def change_status(
    home: Home,
    group: str,
    version: int,
    status: str,
    description: str | None = None,
    say: Callable[[str], None] = print,
) -> ApprovalOutcome:
    """Set the status; then deliver the state-change event as EventBridge would.

    Approving a version that is already Approved changes nothing but sends the event again (a
    redelivery): the deterministic job name makes that resume an unfinished job or publish
    that did not happen, and do nothing more.
    """
    change = Registry(home.registry).set_status(group, version, status, description)
    before, after = change.before, change.after
    name = f"{after.group} version {after.version}"
    outcome = ApprovalOutcome(change)
    if change.changed:
        say(f"{name}: {before.approval_status} -> {after.approval_status}")
    elif status == APPROVED:
        say(f"{name} is already Approved; sending the approval event again")
    else:
        say(f"{name} is already {after.approval_status}; nothing to do")
        return outcome
    if status == APPROVED:
        outcome.comparison = record_comparison(home, after)
        for line in outcome.comparison.lines():
            say(f"evidence: {line}")
        say(f"evidence: {outcome.comparison.report_uri}")
    return deliver(home, outcome, after, say)


def deliver(
    home: Home, outcome: ApprovalOutcome, package: ModelPackage, say: Callable[[str], None]
) -> ApprovalOutcome:
    event = package_event(package, event_id=str(uuid.uuid4()), at=datetime.now(UTC))
    outcome.event_path = save_event(home, event, "model-package")
    say(f"event: {outcome.event_path}")
    try:
        plan = plan_transform(event, local_settings(home, package))
    except InvalidEventError as error:  # a registry record the Lambda would reject
        raise ApprovalError(f"{package.arn}: {error}") from None
    if isinstance(plan, Skip):
        outcome.skipped = plan.reason
        say(f"batch transform: nothing to run ({plan.reason})")
        return outcome
    return execute_plan(home, outcome, package, plan, say)


def execute_plan(
    home: Home,
    outcome: ApprovalOutcome,
    package: ModelPackage,
    plan: TransformPlan,
    say: Callable[[str], None],
) -> ApprovalOutcome:
    """Create the plan's model, run its job and publish it once: the two Lambdas' work."""
    outcome.plan, outcome.package = plan, package
    outcome.model = create_model(home, plan.create_model)
    say(
        f"model {plan.model_name}: {'created' if outcome.model.created else 'exists, reused'} "
        f"({outcome.model.model_dir})"
    )
    source = plan.create_transform_job["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
    say(f"transform job {plan.job_name}: {source} -> {plan.output_path}")
    job = run_transform_job(home, plan.create_transform_job, outcome.model)
    outcome.job = job
    save_event(
        home,
        transform_event(job.record, event_id=str(uuid.uuid4()), at=datetime.now(UTC)),
        "transform-job",
    )
    if job.status != COMPLETED:
        raise ApprovalError(
            f"transform job {plan.job_name} failed: {job.record.get('FailureReason')}; nothing "
            f"was published (job record: {home.sagemaker / 'transform-jobs' / plan.job_name})"
        )
    # The publish Lambda runs once per finished job: a redelivered approval whose job had
    # completed and been published publishes nothing again.
    marker = home.sagemaker / "transform-jobs" / plan.job_name / "published.json"
    outcome.publish_store = LocalStore(home.buckets / home.forecasts_bucket)
    if not job.started and marker.is_file():
        stored = files.read_json(marker)
        outcome.published = PublishResult(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in stored.items()}
        )
        outcome.already_published = True
        return outcome
    appendix = comparison_section(outcome.comparison) if outcome.comparison else ""
    outcome.published = publish_job(home, package, job, outcome.publish_store, appendix)
    files.atomic_write_json(marker, outcome.published.to_dict())
    return outcome


def report_metrics(package: ModelPackage) -> dict[str, Any]:
    """What the HTML report lists beside the evaluation's metrics: where the data came from."""
    data = "SYNTHETIC demo series (not a real data set)" if package.synthetic else package.data_name
    return {"data": data, "model package": package.arn}


def interpretation_images(home: Home, package: ModelPackage) -> list[Image]:
    """The interpretation plots the evaluate step wrote beside evaluation.json (TFT only)."""
    if not package.run_id:
        return []
    folder = container_path(
        home.run_dir(package.run_id), dict(step("Evaluate").outputs)["evaluation"]
    )
    listing = folder / INTERPRETATION_FILE
    if not listing.is_file():
        return []
    images = []
    for name in files.read_json(listing).get("figures", []):
        path = folder / name
        if not path.is_file():
            raise ApprovalError(f"{listing} lists the figure {name}, but {path} is missing")
        kind = Path(name).stem.removeprefix("interpretation_")
        caption = INTERPRETATION_CAPTIONS.get(kind, f"Interpretation: {kind}")
        images.append(Image(name, path.read_bytes(), caption))
    return images


def publish_job(
    home: Home, package: ModelPackage, job: JobResult, store: LocalStore, appendix_html: str = ""
) -> PublishResult:
    """The publish Lambda's work for a completed job, on the local buckets."""
    output_bucket, output_prefix = split_s3_uri(job.record["TransformOutput"]["S3OutputPath"])
    actuals_bucket, actuals_key = split_s3_uri(home.actuals_uri(package.model_family))
    actuals_store = LocalStore(home.buckets / actuals_bucket)
    has_actuals = (actuals_store.root / actuals_key).is_file()
    try:
        result = publish(
            store,
            transform_prefix=output_prefix,
            output_prefix=FORECASTS_PREFIX,
            run=job.record["TransformJobName"],
            actuals_key=actuals_key if has_actuals else None,
            evaluation=package.metrics,
            metrics=report_metrics(package),
            images=interpretation_images(home, package),
            transform_store=LocalStore(home.buckets / output_bucket),
            actuals_store=actuals_store,
            appendix_html=appendix_html,
        )
    except PublishError as error:
        name = job.record["TransformJobName"]
        raise ApprovalError(f"publishing {name} failed: {error}") from None
    return result


def forecast(
    home: Home,
    group: str,
    history: Path,
    version: int | None = None,
    output: Path | None = None,
) -> tuple[ModelPackage, Path]:
    """Forecast ``history`` with an approved version, through the same model and container."""
    registry = Registry(home.registry)
    if version is None:
        approved = [p for p in registry.list(group) if p.approval_status == APPROVED]
        if not approved:
            raise ConfigError(
                f"{group} has no Approved version in {registry.path}; approve one first "
                "(python -m local_mode models, then approve VERSION)"
            )
        package = approved[-1]
    else:
        package = registry.get(group, version)
    if package.approval_status != APPROVED:
        raise ConfigError(
            f"{group} version {package.version} is {package.approval_status}; only approved "
            f"versions forecast (python -m local_mode approve {package.version})"
        )
    if not history.is_file():
        raise ConfigError(f"--history {history}: no such file")
    event = package_event(package, event_id=str(uuid.uuid4()), at=datetime.now(UTC))
    plan = plan_transform(event, local_settings(home, package))
    assert isinstance(plan, TransformPlan)  # approved and of this group: never skipped
    model = create_model(home, plan.create_model)
    target = output or home.forecasts / plan.model_name / f"{history.name}.out"
    kind = "application/jsonlines" if history.suffix in JSON_LINES_SUFFIXES else "text/csv"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    work_dir = home.forecasts / plan.model_name / f".request-{stamp}-{uuid.uuid4().hex[:8]}"
    # The request's container log stays only when it failed: the error names it.
    (result,) = invoke(
        model,
        [(history.resolve(), target.resolve())],
        content_type=kind,
        accept=kind,
        max_payload_mb=int(TRANSFORM_SETTINGS["MaxPayloadInMB"]),
        work_dir=work_dir,
    )
    if not result["ok"]:
        raise TransformError(f"{history}: {result['error']} (container log: {work_dir})")
    shutil.rmtree(work_dir)
    return package, target
