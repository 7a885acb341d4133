"""The events the batch-transform Lambda acts on, checked field by field: no AWS calls.

* ``SageMaker Model Package State Change`` (source ``aws.sagemaker``): a version was approved.
* ``Forecast Requested`` (source ``forecasting.requests``): a person forecasts again with a
  named approved version.
* ``Forecast Scheduled`` (source ``forecasting.schedule``): the forecast schedule (EventBridge
  Scheduler) fired; the latest approved version forecasts the current inference input.

Every error names the first field that is missing or invalid.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambdas.uris import ArnScope, split_s3_uri

DETAIL_TYPE = "SageMaker Model Package State Change"
SOURCE = "aws.sagemaker"
# A person (or a schedule) asks to forecast again with an approved version: after a failed or
# stopped transform, or with new histories under the same input prefix. The run id makes the
# job new; the same request sent twice names the same job, so it starts once.
REQUEST_DETAIL_TYPE = "Forecast Requested"
REQUEST_SOURCE = "forecasting.requests"
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
APPROVED = "Approved"
PENDING = "PendingManualApproval"  # a registration: nothing returns to pending
APPROVAL_STATUSES = frozenset({APPROVED, "Rejected", PENDING})
# The forecast schedule's input (infra/forecast_schedule.py writes it; Scheduler fills in the
# time and execution id of each invocation).
SCHEDULE_DETAIL_TYPE = "Forecast Scheduled"
SCHEDULE_SOURCE = "forecasting.schedule"


class InvalidEventError(ValueError):
    """The event is not a well-formed model package state change."""


@dataclass(frozen=True)
class PackageEvent:
    group: str
    version: int
    arn: str
    approval_status: str


@dataclass(frozen=True)
class ForecastRequest:
    group: str
    version: int
    run_id: str

    def package_arn(self, scope: ArnScope) -> str:
        return scope.model_package_arn(self.group, self.version)


def is_request(event: Any) -> bool:
    return isinstance(event, Mapping) and event.get("source") == REQUEST_SOURCE


def parse_request(event: Mapping[str, Any]) -> ForecastRequest:
    """``{"ModelPackageGroupName", "ModelPackageVersion", "RunId"}`` in a custom event."""
    if event.get("detail-type") != REQUEST_DETAIL_TYPE:
        raise InvalidEventError(
            f"event field 'detail-type' is {event.get('detail-type')!r}; expected "
            f"{REQUEST_DETAIL_TYPE!r}"
        )
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise InvalidEventError("event field 'detail' is missing or not an object")
    group = _text_field(detail, "ModelPackageGroupName", "detail.")
    version = _version(detail)
    run_id = _text_field(detail, "RunId", "detail.")
    if not RUN_ID_PATTERN.match(run_id):
        raise InvalidEventError(
            f"event field 'detail.RunId' is {run_id!r}; expected up to 128 letters, digits, "
            "'.', '_', ':' or '-' (a date or a ticket id, say)"
        )
    return ForecastRequest(group=group, version=version, run_id=run_id)


def parse_event(event: Any) -> PackageEvent:
    """Check the envelope and the package fields, naming the first one missing or invalid."""
    if not isinstance(event, Mapping):
        raise InvalidEventError(
            f"event is a {type(event).__name__}; expected an EventBridge event object"
        )
    for field, expected in (("detail-type", DETAIL_TYPE), ("source", SOURCE)):
        if event.get(field) != expected:
            raise InvalidEventError(
                f"event field '{field}' is {event.get(field)!r}; expected {expected!r}"
            )
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise InvalidEventError("event field 'detail' is missing or not an object")
    group = _text_field(detail, "ModelPackageGroupName", "detail.")
    arn = _text_field(detail, "ModelPackageArn", "detail.")
    version = _version(detail)
    status = _text_field(detail, "ModelApprovalStatus", "detail.")
    if status not in APPROVAL_STATUSES:
        raise InvalidEventError(
            f"event field 'detail.ModelApprovalStatus' is {status!r}; expected one of "
            f"{', '.join(sorted(APPROVAL_STATUSES))}"
        )
    return PackageEvent(group=group, version=version, arn=arn, approval_status=status)


def _version(detail: Mapping[str, Any]) -> int:
    version = detail.get("ModelPackageVersion")
    # bool is an int subclass; True must not pass as version 1.
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InvalidEventError(
            f"event field 'detail.ModelPackageVersion' is {_found(version)}; expected an "
            "integer of at least 1"
        )
    return version


def parse_container(detail: Mapping[str, Any]) -> tuple[str, str]:
    """The first container's image and model artifact: what the SageMaker Model runs."""
    spec = detail.get("InferenceSpecification")
    if not isinstance(spec, Mapping):
        raise InvalidEventError(
            "event field 'detail.InferenceSpecification' is missing or not an object"
        )
    containers = spec.get("Containers")
    if not isinstance(containers, list) or not containers:
        raise InvalidEventError(
            "event field 'detail.InferenceSpecification.Containers' is "
            f"{_found(containers)}; expected a non-empty list"
        )
    if not isinstance(containers[0], Mapping):
        raise InvalidEventError(
            "event field 'detail.InferenceSpecification.Containers[0]' is not an object"
        )
    path = "detail.InferenceSpecification.Containers[0]."
    image = _text_field(containers[0], "Image", path)
    model_data_url = _text_field(containers[0], "ModelDataUrl", path)
    split_s3_uri(
        model_data_url,
        f"event field '{path}ModelDataUrl'",
        require_key=True,
        error=InvalidEventError,
    )
    return image, model_data_url


def _text_field(parent: Mapping[str, Any], name: str, path: str) -> str:
    value = parent.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidEventError(
            f"event field '{path}{name}' is {_found(value)}; expected a non-empty string"
        )
    return value.strip()


def _found(value: Any) -> str:
    return "missing" if value is None else repr(value)


@dataclass(frozen=True)
class ScheduledRun:
    group: str
    time: str  # when the schedule fired (ISO 8601, as Scheduler writes it): for the log


def is_scheduled(event: Any) -> bool:
    return isinstance(event, Mapping) and event.get("source") == SCHEDULE_SOURCE


def scheduled_event(group: str, time: str, event_id: str) -> dict[str, Any]:
    """The event the schedule sends (and local mode's ``forecast`` builds): an EventBridge-shaped
    envelope, so the Lambda's logs and dead-letter messages read like every other event."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": SCHEDULE_DETAIL_TYPE,
        "source": SCHEDULE_SOURCE,
        "time": time,
        "detail": {"ModelPackageGroupName": group},
    }


def parse_scheduled(event: Mapping[str, Any]) -> ScheduledRun:
    if event.get("detail-type") != SCHEDULE_DETAIL_TYPE:
        raise InvalidEventError(
            f"event field 'detail-type' is {event.get('detail-type')!r}; expected "
            f"{SCHEDULE_DETAIL_TYPE!r}"
        )
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise InvalidEventError("event field 'detail' is missing or not an object")
    return ScheduledRun(
        group=_text_field(detail, "ModelPackageGroupName", "detail."),
        time=str(event.get("time") or ""),
    )
