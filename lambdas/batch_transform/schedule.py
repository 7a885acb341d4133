"""What a scheduled run should forecast: the latest approved version over the current input.

Pure decisions, no AWS calls: the Lambda passes in what ``ListModelPackages``,
``DescribeModelPackage`` and ``ListObjectsV2`` answered, local mode what its registry and local
buckets hold, and both get the same :class:`~lambdas.batch_transform.planning.TransformPlan`.

Idempotency: the job is named after the version and a digest of the input's content (each
object's key, size and ETag), so one content is forecast once per version. A run that finds
the same version and the same input asks for a job that exists, starts nothing and says so;
new histories (or a newly approved version) give a new job, and its own published partition.
An object uploaded again with the same bytes may get a new ETag (SSE-KMS ETags are not the
MD5 of the data): that counts as new input, one forecast too many rather than one missed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lambdas.batch_transform.events import (
    APPROVED,
    PackageEvent,
    ScheduledRun,
    parse_container,
)
from lambdas.batch_transform.planning import (
    INPUT_DIGEST_LENGTH,
    Settings,
    Skip,
    TransformPlan,
    plan_version,
)

NOTHING_NEW = "nothing new"
ENDED_WITHOUT_FORECAST = frozenset({"Failed", "Stopped"})
QUOTE = '"'


@dataclass(frozen=True, order=True)
class InputObject:
    """One object under the inference prefix, as a listing describes it."""

    key: str
    size: int
    etag: str


def content_digest(objects: Iterable[InputObject]) -> str:
    """A short SHA-256 over every object's key, size and ETag, in key order."""
    # S3 quotes ETags in listings; local mode writes them bare.
    lines = "".join(f"{o.key}\t{o.size}\t{o.etag.strip(QUOTE)}\n" for o in sorted(objects))
    return hashlib.sha256(lines.encode()).hexdigest()[:INPUT_DIGEST_LENGTH]


def latest_approved(summaries: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The Approved summary with the highest version (``ListModelPackages``' items)."""
    approved = [
        s
        for s in summaries
        if s.get("ModelApprovalStatus") == APPROVED
        and isinstance(s.get("ModelPackageVersion"), int)
    ]
    return max(approved, key=lambda s: int(s["ModelPackageVersion"]), default=None)


def plan_scheduled(
    run: ScheduledRun,
    package: Mapping[str, Any] | None,
    objects: Sequence[InputObject],
    settings: Settings,
) -> TransformPlan | Skip:
    """The plan of a scheduled run, or why it has nothing to do.

    ``package`` is ``DescribeModelPackage``'s answer for the latest approved version (None: no
    version is approved yet); ``objects`` the listing of ``settings.input_uri``.
    """
    group = settings.model_package_group
    if run.group != group:
        return Skip(f"model package group {run.group!r} is not {group!r}")
    if package is None:
        return Skip(f"no Approved version of {group} yet: nothing to forecast with")
    if not objects:
        return Skip(f"no input under {settings.input_uri}: nothing to forecast")
    version = package.get("ModelPackageVersion")
    status = package.get("ModelApprovalStatus")
    if status != APPROVED or not isinstance(version, int):
        # Listed as approved, rejected before it was described: the next run takes the next.
        return Skip(f"{group} version {version} is {status} now, not {APPROVED}")
    image, model_data_url = parse_container(package)
    event = PackageEvent(
        group=group,
        version=version,
        arn=str(package.get("ModelPackageArn", "")),
        approval_status=status,
    )
    return plan_version(
        event, image, model_data_url, settings, input_content=content_digest(objects)
    )


def nothing_new(plan: TransformPlan, status: str) -> str:
    """What a run that found its job already there says; ``status`` is that job's. A job that
    failed or was stopped is said loudly: the schedule will not run that input again."""
    version = plan.create_model["PrimaryContainer"]["Environment"]["FORECAST_MODEL_VERSION"]
    if status in ENDED_WITHOUT_FORECAST:
        return (
            f"{NOTHING_NEW}, but version {version}'s transform job {plan.job_name} for this "
            f"input ended {status}: send a Forecast Requested event to run it again"
        )
    return (
        f"{NOTHING_NEW}: version {version} has already forecast this input "
        f"(transform job {plan.job_name}, {status})"
    )
