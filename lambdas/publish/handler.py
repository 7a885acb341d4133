"""The publish Lambda: on a finished Batch Transform job, publish its forecasts.

EventBridge sends ``SageMaker Transform Job State Change``. A ``Completed`` job's ``*.out``
files are published into ``FORECASTS_BUCKET`` (see :func:`lambdas.publish.publishing.publish`);
a ``Failed`` or ``Stopped`` job is logged and nothing is written. A malformed event or bad
forecast data raises, so the failure shows in the Lambda's metrics and EventBridge's retries
instead of vanishing into a log line.

Environment:

* ``FORECASTS_BUCKET`` (required): where the published data set goes.
* ``FORECASTS_PREFIX`` (default ``forecasts``): key prefix inside that bucket.
* ``ACTUALS_URI`` (optional): ``s3://bucket/key`` of a long CSV
  ``series_id,target,timestamp,value`` joined onto the forecasts.
* ``KMS_KEY_ID`` (optional): KMS key for SSE-KMS on every object written.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from lambdas.publish.publishing import publish
from lambdas.publish.stores import S3Store

DETAIL_TYPE = "SageMaker Transform Job State Change"
COMPLETED = "Completed"
NOT_PUBLISHED = frozenset({"Failed", "Stopped"})
IN_PROGRESS = frozenset({"InProgress", "Stopping"})  # the rule should filter these out

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

_s3_client: Any = None


class InvalidEventError(ValueError):
    """The event is not a well-formed transform job state change."""


class ConfigurationError(ValueError):
    """A required environment variable is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    forecasts_bucket: str
    forecasts_prefix: str = "forecasts"
    actuals_uri: str | None = None
    kms_key_id: str | None = None

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
        return cls(
            forecasts_bucket=bucket,
            forecasts_prefix=environ.get("FORECASTS_PREFIX", "forecasts").strip().strip("/"),
            actuals_uri=actuals,
            kms_key_id=environ.get("KMS_KEY_ID", "").strip() or None,
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


def reset_client() -> None:
    """Forget the cached client (tests create it inside a moto context)."""
    global _s3_client
    _s3_client = None


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point."""
    return handle_event(event, Settings.from_env(os.environ), s3_client())


def handle_event(event: Mapping[str, Any], settings: Settings, client: Any) -> dict[str, Any]:
    """Publish a completed job's outputs; report (and write nothing for) any other status."""
    job = parse_event(event)
    if job.status != COMPLETED:
        if job.status in NOT_PUBLISHED:
            logger.warning(
                "Transform job %s %s: %s; nothing published",
                job.name,
                job.status.lower(),
                job.failure_reason or "no failure reason given",
            )
        else:
            logger.info("Transform job %s is %s; nothing to publish yet", job.name, job.status)
        return {
            "published": False,
            "job": job.name,
            "status": job.status,
            "reason": job.failure_reason,
        }

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
    return {"published": True, "job": job.name, "status": job.status, **result.to_dict()}


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
