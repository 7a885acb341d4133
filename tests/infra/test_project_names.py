"""Every AWS name the stack builds from `projectName` is one AWS accepts.

`projectName`'s rule lives once, in `infra.settings`; what it must guarantee is each service's
own name rule, read from botocore's service models (the request member's pattern and length
limits). The app is synthesized with the longest name the rule allows, made of the characters
that the narrowest patterns are most likely to refuse (digits, repeated hyphens).
"""

from __future__ import annotations

import re
from typing import Any

import botocore.session
import pytest

from forecasting.errors import ConfigError
from infra.settings import InfrastructureSettings, load_cdk_json_context
from tests.infra.synthesized import SynthesizedApp

LONGEST = "a1--" + "b" * 27 + "9"  # 32 characters: the most the rule allows
SESSION = botocore.session.get_session()


def _member(service: str, operation: str, *path: str) -> Any:
    shape = SESSION.get_service_model(service).operation_model(operation).input_shape
    for name in path:
        shape = shape.members[name]
    return shape


# (resource type, property) -> the request member whose rule the value must meet
NAMED = {
    ("AWS::SageMaker::ModelPackageGroup", "ModelPackageGroupName"): _member(
        "sagemaker", "CreateModelPackageGroup", "ModelPackageGroupName"
    ),
    ("AWS::CodePipeline::Pipeline", "Name"): _member(
        "codepipeline", "CreatePipeline", "pipeline", "name"
    ),
    ("AWS::CodeBuild::Project", "Name"): _member("codebuild", "CreateProject", "name"),
    ("AWS::KMS::Alias", "AliasName"): _member("kms", "CreateAlias", "AliasName"),
    ("AWS::CodeCommit::Repository", "RepositoryName"): _member(
        "codecommit", "CreateRepository", "repositoryName"
    ),
}
PIPELINE_NAME = _member("sagemaker", "CreatePipeline", "PipelineName")


def _accepts(shape: Any, value: str) -> bool:
    limits = shape.metadata
    pattern = limits.get("pattern")
    return limits.get("min", 1) <= len(value) <= limits.get("max", len(value)) and (
        pattern is None or re.fullmatch(pattern.strip("^$"), value) is not None
    )


def test_the_longest_project_name_is_valid():
    context = load_cdk_json_context() | {"projectName": LONGEST}
    assert InfrastructureSettings.from_context(context).project_name == LONGEST
    with pytest.raises(ConfigError, match="projectName"):
        InfrastructureSettings.from_context(context | {"projectName": LONGEST + "x"})


@pytest.fixture(scope="module")
def longest_app(build_app) -> SynthesizedApp:
    return build_app(projectName=LONGEST)


def test_every_name_built_from_the_project_name_meets_its_service_rule(longest_app):
    checked = []
    for resource in longest_app.template_json["Resources"].values():
        for (kind, prop), shape in NAMED.items():
            value = resource.get("Properties", {}).get(prop) if resource["Type"] == kind else None
            if isinstance(value, str) and LONGEST in value:
                assert _accepts(shape, value), f"{kind}.{prop} {value!r}: {shape.metadata}"
                checked.append(kind)
    assert set(checked) == {kind for kind, _ in NAMED}


def test_the_sagemaker_pipeline_name_the_runner_gets_meets_sagemakers_rule(longest_app):
    """The runner creates the pipeline outside CloudFormation, under PIPELINE_NAME."""
    names = [
        variable["Value"]
        for resource in longest_app.template_json["Resources"].values()
        if resource["Type"] == "AWS::CodeBuild::Project"
        for variable in resource["Properties"]["Environment"]["EnvironmentVariables"]
        if variable["Name"] == "PIPELINE_NAME"
    ]
    assert names == [LONGEST]
    assert _accepts(PIPELINE_NAME, LONGEST)
