"""A local run records its training in MLflow's file store under the home, linked both ways to
the model version it registered (the tiny end-to-end run of the interpreter tests, on two
simulated hosts: one run, each epoch's values logged once)."""

from __future__ import annotations

from dataclasses import replace

from forecasting import tracking
from local_mode.layout import Home
from local_mode.runner import Runner
from tests.local_mode.test_interpreter import TINY


def test_a_local_run_records_params_metrics_and_its_model_version(tmp_path, monkeypatch):
    monkeypatch.delenv(tracking.TRACKING_URI, raising=False)
    home = Home(tmp_path / "home")
    said: list[str] = []
    config = replace(TINY, threshold=1e9, hosts=2)  # any model passes: on to Register
    result = Runner(home, "r", config, say=said.append).execute(stop_after="Register")

    from mlflow.tracking import MlflowClient

    uri = (home.root / "mlruns").as_uri()
    tracking.allow_file_store(uri)
    mlflow = MlflowClient(tracking_uri=uri)
    experiment = mlflow.get_experiment_by_name(home.project)
    (run,) = mlflow.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["train.d_model"] == "16" and run.data.params["train.max_epochs"] == "1"
    assert {"train_loss", "val_loss", "test_mse", "test_mae"} <= set(run.data.metrics)
    # one epoch, two ranks: rank 0 logs the reduced value once
    assert len(mlflow.get_metric_history(run.info.run_id, "val_loss")) == 1
    package = result.package
    assert package is not None
    assert run.data.tags["model_package_arn"] == package.arn
    assert run.data.tags["pipeline_execution_arn"].endswith("/execution/r")
    assert run.data.tags["model_artifact"] == result.artifact["model_data_url"]
    assert package.customer_metadata["mlflow_run_id"] == run.info.run_id
    assert any(f"MLflow run {run.info.run_id}" in line for line in said)
