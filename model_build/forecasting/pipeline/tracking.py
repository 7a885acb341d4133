"""MLflow tracking in the pipeline definition, when the deployment has a tracking server.

The Train step gets MLflow's variables (:mod:`forecasting.tracking` reads them); the Evaluate
step gets the model artifact's URI, which it records in the training run. The registered model
package names the run (``mlflow_run_id``, from evaluation.json) and the pipeline execution, so
the registry entry leads to both. Nothing that differs per execution enters a cached step's
arguments: the execution ARN is only in the registration, which is never cached.

Both tracked steps call the tracking server, so they run without network isolation (an
isolated container has no network at all: CreateTrainingJob's ``EnableNetworkIsolation``,
CreateProcessingJob's ``NetworkConfig``); with private subnets, the server's endpoint must be
reachable from them.
"""

from __future__ import annotations

from typing import Any

from forecasting.pipeline.expressions import MODEL_ARTIFACT, get
from forecasting.pipeline.steps import EVALUATION_PROPERTY_FILE
from forecasting.tracking import ARTIFACT_URI, EXPERIMENT_NAME, TRACKING_URI

RUN_ID_PATH = "mlflow.run_id"  # in evaluation.json, where the evaluate step puts it


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
                            "mlflow_run_id": {
                                "Std:JsonGet": {
                                    "PropertyFile": get(
                                        f"Steps.Evaluate.PropertyFiles.{EVALUATION_PROPERTY_FILE}"
                                    ),
                                    "Path": RUN_ID_PATH,
                                }
                            },
                            "mlflow_tracking_server": tracking_uri,
                            "pipeline_execution_arn": get("Execution.PipelineExecutionArn"),
                        }
                    )
    return steps
