"""The publish Lambda: on a finished Batch Transform job, publish its forecasts.

EventBridge sends ``SageMaker Transform Job State Change``. A ``Completed`` job's ``*.out``
files are published into ``FORECASTS_BUCKET`` (see :func:`lambdas.publish.publishing.publish`);
a ``Failed`` or ``Stopped`` job is logged, reported to the notification topic (when one is
set) and nothing is written. A malformed event or bad forecast data raises, so the failure shows
in the Lambda's metrics, retries and on-failure destination instead of vanishing into a log line.

After a publish the Lambda can also rewrite one stable QuickSight manifest over every published
partition (a data set needs a manifest whose key never changes) and start a SPICE refresh of the
data set built on it.

Environment:

* ``FORECASTS_BUCKET`` (required): where the published data set goes.
* ``FORECASTS_PREFIX`` (default ``forecasts``): key prefix inside that bucket.
* ``ACTUALS_URI`` (optional): ``s3://bucket/key`` of a long CSV
  ``series_id,target,timestamp,value`` joined onto the forecasts; until that object exists the
  forecasts are published without actuals (logged, and ``actuals_uri`` is null in the result).
* ``KMS_KEY_ID`` (optional): KMS key for SSE-KMS on every object written.
* ``NOTIFICATION_TOPIC_ARN`` (optional): SNS topic told about failed or stopped jobs.
* ``QUICKSIGHT_MANIFEST_KEY`` (optional): key (``.json``) of the stable manifest over all runs.
* ``QUICKSIGHT_DATA_SET_ARN`` (optional): SPICE data set refreshed after each publish.
* ``MODEL_PACKAGE_GROUP`` (optional): the group whose versions the batch-transform Lambda runs;
  a job of one of its versions is published with that version's registered ``evaluation.json``
  (metrics in the report, the synthetic-data flag), read from the model registry.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from lambdas import aws, uris
from lambdas.errors import ConfigError
from lambdas.publish import data_set, evaluation
from lambdas.publish.keys import quicksight_manifest
from lambdas.publish.publishing import publish
from lambdas.publish.stores import S3Store

DETAIL_TYPE = "SageMaker Transform Job State Change"
DEFAULT_FORECASTS_PREFIX = "forecasts"  # the stack and local mode use it too (a test pins it)
COMPLETED = "Completed"
NOT_PUBLISHED = frozenset({"Failed", "Stopped"})
IN_PROGRESS = frozenset({"InProgress", "Stopping"})  # the rule should filter these out
SUBJECT_LIMIT = 100  # SNS's limit for an e-mail subject
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
_DATA_SET_ARN = re.compile(
    r"^arn:aws[a-z-]*:quicksight:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"dataset/(?P<id>[\w-]{1,512})$"
)
_NOT_INGESTION_ID = re.compile(r"[^A-Za-z0-9_-]")

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)


class InvalidEventError(ValueError):
    """The event is not a well-formed transform job state change."""


@dataclass(frozen=True)
class DataSet:
    """Where a SPICE data set lives: CreateIngestion takes the account and id, not the ARN."""

    region: str
    account_id: str
    data_set_id: str

    @classmethod
    def from_arn(cls, arn: str) -> DataSet:
        match = _DATA_SET_ARN.match(arn)
        if not match:
            raise ConfigError(
                f"environment variable QUICKSIGHT_DATA_SET_ARN is {arn!r}; expected "
                "arn:aws:quicksight:REGION:ACCOUNT:dataset/ID"
            )
        return cls(match["region"], match["account"], match["id"])


@dataclass(frozen=True)
class Settings:
    forecasts_bucket: str
    forecasts_prefix: str = DEFAULT_FORECASTS_PREFIX
    actuals_uri: str | None = None
    kms_key_id: str | None = None
    notification_topic_arn: str | None = None
    quicksight_manifest_key: str | None = None
    quicksight_data_set: DataSet | None = None
    model_package_group: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        bucket = environ.get("FORECASTS_BUCKET", "").strip()
        if not bucket:
            raise ConfigError(
                "environment variable FORECASTS_BUCKET is not set; expected the name of the "
                "bucket that receives the published forecasts"
            )
        actuals = environ.get("ACTUALS_URI", "").strip() or None
        if actuals:
            split_s3_uri(
                actuals,
                "environment variable ACTUALS_URI",
                require_key=True,
                error=ConfigError,
            )
        topic = environ.get("NOTIFICATION_TOPIC_ARN", "").strip() or None
        if topic and not _TOPIC_ARN.match(topic):
            raise ConfigError(
                f"environment variable NOTIFICATION_TOPIC_ARN is {topic!r}; expected an SNS "
                "topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
            )
        manifest_key = environ.get("QUICKSIGHT_MANIFEST_KEY", "").strip().strip("/") or None
        if manifest_key and not manifest_key.endswith(".json"):
            # QuickSight reads a manifest in its own format only from a .json key.
            raise ConfigError(
                f"environment variable QUICKSIGHT_MANIFEST_KEY is {manifest_key!r}; expected a "
                "key ending in .json"
            )
        data_set_arn = environ.get("QUICKSIGHT_DATA_SET_ARN", "").strip()
        return cls(
            forecasts_bucket=bucket,
            forecasts_prefix=environ.get("FORECASTS_PREFIX", DEFAULT_FORECASTS_PREFIX)
            .strip()
            .strip("/"),
            actuals_uri=actuals,
            kms_key_id=environ.get("KMS_KEY_ID", "").strip() or None,
            notification_topic_arn=topic,
            quicksight_manifest_key=manifest_key,
            quicksight_data_set=DataSet.from_arn(data_set_arn) if data_set_arn else None,
            model_package_group=environ.get("MODEL_PACKAGE_GROUP", "").strip() or None,
        )


@dataclass(frozen=True)
class TransformJobEvent:
    name: str
    status: str
    output_path: str
    failure_reason: str | None
    model_name: str | None = None
    job_arn: str | None = None


def reset_client() -> None:
    """Forget the cached clients (tests create them inside a moto context)."""
    aws.reset_clients()


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point."""
    return handle_event(event, Settings.from_env(os.environ), aws.client("s3"))


def handle_event(
    event: Mapping[str, Any],
    settings: Settings,
    client: Any,
    *,
    sns: Any = None,
    quicksight: Any = None,
    sagemaker: Any = None,
) -> dict[str, Any]:
    """Publish a completed job's outputs; report (and write nothing for) any other status.

    ``sns``, ``quicksight`` and ``sagemaker`` default to cached clients, created only when the
    settings ask for a notification, a refresh or the registered evaluation.
    """
    job = parse_event(event)
    if job.status != COMPLETED:
        result: dict[str, Any] = {
            "published": False,
            "job": job.name,
            "status": job.status,
            "reason": job.failure_reason,
        }
        if job.status in NOT_PUBLISHED:
            logger.warning(
                "Transform job %s %s: %s; nothing published",
                job.name,
                job.status.lower(),
                job.failure_reason or "no failure reason given",
            )
            if settings.notification_topic_arn:
                result["notification_id"] = notify_failure(
                    sns or aws.client("sns"), settings.notification_topic_arn, job
                )
        else:
            logger.info("Transform job %s is %s; nothing to publish yet", job.name, job.status)
        return result

    source_bucket, source_prefix = split_s3_uri(
        job.output_path, "event field 'detail.TransformOutput.S3OutputPath'"
    )
    store = S3Store(client, settings.forecasts_bucket, settings.kms_key_id)
    transform_store = S3Store(client, source_bucket)
    actuals_store, actuals_key = None, None
    if settings.actuals_uri:
        actuals_bucket, actuals_key = split_s3_uri(
            settings.actuals_uri, "ACTUALS_URI", require_key=True, error=ConfigError
        )
        actuals_store = S3Store(client, actuals_bucket)
        # The stack points ACTUALS_URI at a fixed key before anyone has uploaded actuals.
        if actuals_key not in actuals_store.list(actuals_key):
            logger.info("No actuals at %s yet; publishing without them", settings.actuals_uri)
            actuals_store, actuals_key = None, None
    registered, evaluation_uri = registered_evaluation(job, settings, client, sagemaker)
    outcome = publish(
        store,
        transform_prefix=source_prefix,
        output_prefix=settings.forecasts_prefix,
        run=job.name,
        actuals_key=actuals_key,
        evaluation=registered,
        transform_store=transform_store,
        actuals_store=actuals_store,
    )
    logger.info(
        "Published %d rows of %d series from %s: %s",
        outcome.rows,
        outcome.series,
        job.output_path,
        ", ".join(outcome.manifest_uris),
    )
    published = {"published": True, "job": job.name, "status": job.status, **outcome.to_dict()}
    published["actuals_uri"] = settings.actuals_uri if actuals_key else None
    published["evaluation_uri"] = evaluation_uri
    if settings.quicksight_manifest_key:
        published |= write_data_set_manifest(
            store, settings.quicksight_manifest_key, settings.forecasts_prefix
        )
    if settings.quicksight_data_set:
        data_set = settings.quicksight_data_set
        published["ingestion_id"] = refresh_data_set(
            quicksight or aws.client("quicksight", data_set.region), data_set, job.name
        )
    return published


def registered_evaluation(
    job: TransformJobEvent, settings: Settings, s3: Any, sagemaker: Any = None
) -> tuple[dict[str, Any] | None, str | None]:
    """(evaluation.json, its URI) of the package version the job ran; (None, None), logged,
    for a job of no version of ``MODEL_PACKAGE_GROUP`` or a version that registered none."""
    group = settings.model_package_group
    version = (
        evaluation.package_version(job.model_name, group) if group and job.model_name else None
    )
    if group is None or version is None:
        logger.info(
            "Job %s ran model %s, no version of %s: no metrics", job.name, job.model_name, group
        )
        return None, None
    if not job.job_arn:
        raise InvalidEventError("event field 'detail.TransformJobArn' is missing")
    try:
        arn = uris.ArnScope.of(job.job_arn).model_package_arn(group, version)
    except ValueError as error:
        raise InvalidEventError(f"event field 'detail.TransformJobArn': {error}") from None
    found, uri = evaluation.read_evaluation(sagemaker or aws.client("sagemaker"), s3, arn)
    if uri is None:
        logger.info("%s registered no evaluation; publishing without metrics", arn)
    return found, uri


def write_data_set_manifest(store: S3Store, key: str, forecasts_prefix: str) -> dict[str, Any]:
    """(Re)write the stable manifest after the run's own files, so it never points ahead:
    one folder prefix per model version, within QuickSight's file limit (:mod:`data_set`)."""
    partitions = "/".join(part for part in (forecasts_prefix, data_set.PARTITIONS) if part)
    folders = data_set.version_folders(store.list(partitions), forecasts_prefix)
    if folders.left_out:
        logger.warning(
            "The data set manifest leaves out %s: with them QuickSight would import more than "
            "%d files",
            ", ".join(folders.left_out),
            data_set.MANIFEST_FILE_LIMIT,
        )
    manifest = quicksight_manifest([store.uri(folder) for folder in folders.kept])
    store.write(key, json.dumps(manifest, indent=2).encode(), "application/json")
    return {
        "data_set_manifest_uri": store.uri(key),
        "data_set_files": folders.files,
        "data_set_left_out": [store.uri(folder) for folder in folders.left_out],
    }


def notify_failure(sns: Any, topic_arn: str, job: TransformJobEvent) -> str:
    """Tell the topic's subscribers a job failed; returns the SNS message id."""
    subject = f"Batch Transform job {job.status.lower()}: {job.name}"[:SUBJECT_LIMIT]
    message = "\n".join(
        (
            f"Transform job {job.name} ended {job.status}; no forecasts were published.",
            f"Reason: {job.failure_reason or 'no failure reason given'}",
            f"Output path: {job.output_path}",
        )
    )
    response = sns.publish(TopicArn=topic_arn, Subject=subject, Message=message)
    message_id = str(response["MessageId"])
    logger.info("Reported %s job %s to %s (%s)", job.status, job.name, topic_arn, message_id)
    return message_id


def ingestion_id(run: str) -> str:
    """One SPICE refresh per published run: a repeated event asks for the same ingestion."""
    return ("publish-" + _NOT_INGESTION_ID.sub("-", run))[:128]


def refresh_data_set(quicksight: Any, data_set: DataSet, run: str) -> str:
    """Start a full SPICE refresh; an ingestion that already exists is this run's, so reuse it."""
    ingestion = ingestion_id(run)
    try:
        quicksight.create_ingestion(
            AwsAccountId=data_set.account_id,
            DataSetId=data_set.data_set_id,
            IngestionId=ingestion,
            IngestionType="FULL_REFRESH",
        )
        logger.info("Started SPICE refresh %s of %s", ingestion, data_set.data_set_id)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceExistsException":
            raise
        logger.info("SPICE refresh %s already requested; not starting it again", ingestion)
    return ingestion


def parse_event(event: Any) -> TransformJobEvent:
    """Check the fields the Lambda relies on, naming the first one missing or invalid."""
    if not isinstance(event, Mapping):
        raise InvalidEventError(
            f"event is a {type(event).__name__}; expected an EventBridge event object"
        )
    detail_type = event.get("detail-type")
    if detail_type != DETAIL_TYPE:
        raise InvalidEventError(
            f"event field 'detail-type' is {detail_type!r}; expected {DETAIL_TYPE!r}"
        )
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise InvalidEventError("event field 'detail' is missing or not an object")
    name = _text_field(detail, "TransformJobName")
    status = _text_field(detail, "TransformJobStatus")
    known = {COMPLETED, *NOT_PUBLISHED, *IN_PROGRESS}
    if status not in known:
        raise InvalidEventError(
            f"event field 'detail.TransformJobStatus' is {status!r}; expected one of "
            f"{', '.join(sorted(known))}"
        )
    output = detail.get("TransformOutput")
    if not isinstance(output, Mapping):
        raise InvalidEventError(
            "event field 'detail.TransformOutput' is missing or not an object; expected "
            "{'S3OutputPath': 's3://...'}"
        )
    output_path = _text_field(output, "S3OutputPath", "detail.TransformOutput.")
    split_s3_uri(output_path, "event field 'detail.TransformOutput.S3OutputPath'")
    reason = detail.get("FailureReason")
    model_name, job_arn = detail.get("ModelName"), detail.get("TransformJobArn")
    return TransformJobEvent(
        name=name,
        status=status,
        output_path=output_path,
        failure_reason=str(reason) if reason else None,
        model_name=str(model_name) if model_name else None,
        job_arn=str(job_arn) if job_arn else None,
    )


def split_s3_uri(
    uri: str,
    what: str,
    *,
    require_key: bool = False,
    error: type[ValueError] = InvalidEventError,
) -> tuple[str, str]:
    """:func:`lambdas.uris.split_s3_uri`, raising :class:`InvalidEventError` by default."""
    return uris.split_s3_uri(uri, what, require_key=require_key, error=error)


def _text_field(parent: Mapping[str, Any], name: str, path: str = "detail.") -> str:
    value = parent.get(name)
    if not isinstance(value, str) or not value.strip():
        found = "missing" if value is None else f"{value!r}"
        raise InvalidEventError(
            f"event field '{path}{name}' is {found}; expected a non-empty string"
        )
    return value.strip()
