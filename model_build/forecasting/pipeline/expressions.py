"""Pipeline definition expressions: references to parameters, execution ids and step properties.

SageMaker resolves these JSON objects when the execution runs (schema version 2020-12-01), so
a value that only exists then (a step's output URI, the execution id) can be passed on.
"""

from __future__ import annotations

from typing import Any


def get(path: str) -> dict[str, str]:
    return {"Get": path}


def parameter(name: str) -> dict[str, str]:
    return get(f"Parameters.{name}")


def join(*values: Any, on: str = "") -> dict[str, Any]:
    return {"Std:Join": {"On": on, "Values": list(values)}}


def output_uri(step_name: str, output: str) -> dict[str, str]:
    return get(f"Steps.{step_name}.ProcessingOutputConfig.Outputs['{output}'].S3Output.S3Uri")


def lambda_output(step_name: str, output: str) -> dict[str, str]:
    """A Lambda step's output parameter (the SageMaker Python SDK's ``LambdaOutput.expr``)."""
    return get(f"Steps.{step_name}.OutputParameters['{output}']")


MODEL_ARTIFACT = get("Steps.Train.ModelArtifacts.S3ModelArtifacts")
