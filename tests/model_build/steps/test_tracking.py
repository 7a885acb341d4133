"""MLflow tracking of the train and evaluate steps (forecasting.tracking), on a file store.

Real steps on tiny data: the params, the per-epoch metrics, the test metrics and the
artifact location land in one MLflow run, also across a failure and a resume; without
``MLFLOW_TRACKING_URI`` nothing is written.
"""

from __future__ import annotations

import json

import pytest

from forecasting import tracking
from forecasting.steps import evaluate, preprocess, train
from forecasting.trainer import EpochSummary
from tests.model_build.steps.conftest import TINY_MODEL, train_paths, write_tiny_csv

WINDOWS = ["--seq-len", "16", "--pred-len", "4"]
SHORT = ["--limit-train-batches", "2", "--limit-val-batches", "1"]


@pytest.fixture(scope="module")
def channels(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    csv = write_tiny_csv(folder / "tiny.csv")
    preprocess.main(["--data", str(csv), *WINDOWS, "--output-dir", str(folder / "channels")])
    return folder / "channels"


@pytest.fixture
def store(tmp_path, monkeypatch):
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv(tracking.TRACKING_URI, uri)
    monkeypatch.setenv(tracking.EXPERIMENT_NAME, "tests")
    monkeypatch.setenv("TRAINING_JOB_NAME", "pipelines-abc-Train-xyz")
    return uri


def client(uri):
    from mlflow.tracking import MlflowClient

    tracking.allow_file_store(uri)
    return MlflowClient(tracking_uri=uri)


def runs(uri):
    mlflow = client(uri)
    experiment = mlflow.get_experiment_by_name("tests")
    return mlflow.search_runs([experiment.experiment_id]) if experiment else []


def fit(run, channels, epochs):
    return train.main([*TINY_MODEL, *SHORT, *train_paths(run, channels), "--max-epochs", epochs])


def test_params_epoch_metrics_test_metrics_and_artifact_land_in_one_run(
    tmp_path, channels, store, monkeypatch
):
    summary = fit(tmp_path, channels, "2")
    (run,) = runs(store)
    assert summary["tracking"] == {"tracking_uri": store, "experiment": "tests",
                                   "run_id": run.info.run_id}  # fmt: skip
    assert run.data.params["train.max_epochs"] == "2"
    assert run.data.params["d_model"] == "16"  # the module's hyperparameters, via Lightning
    assert run.data.tags["sagemaker.training_job"] == "pipelines-abc-Train-xyz"
    assert run.info.status == "FINISHED"
    history = client(store).get_metric_history(run.info.run_id, "val_loss")
    assert len(history) == 2  # once per epoch, from rank 0

    monkeypatch.setenv(tracking.ARTIFACT_URI, "s3://bucket/p/e/train/job/output/model.tar.gz")
    paths = ["--model-dir", str(tmp_path / "model"), "--test", str(channels / "test")]
    report = evaluate.main([*paths, "--output-dir", str(tmp_path / "eval")])
    (run,) = runs(store)
    assert report["mlflow"] == {"run_id": run.info.run_id}
    written = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert written["mlflow"]["run_id"] == run.info.run_id  # what the registration reads
    assert run.data.metrics["test_mse"] == pytest.approx(
        report["regression_metrics"]["mse"]["value"]
    )
    assert run.data.tags["model_artifact"] == "s3://bucket/p/e/train/job/output/model.tar.gz"


def test_a_failed_then_resumed_job_is_one_run(tmp_path, channels, store, monkeypatch):
    original = EpochSummary.on_train_epoch_end

    def crash_after_first_epoch(self, trainer, module):
        original(self, trainer, module)
        if trainer.current_epoch == 0:
            raise RuntimeError("spot instance reclaimed")

    monkeypatch.setattr(EpochSummary, "on_train_epoch_end", crash_after_first_epoch)
    with pytest.raises(RuntimeError, match="reclaimed"):
        fit(tmp_path, channels, "2")
    (failed,) = runs(store)
    assert failed.info.status == "FAILED"
    monkeypatch.setattr(EpochSummary, "on_train_epoch_end", original)
    summary = fit(tmp_path, channels, "2")  # resumes from the checkpoint folder
    (run,) = runs(store)
    assert run.info.run_id == failed.info.run_id == summary["tracking"]["run_id"]
    assert run.info.status == "FINISHED"
    assert [m.step for m in client(store).get_metric_history(run.info.run_id, "epoch")]


def test_without_a_tracking_uri_nothing_is_written(tmp_path, channels, monkeypatch):
    monkeypatch.delenv(tracking.TRACKING_URI, raising=False)
    monkeypatch.chdir(tmp_path)  # MLflow's default store would be ./mlruns
    summary = fit(tmp_path, channels, "1")
    assert "tracking" not in summary
    assert not (tmp_path / "checkpoints" / tracking.RUN_FILE).exists()
    assert not list(tmp_path.rglob("mlruns")) and not list(tmp_path.rglob("mlflow.db"))
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert "tracking" not in config["training"]
