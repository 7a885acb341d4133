"""The quality gate, taken from the cloud definition itself: same metric, comparison and message.

The pipeline builder's CheckMetric step holds a condition such as ``LessThanOrEqualTo(JsonGet(
evaluation.json, regression_metrics.mse.value), Parameters.MetricThreshold)`` and a Fail step
whose message is a ``Std:Join`` of the same values. Evaluating those expressions here, instead
of writing ``metric <= threshold`` a second time, means a change to the cloud gate changes the
local one too.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from forecasting.errors import ConfigError
from forecasting.pipeline.definition import Images, Resources, condition_step
from forecasting.pipeline.settings import PipelineSettings

COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "LessThanOrEqualTo": operator.le,
    "LessThan": operator.lt,
    "GreaterThanOrEqualTo": operator.ge,
    "GreaterThan": operator.gt,
    "Equals": operator.eq,
}
SYMBOLS = {"LessThanOrEqualTo": "<=", "LessThan": "<", "GreaterThanOrEqualTo": ">=",
           "GreaterThan": ">", "Equals": "=="}  # fmt: skip
# Only the condition and fail steps are read; their expressions name none of these resources.
_PLACEHOLDER_RESOURCES = Resources(
    pipeline_name="local",
    role_arn="local",
    artifacts_bucket="local",
    code_uri="local",
    kms_key_id="local",
    region="local",
    model_package_group="local",
    data_uri="local",
    images=Images(training="local", processing="local", inference="local"),
)


@dataclass(frozen=True)
class GateResult:
    passed: bool
    metric_name: str
    value: float
    threshold: float
    comparison: str
    message: str  # the Fail step's message (what the cloud execution reports)


def cloud_condition(settings: PipelineSettings) -> dict[str, Any]:
    """The CheckMetric step exactly as the pipeline definition builds it."""
    return condition_step(settings, _PLACEHOLDER_RESOURCES, _PLACEHOLDER_RESOURCES.images)


def resolve(expression: Any, parameters: Mapping[str, Any], evaluation: Mapping[str, Any]) -> Any:
    """Evaluate the definition's expressions (Get, Std:JsonGet, Std:Join) against local values."""
    if not isinstance(expression, Mapping):
        return expression
    if "Get" in expression:
        path = expression["Get"]
        if not path.startswith("Parameters."):
            raise ConfigError(f"the gate reads {path!r}, which local mode cannot resolve")
        return parameters[path.removeprefix("Parameters.")]
    if "Std:JsonGet" in expression:
        value: Any = evaluation
        json_path = expression["Std:JsonGet"]["Path"]
        for part in json_path.split("."):
            if not isinstance(value, Mapping) or part not in value:
                raise ConfigError(
                    f"evaluation.json has no {json_path!r}; the gate cannot read its metric"
                )
            value = value[part]
        return value
    if "Std:Join" in expression:
        join = expression["Std:Join"]
        values = [resolve(v, parameters, evaluation) for v in join["Values"]]
        return join["On"].join(str(v) for v in values)
    raise ConfigError(f"the gate uses an expression local mode does not know: {expression!r}")


def check(settings: PipelineSettings, evaluation: Mapping[str, Any]) -> GateResult:
    """Pass or fail the model as the cloud's CheckMetric step would, with its Fail message."""
    step = cloud_condition(settings)
    (condition,) = step["Arguments"]["Conditions"]
    (fail,) = step["Arguments"]["ElseSteps"]
    parameters = {"MetricThreshold": float(settings.metric_threshold)}
    left = float(resolve(condition["LeftValue"], parameters, evaluation))
    right = float(resolve(condition["RightValue"], parameters, evaluation))
    comparison = condition["Type"]
    if comparison not in COMPARISONS:
        raise ConfigError(f"the gate compares with {comparison!r}, which local mode does not know")
    return GateResult(
        passed=COMPARISONS[comparison](left, right),
        metric_name=settings.metric_name,
        value=left,
        threshold=right,
        comparison=comparison,
        message=str(resolve(fail["Arguments"]["ErrorMessage"], parameters, evaluation)),
    )
