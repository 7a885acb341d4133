"""Every boto3 call the CodeBuild runner and the Lambdas can make is allowed by their role.

The calls are read from the source (every branch, error paths included) and mapped to IAM
actions; the allowed actions are read from the synthesized policies of the role that runs the
code. A new call without a matching permission fails here instead of in a deployed account.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_cdk import Stack

from tests.infra.aws_calls import allowed_actions, api_calls, iam_actions, is_allowed
from tests.infra.synthesized import SynthesizedApp

ROOT = Path(__file__).resolve().parents[2]
PIPELINE_PACKAGE = ROOT / "model_build/forecasting/pipeline"


def _role_id(app: SynthesizedApp, role) -> str:
    return str(Stack.of(role).resolve(role.node.default_child.logical_id))


def _code(app: SynthesizedApp, who: str) -> tuple[list[Path], list[str], object]:
    stack = app.stack
    if who == "codebuild runner":
        paths = [PIPELINE_PACKAGE / "runner.py", PIPELINE_PACKAGE / "source.py"]
        return paths, ["sagemaker", "s3"], stack.source_pipeline.project.role
    if who == "batch-transform lambda":
        paths = sorted((ROOT / "lambdas/batch_transform").glob("*.py"))
        return paths, ["sagemaker"], stack.batch_inference.batch_transform_function.role
    paths = sorted((ROOT / "lambdas/publish").glob("*.py"))
    # SPICE refreshes only happen with QuickSight configured (tested below)
    services = ["s3", "sns", "quicksight"] if stack.quicksight else ["s3", "sns"]
    return paths, services, stack.batch_inference.publish_function.role


def _required(paths: list[Path], services: list[str]) -> set[str]:
    calls = api_calls(paths, services)
    assert calls, f"no AWS calls found in {paths}: the scanner is broken"
    actions = iam_actions(calls)
    # Every SageMaker resource our code creates carries the project tag.
    if any(service == "sagemaker" and op.startswith("Create") for service, op in calls):
        actions.add("sagemaker:AddTags")
    return actions


@pytest.mark.parametrize("who", ["codebuild runner", "batch-transform lambda", "publish lambda"])
def test_every_call_is_allowed_and_no_action_is_a_wildcard(default_app, who):
    paths, services, role = _code(default_app, who)
    allowed = allowed_actions(default_app.template.to_json(), _role_id(default_app, role))
    assert "*" not in allowed and not any(a.endswith(":*") for a in allowed), allowed
    missing = sorted(a for a in _required(paths, services) if not is_allowed(a, allowed))
    assert not missing, f"{who} calls {missing}, which its role does not allow"


def test_the_publish_lambda_may_refresh_spice_when_quicksight_is_configured(quicksight_app):
    app = quicksight_app
    paths, services, role = _code(app, "publish lambda")
    allowed = allowed_actions(app.template.to_json(), _role_id(app, role))
    assert "quicksight:CreateIngestion" in _required(paths, services)
    assert is_allowed("quicksight:CreateIngestion", allowed)


def test_the_scanner_finds_the_runner_calls():
    """A guard on the scanner itself: the runner's known calls are all found."""
    calls = api_calls([PIPELINE_PACKAGE / "runner.py", PIPELINE_PACKAGE / "source.py"],
                      ["sagemaker", "s3"])  # fmt: skip
    assert {
        ("sagemaker", "DescribePipeline"),
        ("sagemaker", "CreatePipeline"),
        ("sagemaker", "UpdatePipeline"),
        ("sagemaker", "StartPipelineExecution"),
        ("sagemaker", "DescribePipelineExecution"),
        ("sagemaker", "ListPipelineExecutionSteps"),
        ("s3", "PutObject"),
    } <= calls
