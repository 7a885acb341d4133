"""Step caching: which steps SageMaker Pipelines may reuse, for how long, and what their key is.

SageMaker reuses a step when a successful run of it with the same cache-key attributes exists
within ``ExpireAfter`` ("Default cache key attributes by pipeline step type",
https://docs.aws.amazon.com/sagemaker/latest/dg/pipelines-default-keys.html): for a Processing
step ``AppSpecification``, ``Environment`` and ``ProcessingInputs``; for a Training step
``AlgorithmSpecification``, ``CheckpointConfig``, ``DebugHookConfig``,
``DebugRuleConfigurations``, ``Environment``, ``HyperParameters`` and ``InputDataConfig``, all
as resolved for the execution. It never looks at what a URI points to, so every input a cached
step reads must be content-addressed: the code tarball's key carries its digest, the input data
is a snapshot under its digest (:mod:`forecasting.pipeline.data_snapshot`), and the steps read
each other's outputs under the producing execution's id.

A Training step's ``ResourceConfig`` is not a key attribute, yet a job on two hosts is not the
job on one (the batches split across ranks, another instance type computes differently): its
instance type and count are copied into the step's ``Environment`` (:data:`RESOURCE_ENVIRONMENT`),
a key attribute; the training code reads neither variable.

Local mode computes the same key over the same attributes (:mod:`local_mode.step_cache`).
Condition, RegisterModel and Fail steps are never cached: a registration must happen for every
execution that passes the gate.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from forecasting.errors import ConfigError
from forecasting.pipeline.expressions import join

DEFAULT_EXPIRE_AFTER = "P30D"
# The attributes SageMaker compares, per cached step type (the AWS page cited above).
KEY_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "Processing": ("AppSpecification", "Environment", "ProcessingInputs"),
    "Training": (
        "AlgorithmSpecification",
        "CheckpointConfig",
        "DebugHookConfig",
        "DebugRuleConfigurations",
        "Environment",
        "HyperParameters",
        "InputDataConfig",
    ),
}
CACHED_STEP_TYPES = tuple(KEY_ATTRIBUTES)
# ResourceConfig fields that must split a Training step's key, and the variable each goes to.
RESOURCE_ENVIRONMENT = {
    "InstanceType": "FORECASTING_TRAINING_INSTANCE_TYPE",
    "InstanceCount": "FORECASTING_TRAINING_INSTANCE_COUNT",
}
# "The ExpireAfter duration can be a year, month, week, day, hour, or minute value" (AWS,
# "Turn on step caching", pipelines-caching-enabling.html): ISO 8601 without seconds.
_DURATION = re.compile(
    r"P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?)?"
)
# A year and a month as local mode counts them (ISO 8601 leaves their length to the calendar).
_DAYS = {"years": 365, "months": 30, "weeks": 7, "days": 1}


def parse_duration(text: str | None, what: str = "cache_expire_after") -> timedelta:
    """``P30D``, ``PT12H``, ``P1Y2M`` ... as a positive duration; anything else is an error
    naming ``what`` (the setting or field it came from)."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None or text is None or not any(match.groupdict().values()) or text.endswith("T"):
        raise ConfigError(
            f"{what} {text!r} is not an ISO 8601 duration of years, months, weeks, "
            "days, hours or minutes (e.g. P30D, PT12H, P1Y); null turns step caching off"
        )
    parts = {name: int(value or 0) for name, value in match.groupdict().items()}
    duration = timedelta(
        days=sum(parts[name] * days for name, days in _DAYS.items()),
        hours=parts["hours"],
        minutes=parts["minutes"],
    )
    if duration <= timedelta(0):
        raise ConfigError(f"{what} {text!r} must be longer than zero")
    return duration


def cache_config(expire_after: str | None) -> dict[str, Any]:
    """A step's ``CacheConfig``: reuse for ``expire_after``; ``None`` runs the step every time."""
    if expire_after is None:
        return {"Enabled": False}
    parse_duration(expire_after)
    return {"Enabled": True, "ExpireAfter": expire_after}


def with_cache(steps: list[dict[str, Any]], expire_after: str | None) -> list[dict[str, Any]]:
    """The top-level steps, Processing and Training ones with ``CacheConfig``, Training ones
    with their resources in the key."""
    return [
        {**_with_resources_in_key(s), "CacheConfig": cache_config(expire_after)}
        if s["Type"] in CACHED_STEP_TYPES
        else s
        for s in steps
    ]


def _with_resources_in_key(step: dict[str, Any]) -> dict[str, Any]:
    if step["Type"] != "Training":
        return step
    arguments = step["Arguments"]
    resources = arguments["ResourceConfig"]
    environment = {
        # Environment values are strings: Std:Join turns the Integer parameter into one
        variable: join(resources[field])
        if isinstance(resources[field], dict)
        else str(resources[field])
        for field, variable in RESOURCE_ENVIRONMENT.items()
    }
    return {
        **step,
        "Arguments": {
            **arguments,
            "Environment": {**arguments.get("Environment", {}), **environment},
        },
    }


def cache_key(step_type: str, resolved_arguments: Mapping[str, Any]) -> str:
    """SHA-256 of the key attributes of a step's resolved arguments (absent ones count as
    absent), in canonical JSON; a step type SageMaker does not cache has no key."""
    if step_type not in KEY_ATTRIBUTES:
        raise ConfigError(f"a {step_type} step is not cached")
    attributes = {
        name: resolved_arguments[name]
        for name in KEY_ATTRIBUTES[step_type]
        if name in resolved_arguments
    }
    text = json.dumps(attributes, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
