"""New input triggers a scheduled run, debounced: pure decisions, no AWS calls.

S3 sends ``Object Created`` to EventBridge for every object written under the inference prefix;
a day's histories may be hundreds of objects, and a transform started after the first would
forecast part of them. So each event (re)sets one one-time EventBridge Scheduler schedule per
group, ``at(event time + quiet minutes)``: every new object pushes it later, and only once the
uploads have been quiet that long does it fire, sending the same ``Forecast Scheduled`` event as
the recurring schedule (:mod:`lambdas.batch_transform.schedule` then forecasts once per
version and input content). Scheduler deletes the schedule after it ran
(``ActionAfterCompletion: DELETE``), so the next upload creates it again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lambdas.batch_transform.events import InvalidEventError, scheduled_event
from lambdas.batch_transform.planning import Settings, Skip
from lambdas.errors import ConfigError
from lambdas.uris import split_s3_uri

OBJECT_CREATED = "Object Created"
S3_SOURCE = "aws.s3"
SCHEDULE_SUFFIX = "-forecast-on-new-data"
SCHEDULE_GROUP = "default"
RETRY_ATTEMPTS = 8  # as the recurring schedule's target
MAX_EVENT_AGE_SECONDS = 7200


@dataclass(frozen=True)
class Debounce:
    """Where the debounced schedule sends its event, and how long uploads must be quiet."""

    quiet: timedelta
    function_arn: str
    role_arn: str  # Scheduler's execution role
    dead_letter_arn: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str], function_arn: str) -> Debounce | None:
        """None unless ``FORECAST_ON_NEW_DATA_MINUTES`` is set (then the two ARNs are needed)."""
        minutes = environ.get("FORECAST_ON_NEW_DATA_MINUTES", "").strip()
        if not minutes:
            return None
        if not minutes.isdigit() or int(minutes) < 1:
            raise ConfigError(
                f"environment variable FORECAST_ON_NEW_DATA_MINUTES is {minutes!r}; expected a "
                "whole number of minutes, at least 1"
            )
        arns = {}
        for name in ("SCHEDULER_ROLE_ARN", "DEAD_LETTER_QUEUE_ARN"):
            arns[name] = environ.get(name, "").strip()
            if not arns[name].startswith("arn:"):
                raise ConfigError(f"environment variable {name} is not set to an ARN")
        return cls(
            quiet=timedelta(minutes=int(minutes)),
            function_arn=function_arn,
            role_arn=arns["SCHEDULER_ROLE_ARN"],
            dead_letter_arn=arns["DEAD_LETTER_QUEUE_ARN"],
        )


def is_new_input(event: Any) -> bool:
    return (
        isinstance(event, Mapping)
        and event.get("source") == S3_SOURCE
        and event.get("detail-type") == OBJECT_CREATED
    )


def schedule_name(group: str) -> str:
    """Scheduler names allow 64 characters; the group (at most 63) gives way."""
    return group[: 64 - len(SCHEDULE_SUFFIX)] + SCHEDULE_SUFFIX


def plan_debounce(
    event: Mapping[str, Any], settings: Settings, debounce: Debounce
) -> dict[str, Any] | Skip:
    """The CreateSchedule/UpdateSchedule request for a new input object, or why there is none."""
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise InvalidEventError("event field 'detail' is missing or not an object")
    bucket = (detail.get("bucket") or {}).get("name")
    key = (detail.get("object") or {}).get("key")
    if not isinstance(bucket, str) or not isinstance(key, str):
        raise InvalidEventError(
            "event field 'detail.bucket.name' or 'detail.object.key' is missing; expected S3's "
            "Object Created event"
        )
    input_bucket, prefix = split_s3_uri(settings.input_uri, "INPUT_URI")
    if bucket != input_bucket or not key.startswith(prefix):
        return Skip(f"s3://{bucket}/{key} is not under {settings.input_uri}")
    try:
        written = datetime.strptime(str(event.get("time")), "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise InvalidEventError(
            f"event field 'time' is {event.get('time')!r}; expected yyyy-mm-ddThh:mm:ssZ"
        ) from None
    at = (written + debounce.quiet).strftime("%Y-%m-%dT%H:%M:%S")
    group = settings.model_package_group
    payload = scheduled_event(
        group, time="<aws.scheduler.scheduled-time>", event_id="<aws.scheduler.execution-id>"
    )
    return {
        "Name": schedule_name(group),
        "GroupName": SCHEDULE_GROUP,
        "ScheduleExpression": f"at({at})",
        "ScheduleExpressionTimezone": "UTC",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "ActionAfterCompletion": "DELETE",
        "State": "ENABLED",
        "Description": f"{group}: forecast once the uploads under {settings.input_uri} are quiet",
        "Target": {
            "Arn": debounce.function_arn,
            "RoleArn": debounce.role_arn,
            "Input": json.dumps(payload),
            "DeadLetterConfig": {"Arn": debounce.dead_letter_arn},
            "RetryPolicy": {
                "MaximumRetryAttempts": RETRY_ATTEMPTS,
                "MaximumEventAgeInSeconds": MAX_EVENT_AGE_SECONDS,
            },
        },
    }
