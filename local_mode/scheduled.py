"""A scheduled forecast in local mode: what the forecast schedule does in the cloud.

The cloud's schedule sends ``Forecast Scheduled`` to the batch-transform Lambda, which asks the
registry for the latest Approved version and lists the inference input; the same pure
:func:`lambdas.batch_transform.schedule.plan_scheduled` decides here, on the local registry and
the local input prefix (each object's key, size and MD5, the ETag S3 gives a single-part
upload). One job per version and input content: a run with nothing new starts nothing and says
so; new input gets a job, and a published partition, of its own.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from lambdas.batch_transform.events import parse_scheduled, scheduled_event
from lambdas.batch_transform.planning import Settings, Skip
from lambdas.batch_transform.schedule import (
    InputObject,
    latest_approved,
    nothing_new,
    plan_scheduled,
)
from local_mode.approval import (
    LOCAL_ROLE,
    ApprovalOutcome,
    execute_plan,
    local_settings,
    save_event,
)
from local_mode.layout import REGION, Home, split_s3_uri
from local_mode.registry import Registry


def list_local_input(home: Home, input_uri: str) -> list[InputObject]:
    """Every file under the local input prefix, as ListObjectsV2 would describe it."""
    bucket, prefix = split_s3_uri(input_uri)
    root = home.buckets / bucket
    folder = home.local_path(input_uri)
    if not folder.is_dir():
        return []
    objects = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        key = path.relative_to(root).as_posix()
        if key.startswith(prefix):
            body = path.read_bytes()
            objects.append(InputObject(key, len(body), hashlib.md5(body).hexdigest()))
    return objects


def scheduled_forecast(
    home: Home, group: str, say: Callable[[str], None] = print
) -> ApprovalOutcome:
    """Forecast the local inference input with the latest approved version, then publish."""
    registry = Registry(home.registry)
    packages = {p.version: p for p in registry.list(group)}
    chosen = latest_approved(p.described() for p in packages.values())
    package = packages[int(chosen["ModelPackageVersion"])] if chosen else None
    settings = (
        local_settings(home, package)
        if package
        else Settings(group, LOCAL_ROLE, "", home.forecasts_bucket, "local", REGION)
    )
    now = datetime.now(UTC)
    event = scheduled_event(group, now.strftime("%Y-%m-%dT%H:%M:%SZ"), str(uuid.uuid4()))
    outcome = ApprovalOutcome(change=None, event_path=save_event(home, event, "forecast-scheduled"))
    say(f"event: {outcome.event_path}")
    objects = list_local_input(home, settings.input_uri) if package else []
    plan = plan_scheduled(
        parse_scheduled(event), package.described() if package else None, objects, settings
    )
    if isinstance(plan, Skip):
        outcome.skipped = plan.reason
        say(f"scheduled forecast: {plan.reason}")
        return outcome
    assert package is not None
    say(
        f"scheduled forecast: {group} version {package.version} over {len(objects)} input "
        f"object(s) under {settings.input_uri}"
    )
    execute_plan(home, outcome, package, plan, say)
    if outcome.job is not None and not outcome.job.started:
        outcome.skipped = nothing_new(plan, outcome.job.status)
        say(f"scheduled forecast: {outcome.skipped}")
    return outcome
