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
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from lambdas.publish.publishing import publish, quicksight_manifest
from lambdas.publish.stores import S3Store

DETAIL_TYPE = "SageMaker Transform Job State Change"
COMPLETED = "Completed"
NOT_PUBLISHED = frozenset({"Failed", "Stopped"})
IN_PROGRESS = frozenset({"InProgress", "Stopping"})  # the rule should filter these out
# The stable manifest reads every partition (``{prefix}/model=...``) and nothing else: reports
# and per-run manifests live under ``{prefix}/reports/`` and ``{prefix}/manifests/``.
PARTITIONS = "model="
SUBJECT_LIMIT = 100  # SNS's limit for an e-mail subject
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
_DATA_SET_ARN = re.compile(
    r"^arn:aws[a-z-]*:quicksight:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"dataset/(?P<id>[\w-]{1,512})$"
)
_NOT_INGESTION_ID = re.compile(r"[^A-Za-z0-9_-]")

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

_s3_client: Any = None
_sns_client: Any = None
_quicksight_clients: dict[str, Any] = {}


class InvalidEventError(ValueError):
    """The event is not a well-formed transform job state change."""


class ConfigurationError(ValueError):
    """A required environment variable is missing or malformed."""


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
            raise ConfigurationError(
                f"environment variable QUICKSIGHT_DATA_SET_ARN is {arn!r}; expected "
                "arn:aws:quicksight:REGION:ACCOUNT:dataset/ID"
            )
        return cls(match["region"], match["account"], match["id"])


@dataclass(frozen=True)
class Settings:
    forecasts_bucket: str
    forecasts_prefix: str = "forecasts"
    actuals_uri: str | None = None
    kms_key_id: str | None = None
    notification_topic_arn: str | None = None
    quicksight_manifest_key: str | None = None
    quicksight_data_set: DataSet | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        bucket = environ.get("FORECASTS_BUCKET", "").strip()
        if not bucket:
            raise ConfigurationError(
                "environment variable FORECASTS_BUCKET is not set; expected the name of the "
                "bucket that receives the published forecasts"
            )
        actuals = environ.get("ACTUALS_URI", "").strip() or None
        if actuals:
            split_s3_uri(
                actuals,
                "environment variable ACTUALS_URI",
                require_key=True,
                error=ConfigurationError,
            )
        topic = environ.get("NOTIFICATION_TOPIC_ARN", "").strip() or None
        if topic and not _TOPIC_ARN.match(topic):
            raise ConfigurationError(
                f"environment variable NOTIFICATION_TOPIC_ARN is {topic!r}; expected an SNS "
                "topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
            )
        manifest_key = environ.get("QUICKSIGHT_MANIFEST_KEY", "").strip().strip("/") or None
        if manifest_key and not manifest_key.endswith(".json"):
            # QuickSight reads a manifest in its own format only from a .json key.
            raise ConfigurationError(
                f"environment variable QUICKSIGHT_MANIFEST_KEY is {manifest_key!r}; expected a "
                "key ending in .json"
            )
        data_set_arn = environ.get("QUICKSIGHT_DATA_SET_ARN", "").strip()
        return cls(
            forecasts_bucket=bucket,
            forecasts_prefix=environ.get("FORECASTS_PREFIX", "forecasts").strip().strip("/"),
            actuals_uri=actuals,
            kms_key_id=environ.get("KMS_KEY_ID", "").strip() or None,
            notification_topic_arn=topic,
            quicksight_manifest_key=manifest_key,
            quicksight_data_set=DataSet.from_arn(data_set_arn) if data_set_arn else None,
        )


@dataclass(frozen=True)
class TransformJobEvent:
    name: str
    status: str
    output_path: str
    failure_reason: str | None


def s3_client() -> Any:
    """One client per container, created on first use and reused by later invocations."""
    global _s3_client
    if _s3_client is None:
        _s3_client = boto3.client(
            "s3", config=Config(retries={"max_attempts": 5, "mode": "standard"})
        )
    return _s3_client


def sns_client() -> Any:
    """Created only when a failure is reported, then reused like the S3 client."""
    global _sns_client
    if _sns_client is None:
        _sns_client = boto3.client(
            "sns", config=Config(retries={"max_attempts": 5, "mode": "standard"})
        )
    return _sns_client


def quicksight_client(region: str) -> Any:
    """A client in the data set's region (QuickSight resources are regional)."""
    if region not in _quicksight_clients:
        _quicksight_clients[region] = boto3.client(
            "quicksight",
            region_name=region,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}),
        )
    return _quicksight_clients[region]


def reset_client() -> None:
    """Forget the cached clients (tests create them inside a moto context)."""
    global _s3_client, _sns_client
    _s3_client = None
    _sns_client = None
    _quicksight_clients.clear()


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point."""
    return handle_event(event, Settings.from_env(os.environ), s3_client())


def handle_event(
    event: Mapping[str, Any],
    settings: Settings,
    client: Any,
    *,
    sns: Any = None,
    quicksight: Any = None,
) -> dict[str, Any]:
    """Publish a completed job's outputs; report (and write nothing for) any other status.

    ``sns`` and ``quicksight`` default to cached clients, created only when the settings ask
    for a notification or a refresh.
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
                    sns or sns_client(), settings.notification_topic_arn, job
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
            settings.actuals_uri, "ACTUALS_URI", require_key=True, error=ConfigurationError
        )
        actuals_store = S3Store(client, actuals_bucket)
        # The stack points ACTUALS_URI at a fixed key before anyone has uploaded actuals.
        if actuals_key not in actuals_store.list(actuals_key):
            logger.info("No actuals at %s yet; publishing without them", settings.actuals_uri)
            actuals_store, actuals_key = None, None
    result = publish(
        store,
        transform_prefix=source_prefix,
        output_prefix=settings.forecasts_prefix,
        run=job.name,
        actuals_key=actuals_key,
        transform_store=transform_store,
        actuals_store=actuals_store,
    )
    logger.info(
        "Published %d rows of %d series from %s: %s",
        result.rows,
        result.series,
        job.output_path,
        ", ".join(result.manifest_uris),
    )
    published = {"published": True, "job": job.name, "status": job.status, **result.to_dict()}
    published["actuals_uri"] = settings.actuals_uri if actuals_key else None
    if settings.quicksight_manifest_key:
        published["data_set_manifest_uri"] = write_data_set_manifest(
            store, settings.quicksight_manifest_key, settings.forecasts_prefix
        )
    if settings.quicksight_data_set:
        data_set = settings.quicksight_data_set
        published["ingestion_id"] = refresh_data_set(
            quicksight or quicksight_client(data_set.region), data_set, job.name
        )
    return published


def data_set_manifest(store: S3Store, forecasts_prefix: str) -> dict[str, Any]:
    """A QuickSight manifest over every published partition, past and future.

    Per-run manifests change key with each run; a data set needs one key that never changes.
    The prefix ends in ``model=`` so it reads the partitions' ``forecasts.csv`` and never the
    reports or manifests beside them.
    """
    partitions = "/".join(part for part in (forecasts_prefix, PARTITIONS) if part)
    return quicksight_manifest([store.uri(partitions)])


def write_data_set_manifest(store: S3Store, key: str, forecasts_prefix: str) -> str:
    """(Re)write the stable manifest after the run's own files, so it never points ahead."""
    body = json.dumps(data_set_manifest(store, forecasts_prefix), indent=2).encode()
    store.write(key, body, "application/json")
    return store.uri(key)


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
    return TransformJobEvent(
        name=name,
        status=status,
        output_path=output_path,
        failure_reason=str(reason) if reason else None,
    )


def split_s3_uri(
    uri: str,
    what: str,
    *,
    require_key: bool = False,
    error: type[ValueError] = InvalidEventError,
) -> tuple[str, str]:
    """``s3://bucket/key`` → (bucket, key); ``what`` names the setting in the message."""
    scheme, _, rest = uri.partition("://")
    bucket, _, key = rest.partition("/")
    if scheme != "s3" or not bucket or (require_key and not key.strip("/")):
        expected = "s3://bucket/key" if require_key else "s3://bucket/prefix"
        raise error(f"{what} is {uri!r}; expected {expected}")
    return bucket, key


def _text_field(parent: Mapping[str, Any], name: str, path: str = "detail.") -> str:
    value = parent.get(name)
    if not isinstance(value, str) or not value.strip():
        found = "missing" if value is None else f"{value!r}"
        raise InvalidEventError(
            f"event field '{path}{name}' is {found}; expected a non-empty string"
        )
    return value.strip()
