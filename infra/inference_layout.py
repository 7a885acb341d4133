"""What the batch-inference Lambdas run and where they read and write: one home for the runtime,
the code asset's filter, the handlers and the bucket prefixes (the stack, its constructs and the
tests read them from here)."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_lambda as lambda_

from forecasting.pipeline.steps import EVALUATION_FILE

REPO_ROOT = Path(__file__).resolve().parent.parent
# The newest Python runtime aws-cdk-lib 2.275 knows (cdk-nag's L1 compares against the same
# list); boto3 comes with the runtime, matplotlib with the publish Lambda's plotting layer.
LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_14
# The asset is the repository root cut down to the `lambdas` package, so the handlers keep their
# `lambdas.<name>.handler` import path. Dot-entries (.venv, .git) need their own pattern.
LAMBDA_ASSET_EXCLUDE = [
    "*",
    ".*",
    "!lambdas",
    "!lambdas/**",
    "**/__pycache__",
    "**/*.pyc",
    "**/*.md",
]
BATCH_TRANSFORM_HANDLER = "lambdas.batch_transform.handler.handler"
PUBLISH_HANDLER = "lambdas.publish.handler.handler"
COMPARISON_HANDLER = "lambdas.comparison.handler.handler"
APPROVED_MODEL_HANDLER = "lambdas.approved_model.handler.handler"

INFERENCE_PREFIX = "inference/"  # data bucket: the histories every approved model forecasts
# data bucket: the observed values the publish Lambda joins onto forecasts (long CSV
# series_id,target,timestamp,value; see lambdas/publish/README.md)
ACTUALS_KEY = "actuals/actuals.csv"
TRANSFORM_PREFIX = "transform/"  # forecasts bucket: raw job output (lambdas/batch_transform)
FORECASTS_PREFIX = "forecasts"  # forecasts bucket: the published data set (lambdas/publish)
# One manifest over every published run, rewritten by the publish Lambda: the data source of
# the QuickSight data set (the per-run manifests change key with every run).
MANIFEST_KEY = f"{FORECASTS_PREFIX}/manifest.json"


def evaluation_objects(project_name: str) -> str:
    """The artifacts-bucket keys of every pipeline execution's evaluation.json, which the
    publish, comparison and accuracy Lambdas read for a version's registered metrics."""
    return f"{project_name}/*/{EVALUATION_FILE}"
