"""Private networking: cdk.json's subnets and security groups reach every job and the transform,
and the roles those run as may attach them; without them nothing changes."""

from __future__ import annotations

import pytest
from aws_cdk import Stack

from infra.networking import VPC_JOB_ACTIONS
from lambdas.batch_transform.planning import Settings as TransformSettings
from lambdas.batch_transform.planning import Skip, plan_transform
from lambdas.errors import ConfigError
from tests.infra.aws_calls import allow_statements, allowed_actions, allows
from tests.infra.conftest import SECURITY_GROUPS, SUBNETS
from tests.lambdas.batch_transform_events import ENVIRON, EVENT


def _environment(app, construct) -> dict:
    resource = app.stack.resolve(construct.node.default_child.logical_id)
    props = app.template.to_json()["Resources"][resource]["Properties"]
    return props["Environment"].get("EnvironmentVariables") or props["Environment"]["Variables"]


def _codebuild_environment(app) -> dict[str, object]:
    variables = _environment(app, app.stack.source_pipeline.project)
    return {v["Name"]: v["Value"] for v in variables}


def _role_id(role) -> str:
    return str(Stack.of(role).resolve(role.node.default_child.logical_id))


def _role_actions(app, role) -> list[str]:
    return allowed_actions(app.template.to_json(), _role_id(role))


def test_the_runner_and_the_transform_lambda_get_the_vpc(quicksight_app):
    app = quicksight_app
    expected = {"SUBNET_IDS": ",".join(SUBNETS), "SECURITY_GROUP_IDS": ",".join(SECURITY_GROUPS)}
    assert expected.items() <= _codebuild_environment(app).items()
    function = app.stack.batch_inference.batch_transform_function
    assert expected.items() <= _environment(app, function).items()
    for role in (app.stack.pipeline.role, app.stack.batch_inference.transform_role):
        assert set(VPC_JOB_ACTIONS) <= set(_role_actions(app, role))


def test_without_a_vpc_nothing_names_one(default_app):
    app = default_app
    assert "SUBNET_IDS" not in _codebuild_environment(app)
    function = app.stack.batch_inference.batch_transform_function
    assert "SUBNET_IDS" not in _environment(app, function)
    assert not any(a.startswith("ec2:") for a in _role_actions(app, app.stack.pipeline.role))


def test_the_transform_model_is_isolated_and_in_the_vpc_when_one_is_set():
    for environ, vpc in (
        (ENVIRON, None),
        ({**ENVIRON, "SUBNET_IDS": "subnet-0a1b2c3d", "SECURITY_GROUP_IDS": "sg-0a1b2c3d"},
         {"Subnets": ["subnet-0a1b2c3d"], "SecurityGroupIds": ["sg-0a1b2c3d"]}),
    ):  # fmt: skip
        plan = plan_transform(EVENT, TransformSettings.from_env(environ))
        assert not isinstance(plan, Skip)
        assert plan.create_model["EnableNetworkIsolation"] is True
        assert plan.create_model.get("VpcConfig") == vpc


def test_the_project_images_are_pulled_by_the_roles_that_run_them(default_app):
    app = default_app
    repository = app.stack.source_pipeline.image_repository
    arn = f"<{app.stack.resolve(repository.node.default_child.logical_id)}.Arn>"
    for role in (app.stack.pipeline.role, app.stack.batch_inference.transform_role):
        statements = allow_statements(app.template.to_json(), _role_id(role))
        for action in ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"):
            assert allows(statements, action, arn), (role, action)


def test_half_a_vpc_is_refused_by_the_transform_lambda():
    with pytest.raises(ConfigError, match="SUBNET_IDS and SECURITY_GROUP_IDS go together"):
        TransformSettings.from_env({**ENVIRON, "SUBNET_IDS": "subnet-0a1b2c3d"})
