"""Builds the CDK App: context -> settings -> stack -> cdk-nag checks.

Shared by `app.py` and the tests, so what the tests check is what `cdk synth` produces.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from infra.settings import InfrastructureSettings
from infra.stack import ForecastingStack

# CDK feature flags the constructs rely on, pinned here rather than left to cdk.json so a
# context edit cannot switch them off. With this flag, server access logging is granted by
# a bucket policy instead of the LogDeliveryWrite ACL, which the log bucket (ACLs disabled,
# BucketOwnerEnforced) would reject.
PINNED_FEATURE_FLAGS: dict[str, Any] = {
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
}


def running_under_cdk_cli() -> bool:
    """The CDK CLI always tells the app where to write the cloud assembly."""
    return "CDK_OUTDIR" in os.environ


def environment_from_os() -> Environment:
    """Bind to the CLI's account/region when it provides them; otherwise stay
    environment-agnostic so the template synthesizes with no AWS credentials."""
    return Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
        region=os.environ.get("CDK_DEFAULT_REGION"),
    )


def create_app(
    context: Mapping[str, Any] | None = None,
    *,
    outdir: str | None = None,
    env: Environment | None = None,
) -> tuple[App, ForecastingStack]:
    """Create the App with its single stack and the AwsSolutions checks attached.

    `context` is None under `cdk synth` (the CLI passes cdk.json and `-c` values through the
    environment); tests pass the cdk.json context explicitly.
    """
    app = App(
        context=dict(context) if context is not None else None,
        outdir=outdir,
        post_cli_context=PINNED_FEATURE_FLAGS,
    )
    settings = InfrastructureSettings.from_context(app.node.try_get_context)
    stack = ForecastingStack(
        app,
        "ForecastingStack",
        settings=settings,
        stack_name=settings.project_name,
        description=f"{settings.project_name}: time-series forecasting MLOps",
        env=env,
    )
    # cdk-nag 3.x is a policy-validation plugin: findings fail `app.synth()` unless
    # acknowledged with Validations.of(construct).acknowledge(...) and a reason.
    Validations.of(app).add_plugins(AwsSolutionsChecks(verbose=True))
    return app, stack
