"""The pipeline's Lambda steps, run locally: the same pure logic as the functions, on the local
registry and buckets.

A Lambda step names its function by ARN; local mode knows the project's own functions by the
ARNs it gives them in its resources (:func:`function_arn`), and refuses any other by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lambdas.approved_model.finding import approved_model, marker_body, marker_key
from lambdas.batch_transform.schedule import latest_approved
from local_mode import files
from local_mode.layout import ACCOUNT, REGION, Home, split_s3_uri
from local_mode.registry import Registry

FIND_APPROVED_MODEL_FUNCTION = "find-approved-model"


def function_arn(project: str, function: str) -> str:
    """The local ARN of one of the project's functions."""
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{project}-{function}"


def find_approved_model(home: Home, event: Mapping[str, Any]) -> dict[str, str]:
    """lambdas/approved_model's handler on the local registry and buckets."""
    group, marker_uri = str(event["ModelPackageGroupName"]), str(event["NoApprovedModelUri"])
    packages = {p.version: p.described() for p in Registry(home.registry).list(group)}
    summary = latest_approved(packages.values())
    package = packages[int(summary["ModelPackageVersion"])] if summary else None
    found = approved_model(group, package, marker_uri)
    if found.reason is not None:
        bucket, prefix = split_s3_uri(marker_uri)
        target = home.local_path(f"s3://{bucket}/{marker_key(prefix)}")
        files.atomic_write_bytes(target, marker_body(found.reason))
    return found.outputs()


FUNCTIONS: dict[str, Callable[[Home, Mapping[str, Any]], dict[str, str]]] = {
    FIND_APPROVED_MODEL_FUNCTION: find_approved_model,
}


def invoke(home: Home, arn: str, event: Mapping[str, Any]) -> dict[str, str] | None:
    """The function behind ``arn`` run on ``event``; None when local mode has no such function."""
    for name, function in FUNCTIONS.items():
        if arn == function_arn(home.project, name):
            return function(home, event)
    return None
