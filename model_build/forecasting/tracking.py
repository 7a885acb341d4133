"""Experiment tracking with MLflow, through Lightning's ``MLFlowLogger``; off unless configured.

Configured by MLflow's own variables: ``MLFLOW_TRACKING_URI`` (a ``file:`` store, an
``http(s)`` server, or a SageMaker managed tracking server's ARN, which the ``sagemaker-mlflow``
plugin resolves) and ``MLFLOW_EXPERIMENT_NAME``. Without ``MLFLOW_TRACKING_URI`` nothing is
imported and nothing is written: training runs as it always did.

One training job is one MLflow run, also when it fails and is resumed: the run id is kept in the
checkpoint folder (which SageMaker syncs to S3 and a resumed job gets back), and a resumed job
logs into that run. Lightning logs from global rank 0 only, and the modules log their epoch
metrics with ``sync_dist``, so each value is logged once, already reduced across ranks. The
run id travels in the model artifact (``config.json``'s ``training.tracking``), so the evaluate
step adds the test metrics and the artifact's location to the same run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forecasting.files import write_atomically

if TYPE_CHECKING:
    from lightning.pytorch.loggers import MLFlowLogger

TRACKING_URI = "MLFLOW_TRACKING_URI"
EXPERIMENT_NAME = "MLFLOW_EXPERIMENT_NAME"
DEFAULT_EXPERIMENT = "forecasting"
RUN_FILE = "mlflow_run.json"  # in the checkpoint folder
ARTIFACT_URI = "MODEL_ARTIFACT_URI"  # the evaluate step's variable: where the model lies
# Where SageMaker names the job inside its containers; recorded as run tags when present.
JOB_VARIABLES = {"TRAINING_JOB_NAME": "sagemaker.training_job"}


@dataclass(frozen=True)
class Tracking:
    """Where a run is recorded: the tracking URI, the experiment and (once created) the run."""

    tracking_uri: str
    experiment: str
    run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def allow_file_store(tracking_uri: str) -> None:
    """MLflow 3 keeps its file store in maintenance mode and refuses it unless
    ``MLFLOW_ALLOW_FILE_STORE`` is true; local mode's default is a file store (nothing to run,
    every file inspectable), so a ``file:`` URI turns that opt-out on for this process."""
    if tracking_uri.startswith("file:"):
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"


def configured(environ: Mapping[str, str] = os.environ) -> Tracking | None:
    """The tracking the environment asks for, or None: then nothing is logged anywhere."""
    uri = environ.get(TRACKING_URI, "").strip()
    if not uri:
        return None
    return Tracking(uri, environ.get(EXPERIMENT_NAME, "").strip() or DEFAULT_EXPERIMENT)


def stored_run_id(checkpoint_dir: Path) -> str | None:
    path = checkpoint_dir / RUN_FILE
    return str(json.loads(path.read_text())["run_id"]) if path.is_file() else None


def training_logger(
    tracking: Tracking,
    checkpoint_dir: Path,
    *,
    run_name: str,
    prefix: str = "",
    environ: Mapping[str, str] = os.environ,
) -> MLFlowLogger:
    """Lightning's MLflow logger for one training job: the run of an earlier attempt of it if
    the checkpoint folder names one, else a new run (created on rank 0 at the first log)."""
    from lightning.pytorch.loggers import MLFlowLogger

    allow_file_store(tracking.tracking_uri)
    tags = {tag: environ[name] for name, tag in JOB_VARIABLES.items() if environ.get(name)}
    return MLFlowLogger(
        experiment_name=tracking.experiment,
        run_name=run_name,
        tracking_uri=tracking.tracking_uri,
        tags=tags or None,
        prefix=prefix,
        run_id=stored_run_id(checkpoint_dir),
        log_model=False,  # the model is the job's artifact; its location is logged instead
    )


def remember_run(logger: MLFlowLogger, tracking: Tracking, checkpoint_dir: Path) -> Tracking:
    """Create the run now (rank 0) and keep its id beside the checkpoints, before any epoch, so
    a job stopped at any point resumes into it."""
    run_id = str(logger.run_id)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    write_atomically(checkpoint_dir / RUN_FILE, json.dumps({"run_id": run_id}) + "\n")
    return Tracking(tracking.tracking_uri, tracking.experiment, run_id)


def log_evaluation(
    tracking: Mapping[str, Any], report: Mapping[str, Any], artifact_uri: str | None
) -> str:
    """The test metrics (``test_<name>``) and the model artifact's location, in the training
    job's run; its id."""
    from mlflow.tracking import MlflowClient

    allow_file_store(str(tracking["tracking_uri"]))
    client = MlflowClient(tracking_uri=str(tracking["tracking_uri"]))
    run_id = str(tracking["run_id"])
    for name, item in report.get("regression_metrics", {}).items():
        client.log_metric(run_id, f"test_{name}", float(item["value"]))
    if artifact_uri:
        client.set_tag(run_id, "model_artifact", artifact_uri)
    return run_id


def tag_run(tracking: Mapping[str, Any], tags: Mapping[str, str]) -> None:
    """Tags on a finished run (the model package it became, the pipeline execution)."""
    from mlflow.tracking import MlflowClient

    allow_file_store(str(tracking["tracking_uri"]))
    client = MlflowClient(tracking_uri=str(tracking["tracking_uri"]))
    for key, value in tags.items():
        client.set_tag(str(tracking["run_id"]), key, value)
