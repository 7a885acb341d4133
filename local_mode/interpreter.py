"""The SageMaker Pipeline definition (schema 2020-12-01) as data: its parameters, expressions,
step order and conditions, evaluated the way SageMaker Pipelines evaluates them.

Pure logic: no jobs are run here (:mod:`local_mode.runner` runs them). Anything the definition
uses that this module does not implement is refused by name, so a construct local mode cannot
check never passes unnoticed.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from forecasting.errors import ConfigError, ForecastingError
from forecasting.pipeline.caching import CACHED_STEP_TYPES, parse_duration

STEP_TYPES = ("Processing", "Training", "Lambda", "Condition", "RegisterModel", "Fail")
PARAMETER_TYPES: dict[str, Callable[[Any], Any]] = {
    "String": str,
    "Integer": int,
    "Float": float,
    "Boolean": lambda v: v if isinstance(v, bool) else str(v).lower() == "true",
}
COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "LessThanOrEqualTo": operator.le,
    "LessThan": operator.lt,
    "GreaterThanOrEqualTo": operator.ge,
    "GreaterThan": operator.gt,
    "Equals": operator.eq,
}
SYMBOLS = {"LessThanOrEqualTo": "<=", "LessThan": "<", "GreaterThanOrEqualTo": ">=",
           "GreaterThan": ">", "Equals": "=="}  # fmt: skip
FUNCTIONS = ("Get", "Std:Join", "Std:JsonGet")
_PATH_PART = re.compile(r"([A-Za-z0-9_]+)|\['([^']*)'\]|\[(\d+)\]")


class StepError(ForecastingError):
    """A step failed as SageMaker would fail it; the message starts with the step's name."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"step {step}: {message}")
        self.step = step


class UnsupportedError(ConfigError):
    """The definition uses a construct local mode does not implement."""


@dataclass(frozen=True)
class PlannedStep:
    """A step in execution order; ``branch`` is (condition step, "IfSteps"/"ElseSteps")."""

    definition: Mapping[str, Any]
    branch: tuple[str, str] | None = None

    @property
    def name(self) -> str:
        return str(self.definition["Name"])

    @property
    def type(self) -> str:
        return str(self.definition["Type"])


def parameter_values(definition: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, Any]:
    """Each parameter's default, replaced by ``overrides`` (``start_pipeline_execution``'s
    ``PipelineParameters``: names and string values), cast to the parameter's type."""
    declared = {p["Name"]: p for p in definition.get("Parameters", [])}
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise ConfigError(
            f"--parameter {', '.join(unknown)}: the pipeline has no such parameter; it has "
            + ", ".join(sorted(declared))
        )
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        kind = spec.get("Type", "String")
        if kind not in PARAMETER_TYPES:
            raise UnsupportedError(f"parameter {name}: type {kind!r} is not supported locally")
        raw = overrides.get(name, spec.get("DefaultValue"))
        if raw is None:
            raise ConfigError(f"parameter {name} has no default; give it with --parameter")
        try:
            values[name] = PARAMETER_TYPES[kind](raw)
        except ValueError:
            raise ConfigError(f"--parameter {name}={raw}: expected a {kind}") from None
    return values


def property_path(path: str) -> list[str | int]:
    """``Steps.Evaluate.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri`` → its keys."""
    parts: list[str | int] = []
    for segment in path.split("."):
        for match in _PATH_PART.finditer(segment):
            name, key, index = match.groups()
            parts.append(int(index) if index is not None else (name if name is not None else key))
    if not parts:
        raise ConfigError(f"{path!r} is not a property path")
    return parts


def referenced_steps(value: Any) -> set[str]:
    """The steps an expression reads (``Get: Steps.X...``): its data dependencies."""
    if isinstance(value, Mapping):
        found: set[str] = set()
        get = value.get("Get")
        if isinstance(get, str) and get.startswith("Steps."):
            found.add(get.split(".")[1])
        for item in value.values():
            found |= referenced_steps(item)
        return found
    if isinstance(value, list):
        return set().union(*(referenced_steps(v) for v in value)) if value else set()
    return set()


def plan(definition: Mapping[str, Any]) -> list[PlannedStep]:
    """Every step in an order that honours ``DependsOn`` and data dependencies (definition order
    among independent steps); a condition's branches come right after it."""
    if definition.get("Version") != "2020-12-01":
        raise UnsupportedError(f"definition version {definition.get('Version')!r}")
    steps: dict[str, PlannedStep] = {}

    def collect(items: list[Mapping[str, Any]], branch: tuple[str, str] | None) -> None:
        for item in items:
            if item.get("Type") not in STEP_TYPES:
                raise UnsupportedError(
                    f"step {item.get('Name')}: type {item.get('Type')!r} is not supported "
                    f"locally (supported: {', '.join(STEP_TYPES)})"
                )
            if "RetryPolicies" in item:
                raise UnsupportedError(
                    f"step {item['Name']}: RetryPolicies is not supported locally"
                )
            check_cache_config(item)
            steps[item["Name"]] = PlannedStep(item, branch)
            if item["Type"] == "Condition":
                for side in ("IfSteps", "ElseSteps"):
                    collect(item["Arguments"].get(side, []), (item["Name"], side))

    collect(definition["Steps"], None)
    needs: dict[str, set[str]] = {}
    for name, planned in steps.items():
        wanted = (
            set(planned.definition.get("DependsOn", []))
            | referenced_steps(planned.definition.get("Arguments", {}))
            | referenced_steps(planned.definition.get("PropertyFiles", []))
        )
        if planned.branch:
            wanted.add(planned.branch[0])
        missing = sorted(wanted - set(steps))
        if missing:
            raise StepError(name, f"depends on {', '.join(missing)}, which the pipeline lacks")
        needs[name] = wanted - {name}
    ordered: list[PlannedStep] = []
    done: set[str] = set()
    while len(ordered) < len(steps):
        ready = [s for n, s in steps.items() if n not in done and needs[n] <= done]
        if not ready:
            cycle = sorted(set(steps) - done)
            raise ConfigError(f"the steps {', '.join(cycle)} depend on each other in a cycle")
        ordered.append(ready[0])
        done.add(ready[0].name)
    return ordered


def check_cache_config(step: Mapping[str, Any]) -> None:
    """A step's ``CacheConfig`` as :mod:`local_mode.step_cache` honours it: on the step types
    SageMaker caches, with a valid ``ExpireAfter`` when enabled."""
    config = step.get("CacheConfig")
    if config is None:
        return
    if step.get("Type") not in CACHED_STEP_TYPES:
        raise UnsupportedError(f"step {step['Name']}: a {step.get('Type')} step is not cached")
    if config.get("Enabled"):
        parse_duration(config.get("ExpireAfter"), f"step {step['Name']}: ExpireAfter")


class Evaluator:
    """Evaluates the definition's expressions for one execution.

    ``properties[step]`` is what a finished step reports (its Describe*Job response, as far as
    the definition reads it); ``read_property_file(step, output, path)`` returns the parsed JSON
    a step wrote to one of its outputs.
    """

    def __init__(
        self,
        definition: Mapping[str, Any],
        parameters: Mapping[str, Any],
        execution_id: str,
        properties: Mapping[str, Mapping[str, Any]],
        read_property_file: Callable[[str, str, str], Any],
        execution_arn: str | None = None,
    ) -> None:
        self.parameters = parameters
        self.execution_arn = execution_arn
        self.execution_id = execution_id
        self.properties = properties
        self.read_property_file = read_property_file
        self.property_files = {
            planned.name: {p["PropertyFileName"]: p for p in planned.definition["PropertyFiles"]}
            for planned in plan(definition)
            if "PropertyFiles" in planned.definition
        }

    def __call__(self, value: Any, step: str) -> Any:
        """``value`` with every expression in it evaluated; errors name ``step``."""
        if isinstance(value, list):
            return [self(v, step) for v in value]
        if not isinstance(value, Mapping):
            return value
        functions = [key for key in value if key in FUNCTIONS or ":" in key]
        if not functions:
            return {k: self(v, step) for k, v in value.items()}
        if len(value) != 1 or functions[0] not in FUNCTIONS:
            raise UnsupportedError(f"step {step}: the expression {functions[0]!r} is not supported")
        ((function, argument),) = value.items()
        if function == "Get":
            return self.get(argument, step)
        if function == "Std:Join":
            values = [self(v, step) for v in argument["Values"]]
            return str(argument["On"]).join(_text(v) for v in values)
        return self.json_get(argument, step)

    def get(self, path: str, step: str) -> Any:
        root, _, rest = path.partition(".")
        if root == "Parameters":
            if rest not in self.parameters:
                raise StepError(step, f"reads {path}, but the pipeline has no parameter {rest!r}")
            return self.parameters[rest]
        if root == "Execution" and rest == "PipelineExecutionId":
            return self.execution_id
        if root == "Execution" and rest == "PipelineExecutionArn" and self.execution_arn:
            return self.execution_arn
        if root != "Steps":
            raise UnsupportedError(f"step {step}: {path!r} is not supported locally")
        keys = property_path(rest)
        source = str(keys[0])
        if source not in self.properties:
            raise StepError(step, f"reads {path}, but step {source} has not run")
        value: Any = self.properties[source]
        for key in keys[1:]:
            try:
                value = value[key]
            except (KeyError, IndexError, TypeError):
                raise StepError(
                    step, f"reads {path}, which step {source} does not have (no {key!r})"
                ) from None
        return value

    def json_get(self, argument: Mapping[str, Any], step: str) -> Any:
        reference = argument["PropertyFile"]
        path = reference["Get"] if isinstance(reference, Mapping) else str(reference)
        keys = property_path(path.removeprefix("Steps."))
        if len(keys) != 3 or keys[1] != "PropertyFiles":
            raise UnsupportedError(f"step {step}: JsonGet from {path!r} is not supported")
        source, _, name = (str(k) for k in keys)
        spec = self.property_files.get(source, {}).get(name)
        if spec is None:
            raise StepError(step, f"JsonGet reads property file {name!r}, which {source} lacks")
        if source not in self.properties:
            raise StepError(step, f"JsonGet reads {name}, but step {source} has not run")
        value = self.read_property_file(source, spec["OutputName"], spec["FilePath"])
        json_path = str(argument["Path"])
        for key in property_path(json_path):
            try:
                value = value[key]
            except (KeyError, IndexError, TypeError):
                raise StepError(
                    step,
                    f"JsonGet path {json_path!r} is not in {source}'s {spec['FilePath']} "
                    f"(no {key!r})",
                ) from None
        return value


def _text(value: Any) -> str:
    """A value inside Std:Join, as SageMaker prints it (booleans lower case)."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class ConditionOutcome:
    passed: bool
    comparison: str
    left: Any
    right: Any


def evaluate_conditions(step: Mapping[str, Any], evaluate: Evaluator) -> ConditionOutcome:
    """A Condition step: every condition must hold (SageMaker ANDs the list)."""
    name = str(step["Name"])
    outcomes = []
    for condition in step["Arguments"]["Conditions"]:
        kind = condition["Type"]
        if kind not in COMPARISONS:
            raise UnsupportedError(f"step {name}: condition {kind!r} is not supported locally")
        left = evaluate(condition["LeftValue"], name)
        right = evaluate(condition["RightValue"], name)
        try:
            held = COMPARISONS[kind](left, right)
        except TypeError:
            raise StepError(name, f"cannot compare {left!r} with {right!r} ({kind})") from None
        outcomes.append(ConditionOutcome(bool(held), kind, left, right))
    passed = all(o.passed for o in outcomes)
    first = outcomes[0]
    return ConditionOutcome(passed, first.comparison, first.left, first.right)


def validate_request(operation: str, request: Mapping[str, Any], step: str) -> None:
    """``request`` checked against botocore's input shape of the SageMaker ``operation``, as
    the API checks it (types, required members, lengths, enums)."""
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model("sagemaker")
    shape = model.operation_model(operation).input_shape
    report = ParamValidator().validate(dict(request), shape)
    if report.has_errors():
        raise StepError(step, f"{operation} would be refused: {report.generate_report()}")
