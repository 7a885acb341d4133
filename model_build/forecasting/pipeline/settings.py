"""What the SageMaker Pipeline is built from: checked settings, so mistakes fail at build time.

A wrong instance type, a count below one, a threshold that is not a number or a metric the
evaluate step never writes would otherwise surface as a failed execution an hour later. Instance
types are checked against botocore's SageMaker service model, which lists every valid type.

The training configuration lives beside the training code, in ``model_build/training.json``:
the CodeBuild runner reads it on every push, so a push changes the model, its hyperparameters
and its instances. ``cdk.json`` holds infrastructure settings only.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from forecasting.errors import ConfigError
from forecasting.families import FAMILIES as REGISTRY
from forecasting.pipeline.caching import DEFAULT_EXPIRE_AFTER, parse_duration

FAMILIES = tuple(REGISTRY)
# What evaluation.json's regression_metrics holds per family (each family's evaluation writes
# it); every one is an error, so lower is better and the gate is "metric <= threshold".
METRICS = {name: each.metrics for name, each in REGISTRY.items()}
# The gate each family gets when none is given: (metric name, threshold).
DEFAULT_GATES = {name: each.default_gate for name, each in REGISTRY.items()}
# Every version waits for a person: no setting or run-time parameter can register it Approved.
APPROVAL_STATUS = "PendingManualApproval"
# Batch Transform runs on this type: the registered package names it and the batch-transform
# Lambda (deployed by CDK) uses it, so it is an infrastructure choice, not a training one.
TRANSFORM_INSTANCE_TYPE = "ml.m5.xlarge"
TRAINING_FILE = "training.json"  # in model_build/, beside the package
# Settings the training configuration may not hold, and where they live instead.
NOT_IN_TRAINING_FILE = {
    "transform_instance_type": "the batch-transform Lambda's instance type, fixed by the stack"
}


@functools.cache  # every settings object checks its instance types: load the model once
def _instance_types(shape: str) -> tuple[str, ...]:
    import botocore.session
    from botocore.model import StringShape

    model = botocore.session.get_session().get_service_model("sagemaker")
    instance_types = model.shape_for(shape)
    if not isinstance(instance_types, StringShape):
        raise TypeError(f"botocore's SageMaker {shape} is not an enumeration of names")
    return tuple(instance_types.enum)


@dataclass(frozen=True)
class PipelineSettings:
    """Defaults of the pipeline parameters and the choices fixed in the definition.

    The metric name and spot training are fixed at build time: the condition's JSON path is
    part of the definition, and SageMaker refuses a spot wait time on a job without spot.
    """

    model: str = "informer"
    hyperparameters: dict[str, Any] = field(default_factory=dict)  # train step flags
    preprocess_arguments: dict[str, Any] = field(default_factory=dict)  # preprocess flags
    training_instance_type: str = "ml.c5.2xlarge"
    training_instance_count: int = 1
    processing_instance_type: str = "ml.m5.xlarge"
    metric_name: str = DEFAULT_GATES["informer"][0]  # the default model's gate
    metric_threshold: float = DEFAULT_GATES["informer"][1]
    use_spot: bool = False
    max_runtime_seconds: int = 24 * 3600
    volume_size_gb: int = 50
    # how long SageMaker may reuse an unchanged Processing or Training step; None: never
    cache_expire_after: str | None = DEFAULT_EXPIRE_AFTER

    def __post_init__(self) -> None:
        errors = list(self._problems())
        if errors:
            raise ConfigError("pipeline settings: " + "; ".join(errors))

    def _problems(self) -> Iterator[str]:
        if self.model not in FAMILIES:
            yield f"model {self.model!r} is not one of {FAMILIES}"
        for name, shape in (
            ("training_instance_type", "TrainingInstanceType"),
            ("processing_instance_type", "ProcessingInstanceType"),
        ):
            value = getattr(self, name)
            if value not in _instance_types(shape):
                yield (
                    f"{name} {value!r} is not a SageMaker {shape} (expected e.g. ml.g5.xlarge "
                    "for GPUs or ml.c5.2xlarge for CPUs)"
                )
        for name in ("training_instance_count", "max_runtime_seconds", "volume_size_gb"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                yield f"{name} must be an integer >= 1, got {value!r}"
        threshold = self.metric_threshold
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            yield f"metric_threshold must be a number, got {threshold!r}"
        elif not math.isfinite(threshold):
            yield f"metric_threshold must be finite, got {threshold!r}"
        written = METRICS.get(self.model, ())
        if written and self.metric_name not in written:
            yield (
                f"metric_name {self.metric_name!r} is not written by the evaluate step for "
                f"{self.model}; expected one of {written}"
            )
        if self.cache_expire_after is not None:
            try:
                parse_duration(self.cache_expire_after)
            except ConfigError as err:
                yield str(err)
        if not isinstance(self.use_spot, bool):
            yield f"use_spot must be true or false, got {self.use_spot!r}"
        mappings = ("hyperparameters", "preprocess_arguments")
        for name in mappings:
            value = getattr(self, name)
            if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
                yield f"{name} must be a mapping of flag names to values, got {value!r}"
        if self.model in FAMILIES and all(isinstance(getattr(self, n), dict) for n in mappings):
            yield from self._window_problems()

    def _window_problems(self) -> Iterator[str]:
        """Preprocess records the input length and horizon, and training takes them from there:
        a training value that differs would stop the train step, after preprocess ran."""
        for name, default in REGISTRY[self.model].windows.items():
            if name not in self.hyperparameters:
                continue
            given = self.hyperparameters[name]
            recorded = self.preprocess_arguments.get(name, default)
            if str(given) != str(recorded):
                yield (
                    f"hyperparameters {name} {given!r} contradicts the {recorded!r} preprocess "
                    f"records for training; set {name} once, in preprocess_arguments"
                )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PipelineSettings:
        """From parsed JSON; keys that are not training settings are refused by name."""
        refused = {k: NOT_IN_TRAINING_FILE[k] for k in data if k in NOT_IN_TRAINING_FILE}
        if refused:
            raise ConfigError(f"{', '.join(refused)} cannot be set here: {refused}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"pipeline settings: unknown keys {unknown}; expected keys among {sorted(known)}"
            )
        return cls(**data)

    @classmethod
    def from_json(cls, text: str, source: str) -> PipelineSettings:
        """From JSON text; every error names ``source`` (and the line for bad JSON)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(
                f"{source}: line {err.lineno} column {err.colno}: not valid JSON ({err.msg})"
            ) from None
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a JSON object of settings")
        try:
            return cls.from_dict(data)
        except ConfigError as err:
            raise ConfigError(f"{source}: {err}") from None

    @classmethod
    def from_file(cls, path: Path) -> PipelineSettings:
        """The training configuration file (``training.json`` or ``--settings FILE``)."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(
                f"{path}: no training configuration file (expected {TRAINING_FILE} beside the "
                "forecasting package)"
            ) from None
        return cls.from_json(text, str(path))

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
