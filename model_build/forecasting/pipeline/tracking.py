"""MLflow tracking in the pipeline definition, when the deployment has a tracking server.

The Train step gets MLflow's variables (:mod:`forecasting.tracking` reads them); the Evaluate
step gets the model artifact's URI, which it records in the training run, and writes the run's
id into evaluation.json (``mlflow.run_id``). The registered model package names the tracking
server and the pipeline execution; the run-tagging Lambda (``lambdas/registration_tracking``)
reads the run id from the registered evaluation.json, tags the run with the package and puts
``mlflow_run_id`` into the package's metadata. The definition does not put the run id there
itself with a ``Std:JsonGet``: the SageMaker Python SDK types CustomerMetadataProperties values
as ``str | PipelineVariable`` (``Model.register``) and serializes what it is given, but neither
its tests nor AWS's documentation show a JsonGet resolved there, and a path missing from the
file would fail the registration. Nothing that differs per execution enters a cached step's
arguments: the execution ARN is only in the registration, which is never cached.

Both tracked steps call the tracking server, so they run without network isolation (an
isolated container has no network at all: CreateTrainingJob's ``EnableNetworkIsolation``,
CreateProcessingJob's ``NetworkConfig``); with private subnets, the server's endpoint must be
reachable from them.
"""

from __future__ import annotations

from typing import Any

from forecasting.pipeline.expressions import MODEL_ARTIFACT, get
from forecasting.tracking import ARTIFACT_URI, EXPERIMENT_NAME, TRACKING_URI


def with_tracking(
    steps: list[dict[str, Any]], tracking_uri: str | None, experiment: str
) -> list[dict[str, Any]]:
    """``steps`` (the top level) with tracking wired in; unchanged without a tracking URI."""
    if not tracking_uri:
        return steps
    for step in steps:
        arguments = step["Arguments"]
        if step["Name"] == "Train":
            arguments.setdefault("Environment", {}).update(
                {TRACKING_URI: tracking_uri, EXPERIMENT_NAME: experiment}
            )
            arguments["EnableNetworkIsolation"] = False
        elif step["Name"] == "Evaluate":
            arguments.setdefault("Environment", {})[ARTIFACT_URI] = MODEL_ARTIFACT
            arguments["NetworkConfig"]["EnableNetworkIsolation"] = False
        elif step["Type"] == "Condition":
            for branch in arguments["IfSteps"]:
                if branch["Type"] == "RegisterModel":
                    branch["Arguments"]["CustomerMetadataProperties"].update(
                        {
                            "mlflow_tracking_server": tracking_uri,
                            "pipeline_execution_arn": get("Execution.PipelineExecutionArn"),
                        }
                    )
    return steps
