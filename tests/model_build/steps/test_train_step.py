"""The training and evaluation steps end to end, in one process, on tiny data."""

from __future__ import annotations

import json

import pytest
import torch

from forecasting import artifact
from forecasting.errors import ConfigError
from forecasting.steps import evaluate, train

from .conftest import TINY_MODEL, train_paths


def test_train_then_evaluate_writes_model_and_sagemaker_metrics(tmp_path, channels):
    summary = train.main([*TINY_MODEL, *train_paths(tmp_path, channels), "--max-epochs", "2"])
    assert summary["epochs_completed"] == 2
    assert summary["resumed_from"] is None
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert json.loads((tmp_path / "output" / "training_summary.json").read_text())["ranks"]

    _, config = artifact.load(tmp_path / "model")
    assert config["preprocessing"]["targets"] == ["load", "temp", "price"]
    assert config["model"]["hparams"]["pred_len"] == 4

    report = evaluate.main(
        [
            "--model-dir", str(tmp_path / "model"),
            "--test", str(channels / "test"),
            "--output-dir", str(tmp_path / "evaluation"),
        ]
    )  # fmt: skip
    written = json.loads((tmp_path / "evaluation" / "evaluation.json").read_text())
    assert written == json.loads(json.dumps(report))
    metrics = written["regression_metrics"]
    assert {"mse", "mae", "rmse", "mape", "smape"} <= metrics.keys()
    assert all(isinstance(m["value"], float) for m in metrics.values())
    assert metrics["rmse"]["value"] == pytest.approx(metrics["mse"]["value"] ** 0.5)
    # 400 rows, ratio split: the test split is the last 80 rows plus 16 rows of context
    assert written["evaluation"]["windows"] == 80 - 4 + 1


def test_checkpoints_load_under_weights_only(tmp_path, channels):
    train.main([*TINY_MODEL, *train_paths(tmp_path, channels), "--max-epochs", "1"])
    for name in ("last.ckpt", "best.ckpt"):
        checkpoint = torch.load(tmp_path / "checkpoints" / name, weights_only=True)
        assert checkpoint["hyper_parameters"]["d_model"] == 16


def test_batch_must_be_a_multiple_of_the_world_size(tmp_path, channels):
    args = [*TINY_MODEL, *train_paths(tmp_path, channels), "--processes-per-host", "3"]
    with pytest.raises(ConfigError, match="multiple of the world size 3"):
        train.main(args)


def test_horizon_longer_than_the_data_is_a_config_error(tmp_path, channels):
    args = [*TINY_MODEL, *train_paths(tmp_path, channels), "--pred-len", "500"]
    with pytest.raises(ConfigError, match="500"):
        train.main(args)


def test_seq_len_beyond_the_preprocessed_context_is_a_config_error(tmp_path, channels):
    args = [*TINY_MODEL, *train_paths(tmp_path, channels), "--seq-len", "32"]
    with pytest.raises(ConfigError, match="rerun preprocess with --seq-len 32"):
        train.main(args)
