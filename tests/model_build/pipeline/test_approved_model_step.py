"""The FindApprovedModel Lambda step and the Evaluate input it feeds."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from forecasting.errors import ConfigError
from forecasting.pipeline import steps
from forecasting.pipeline.caching import cache_key
from forecasting.pipeline.definition import build_definition
from forecasting.pipeline.settings import PipelineSettings
from forecasting.steps import evaluate
from lambdas.approved_model import finding
from local_mode.interpreter import Evaluator

from .test_definition import RESOURCES, flat_steps

APPROVED_URI = {"Get": "Steps.FindApprovedModel.OutputParameters['ModelDataUrl']"}


@pytest.fixture(scope="module")
def by_name() -> dict[str, dict[str, Any]]:
    return {
        s["Name"]: s for s in flat_steps(build_definition(PipelineSettings(), RESOURCES)["Steps"])
    }


def test_the_lambda_step_has_the_sdks_shape_and_runs_before_evaluate(by_name):
    names = list(by_name)
    assert names.index("Train") < names.index("FindApprovedModel") < names.index("Evaluate")
    find = by_name["FindApprovedModel"]
    # LambdaStep.to_request, aws/sagemaker-python-sdk src/sagemaker/workflow/lambda_step.py:
    # Name, Type "Lambda", Arguments (the function's event), FunctionArn, OutputParameters
    assert set(find) == {"Name", "Type", "Arguments", "FunctionArn", "OutputParameters"}
    assert find["Type"] == "Lambda"
    assert find["FunctionArn"] == RESOURCES.approved_model_function_arn
    assert find["Arguments"] == {
        "ModelPackageGroupName": RESOURCES.model_package_group,
        "NoApprovedModelUri": "s3://ts-forecasting-artifacts/ts-forecasting/no-approved-model/",
    }
    assert find["OutputParameters"] == [
        {"OutputName": name, "OutputType": "String"} for name in finding.OUTPUTS
    ]


def test_evaluate_reads_the_model_the_lambda_step_found(by_name):
    arguments = by_name["Evaluate"]["Arguments"]
    inputs = {i["InputName"]: i["S3Input"] for i in arguments["ProcessingInputs"]}
    assert inputs["approved-model"]["S3Uri"] == APPROVED_URI
    assert inputs["approved-model"]["LocalPath"] == "/opt/ml/processing/approved-model"
    argv = arguments["AppSpecification"]["ContainerArguments"]

    def value(flag: str) -> Any:
        return argv[argv.index(flag) + 1]

    assert value("--approved-model") == "/opt/ml/processing/approved-model"
    assert value("--approved-version") == {
        "Get": "Steps.FindApprovedModel.OutputParameters['ModelPackageVersion']"
    }
    assert value("--approved-arn") == {
        "Get": "Steps.FindApprovedModel.OutputParameters['ModelPackageArn']"
    }
    # SageMaker copies the approved model in: the job still calls no service
    assert arguments["NetworkConfig"]["EnableNetworkIsolation"] is True


def test_the_approved_model_is_part_of_evaluates_cache_key(by_name):
    """Another approved version (another URI once resolved) is another Evaluate: a cached
    evaluation never carries a comparison with a model that is no longer the approved one."""
    definition = {"Version": "2020-12-01", "Steps": list(by_name.values())}

    def key(model_data_url: str) -> str:
        properties = {
            "Train": {"ModelArtifacts": {"S3ModelArtifacts": "s3://b/train/model.tar.gz"}},
            "Preprocess": {"ProcessingOutputConfig": {"Outputs": {
                "test": {"S3Output": {"S3Uri": "s3://b/preprocess/test"}}}}},
            "FindApprovedModel": {"OutputParameters": {
                "ModelDataUrl": model_data_url, "ModelPackageVersion": "1",
                "ModelPackageArn": "arn", "ModelFamily": "informer"}},
        }  # fmt: skip
        evaluator = Evaluator(definition, {}, "exec-1", properties, lambda *a: None)
        return cache_key("Processing", evaluator(by_name["Evaluate"]["Arguments"], "Evaluate"))

    assert key("s3://b/e1/train/model.tar.gz") != key("s3://b/e2/train/model.tar.gz")
    assert key("s3://b/e1/train/model.tar.gz") == key("s3://b/e1/train/model.tar.gz")


def test_the_definition_needs_the_functions_arn():
    with pytest.raises(ConfigError, match="APPROVED_MODEL_FUNCTION_ARN"):
        build_definition(PipelineSettings(), replace(RESOURCES, approved_model_function_arn=""))


def test_the_step_and_the_function_agree_on_names():
    """model_build and the Lambda asset ship apart: each keeps its copy, pinned here."""
    assert steps.APPROVED_MODEL_OUTPUTS == finding.OUTPUTS
    assert evaluate.NO_APPROVED_MODEL_FILE == finding.NO_APPROVED_MODEL_FILE
    assert evaluate.NONE == finding.NONE
