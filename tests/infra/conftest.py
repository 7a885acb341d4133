"""Shared fixtures for the CDK tests.

Each app is built from the cdk.json context with the same `create_app` that app.py uses,
and synthesized once per session: a synth pays ~8-12 s of jsii start-up the first time.
"""

from __future__ import annotations

import os

# Must be set before aws_cdk is imported: jsii prints a Node 20 end-of-life banner otherwise.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aws_cdk import Environment
from aws_cdk.assertions import Template
from moto import mock_aws

from infra.application import create_app
from infra.lambda_layers import SKIP_BUNDLING_CONTEXT
from infra.settings import load_cdk_json_context
from lambdas.batch_transform import handler as transform_handler
from lambdas.publish import handler as publish_handler
from tests.infra.synthesized import SynthesizedApp

BuildApp = Callable[..., SynthesizedApp]
QUICKSIGHT_PRINCIPAL = "arn:aws:quicksight:us-east-1:123456789012:user/default/alice"
SUBNETS = ("subnet-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f60719")
SECURITY_GROUPS = ("sg-0a1b2c3d4e5f60718",)
FORECAST_SCHEDULE = "cron(0 6 * * ? *)"
MOTO_REGION = "us-east-1"  # where the handler tests' moto resources live


@pytest.fixture(scope="session")
def cdk_context() -> dict[str, Any]:
    return load_cdk_json_context()


@pytest.fixture(scope="session")
def build_app(tmp_path_factory: pytest.TempPathFactory, cdk_context: dict[str, Any]) -> BuildApp:
    """Synthesize the app with cdk.json's context plus `overrides`; not bound to an
    account or region, as on a machine with no AWS credentials. Asset bundling (pip for the
    plotting layer) is skipped, so the tests stay offline."""

    def build(env: Environment | None = None, **overrides: Any) -> SynthesizedApp:
        outdir = tmp_path_factory.mktemp("cdk.out")
        context = {**cdk_context, **SKIP_BUNDLING_CONTEXT, **overrides}
        app, stack = create_app(context, outdir=str(outdir), env=env)
        app.synth()
        return SynthesizedApp(app=app, stack=stack, template=Template.from_stack(stack))

    return build


@pytest.fixture(scope="session")
def default_app(build_app: BuildApp) -> SynthesizedApp:
    """The app exactly as cdk.json configures it (removalPolicy retain)."""
    return build_app()


@pytest.fixture(scope="session")
def destroy_app(build_app: BuildApp) -> SynthesizedApp:
    """removalPolicy destroy adds the auto-delete custom resource, a different resource set
    that the compliance checks must also pass."""
    return build_app(removalPolicy="destroy")


@pytest.fixture(scope="session")
def quicksight_app(build_app: BuildApp) -> SynthesizedApp:
    """The optional parts switched on: QuickSight, an e-mail subscription, a VPC, the forecast
    schedule, the debounced forecast on new input and retraining on drift."""
    return build_app(
        quickSightPrincipalArn=QUICKSIGHT_PRINCIPAL,
        notificationEmail="ops@example.com",
        subnetIds=list(SUBNETS),
        securityGroupIds=list(SECURITY_GROUPS),
        forecastSchedule=FORECAST_SCHEDULE,
        forecastOnNewData=15,
        retrainOnDrift=True,
    )


@pytest.fixture(scope="session")
def mlflow_app(build_app: BuildApp) -> SynthesizedApp:
    """The stack creates a managed MLflow tracking server (mlflowTracking "create")."""
    return build_app(mlflowTracking="create")


@pytest.fixture(scope="session")
def bound_app(build_app: BuildApp) -> SynthesizedApp:
    """Bound to an account and region, as `cdk deploy` binds it: ARNs then carry real values
    instead of placeholders, and every acknowledgment must still match its finding."""
    return build_app(env=Environment(account="123456789012", region="eu-west-1"))


@pytest.fixture(scope="session", params=["retain", "destroy", "bound", "quicksight", "mlflow"])
def any_app(request: pytest.FixtureRequest) -> SynthesizedApp:
    """Both removal modes, a bound environment and the optional parts (QuickSight), for checks
    that must hold whatever cdk.json chooses and wherever the stack is deployed."""
    names = {
        "retain": "default_app",
        "destroy": "destroy_app",
        "bound": "bound_app",
        "quicksight": "quicksight_app",
        "mlflow": "mlflow_app",
    }
    app: SynthesizedApp = request.getfixturevalue(names[request.param])
    return app


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto, fake credentials and fresh cached clients for running the handlers in-process."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": MOTO_REGION,
        "AWS_REGION": MOTO_REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        transform_handler.reset_client()
        publish_handler.reset_client()
        yield
        transform_handler.reset_client()
        publish_handler.reset_client()
