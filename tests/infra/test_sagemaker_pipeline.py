"""The SageMaker Pipeline, registry and execution role as synthesized."""

from __future__ import annotations

import json
from typing import Any

from forecasting.pipeline.steps import STEPS
from tests.infra.synthesized import SynthesizedApp


def _one(app: SynthesizedApp, resource_type: str) -> tuple[str, dict[str, Any]]:
    (found,) = app.template.find_resources(resource_type).items()
    return found


def _pipeline_role_id(app: SynthesizedApp) -> str:
    """The execution role's logical id (the stack holds other constructs' roles too)."""
    return str(app.stack.resolve(app.stack.pipeline.role.node.default_child.logical_id))


def _placeholder(part: Any) -> str:
    """A CloudFormation intrinsic -> the kind of text it resolves to, for parsing."""
    if isinstance(part, str):
        return part
    (function, argument), *_ = part.items()
    if function == "Ref":
        return f"ref-{argument}"
    if function == "Fn::GetAtt":
        return f"arn:aws:iam::123456789012:role/{argument[0]}"
    if function == "Fn::FindInMap":
        return f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/{argument[2]}:image"
    if function == "Fn::Sub":
        return argument if isinstance(argument, str) else argument[0]
    raise AssertionError(f"unexpected intrinsic {function}")


def definition(app: SynthesizedApp) -> dict[str, Any]:
    _, pipeline = _one(app, "AWS::SageMaker::Pipeline")
    body = pipeline["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]
    if isinstance(body, str):
        return json.loads(body)
    separator, parts = body["Fn::Join"]
    return json.loads(separator.join(_placeholder(p) for p in parts))


def test_the_pipeline_definition_has_every_step_and_resolved_resources(default_app):
    built = definition(default_app)
    names = [s["Name"] for s in built["Steps"]]
    assert names == ["Preprocess", "Train", "Evaluate", "CheckMetric"]
    condition = built["Steps"][3]["Arguments"]
    branches = [s["Name"] for s in condition["IfSteps"] + condition["ElseSteps"]]
    assert names + branches == [s.name for s in STEPS]
    train = built["Steps"][1]["Arguments"]
    role_id = _pipeline_role_id(default_app)
    assert train["RoleArn"] == f"arn:aws:iam::123456789012:role/{role_id}"
    assert train["AlgorithmSpecification"]["TrainingImage"].endswith("/training:image")
    assert train["HyperParameters"]["sagemaker_torch_distributed_enabled"] == "true"  # g5
    code = train["HyperParameters"]["sagemaker_submit_directory"]
    assert code.startswith('"s3://') and code.endswith('.gz"')  # a gzipped tar, as a file asset


def test_images_come_from_a_region_mapping(default_app):
    mappings = default_app.template_json["Mappings"]
    (table,) = (m for m in mappings.values() if "us-east-1" in m)
    assert {"training", "processing", "inference"} == set(table["eu-west-1"])
    assert "pytorch-training:2.6.0-gpu-py312" in table["eu-west-1"]["training"]
    assert "pytorch-inference:2.6.0-cpu-py312" in table["eu-west-1"]["inference"]
    assert len(table) >= 20


def test_model_package_group_and_pipeline_are_named_after_the_project(default_app):
    _, group = _one(default_app, "AWS::SageMaker::ModelPackageGroup")
    _, pipeline = _one(default_app, "AWS::SageMaker::Pipeline")
    assert group["Properties"]["ModelPackageGroupName"] == "ts-forecasting"
    assert pipeline["Properties"]["PipelineName"] == "ts-forecasting"
    assert built_group(default_app) == "ts-forecasting"


def built_group(app: SynthesizedApp) -> str:
    register = definition(app)["Steps"][3]["Arguments"]["IfSteps"][0]["Arguments"]
    return register["ModelPackageGroupName"]


def test_the_execution_role_passes_only_itself_and_has_no_service_wildcards(default_app):
    role_id = _pipeline_role_id(default_app)
    statements = [
        statement
        for policy in default_app.template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions = [
        a
        for s in statements
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert not any(a.endswith(":*") or a == "*" for a in actions)
    (pass_role,) = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert pass_role["Resource"] == {"Fn::GetAtt": [role_id, "Arn"]}
    star = [s for s in statements if s["Resource"] == "*"]
    assert {
        a for s in star for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    } == {
        "ecr:GetAuthorizationToken",
        "cloudwatch:PutMetricData",
    }


def test_a_gpu_free_setting_renders_the_sm_hosts_path(build_app):
    app = build_app(trainingInstanceType="ml.c5.2xlarge", trainingInstanceCount=2)
    train = definition(app)["Steps"][1]["Arguments"]
    assert "sagemaker_torch_distributed_enabled" not in train["HyperParameters"]
