"""The training and evaluation steps end to end, in one process, on tiny data."""

from __future__ import annotations

import json

import pytest
import torch

from forecasting import artifact
from forecasting.errors import ConfigError, DataValidationError
from forecasting.models.informer.preparation import SPLIT_RULES
from forecasting.steps import evaluate, preprocess, train

from .conftest import TINY_MODEL, train_paths, train_process, write_tiny_csv


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
    # which protocol split the data, and how many points MAPE left out, are on record
    assert written["evaluation"]["split_protocol"] == "ratio"
    assert written["evaluation"]["split_rule"] == SPLIT_RULES["ratio"]
    coverage = written["evaluation"]["mape"]
    assert coverage["points"] + coverage["excluded_points"] == 77 * 4 * 3


def test_targets_with_covariates_train_and_evaluate(tmp_path):
    csv = write_tiny_csv(tmp_path / "tiny.csv")
    channels = tmp_path / "channels"
    preprocess.main(
        ["--data", str(csv), "--targets", "load", "--covariates", "temp,price",
         "--seq-len", "16", "--pred-len", "4", "--output-dir", str(channels)]
    )  # fmt: skip
    train.main([*TINY_MODEL, *train_paths(tmp_path, channels), "--max-epochs", "1"])
    evaluate.main(
        ["--model-dir", str(tmp_path / "model"), "--test", str(channels / "test"),
         "--output-dir", str(tmp_path / "evaluation")]
    )  # fmt: skip
    report = json.loads((tmp_path / "evaluation" / "evaluation.json").read_text())
    assert report["evaluation"]["targets"] == ["load"]
    _, config = artifact.load(tmp_path / "model")
    assert (config["model"]["hparams"]["enc_in"], config["model"]["hparams"]["c_out"]) == (3, 1)


def test_checkpoints_load_under_weights_only(tmp_path, channels):
    train.main([*TINY_MODEL, *train_paths(tmp_path, channels), "--max-epochs", "1"])
    for name in ("last.ckpt", "best.ckpt"):
        checkpoint = torch.load(tmp_path / "checkpoints" / name, weights_only=True)
        assert checkpoint["hyper_parameters"]["d_model"] == 16


def test_last_checkpoint_is_the_latest_epoch_even_without_improvement(tmp_path, channels):
    """At learning rate 0 validation never improves after epoch 0; last.ckpt must still be
    the final epoch, or a resume would train the later epochs again."""
    args = [*TINY_MODEL, *train_paths(tmp_path, channels), "--max-epochs", "3"]
    train.main([*args, "--learning-rate", "0", "--patience", "10"])
    checkpoints = tmp_path / "checkpoints"
    assert torch.load(checkpoints / "last.ckpt", weights_only=True)["epoch"] == 2
    assert torch.load(checkpoints / "best.ckpt", weights_only=True)["epoch"] == 0
    assert sorted(path.name for path in checkpoints.iterdir()) == ["best.ckpt", "last.ckpt"]


def test_batch_must_be_a_multiple_of_the_world_size(tmp_path, channels):
    args = [*TINY_MODEL, *train_paths(tmp_path, channels), "--processes-per-host", "3"]
    with pytest.raises(ConfigError, match="multiple of the world size 3"):
        train.main(args)


def test_horizon_longer_than_the_data_is_named_at_preprocess(tmp_path):
    csv = write_tiny_csv(tmp_path / "tiny.csv")
    with pytest.raises(DataValidationError, match=r"400 rows; expected at least 596 .*horizon 500"):
        preprocess.main(["--data", str(csv), "--pred-len", "500", "--output-dir", str(tmp_path)])


def test_training_takes_the_input_length_and_horizon_that_preprocess_recorded(tmp_path):
    """``-P pred_len=12`` once trained a 24-step model: the horizon has one home now."""
    csv = write_tiny_csv(tmp_path / "tiny.csv")
    channels = tmp_path / "channels"
    preprocess.main(
        ["--data", str(csv), "--seq-len", "24", "--pred-len", "12", "--output-dir", str(channels)]
    )
    windowless = [*TINY_MODEL[2:4], *TINY_MODEL[6:]]
    assert windowless[:2] == ["--label-len", "8"] and "--pred-len" not in windowless
    train.main([*windowless, *train_paths(tmp_path, channels), "--max-epochs", "1"])
    _, config = artifact.load(tmp_path / "model")
    hparams = config["model"]["hparams"]
    assert (hparams["seq_len"], hparams["label_len"], hparams["pred_len"]) == (24, 8, 12)


@pytest.mark.parametrize(("flag", "given", "recorded"), [("seq-len", 32, 16), ("pred-len", 8, 4)])
def test_a_window_length_that_contradicts_preprocess_is_refused(
    tmp_path, channels, flag, given, recorded
):
    args = [*TINY_MODEL, *train_paths(tmp_path, channels), f"--{flag}", str(given)]
    message = (
        f"--{flag} {given} contradicts the {recorded} that preprocess recorded in "
        f"{channels / 'train' / 'preprocessing.json'}; the input length and horizon are set "
        f"once, at preprocess: leave --{flag} out here, or preprocess again with --{flag} {given}"
    )
    with pytest.raises(ConfigError) as raised:
        train.main(args)
    assert str(raised.value) == message


def test_a_user_mistake_ends_in_one_line_without_a_traceback(tmp_path, channels):
    args = [*TINY_MODEL, *train_paths(tmp_path, channels), "--label-len", "64"]
    process = train_process(args)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 2
    assert "configuration error: label_len 64 must not exceed seq_len 16" in output
    assert "Traceback" not in output


def test_missing_channel_names_the_file_and_the_step_that_writes_it(tmp_path):
    process = train_process(["--train", str(tmp_path / "nowhere"), "--progress-bar", "false"])
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 2
    assert f"{tmp_path / 'nowhere' / 'series.parquet'} is missing" in output
    assert "preprocess step" in output


def test_resuming_with_another_architecture_names_the_difference(tmp_path, channels):
    train.main([*TINY_MODEL, *train_paths(tmp_path, channels), "--max-epochs", "1"])
    args = [*TINY_MODEL, *train_paths(tmp_path, channels), "--d-model", "32", "--max-epochs", "2"]
    with pytest.raises(ConfigError, match="d_model 16 -> 32"):
        train.main(args)


def test_the_moving_average_is_validated_checkpointed_and_saved(tmp_path, channels):
    args = [*TINY_MODEL, *train_paths(tmp_path, channels), "--max-epochs", "2"]
    train.main([*args, "--ema-decay", "0.9"])
    checkpoints = tmp_path / "checkpoints"
    best = torch.load(checkpoints / "best.ckpt", weights_only=True)
    last = torch.load(checkpoints / "last.ckpt", weights_only=True)
    # a checkpoint's weights are the average; the optimiser's own weights ride beside them
    assert {"current_model_state", "averaging_state"} <= last.keys()
    averaged, current = last["state_dict"], last["current_model_state"]
    assert averaged.keys() == current.keys()
    assert not all(torch.equal(averaged[k], current[k]) for k in averaged)
    saved = torch.load(tmp_path / "model" / "model.pt", weights_only=True)
    assert saved.keys() == {k.removeprefix("model.") for k in best["state_dict"]}
    assert all(
        torch.equal(saved[k.removeprefix("model.")], v) for k, v in best["state_dict"].items()
    )


def test_a_stopped_run_resumes_its_moving_average(tmp_path, channels):
    """The average goes on from the checkpoint's: it counts every step of both fits."""
    argv = [*TINY_MODEL, *train_paths(tmp_path, channels), "--ema-decay", "0.9", "--patience", "5"]
    first = train.main([*argv, "--max-epochs", "1"])
    last = tmp_path / "checkpoints" / "last.ckpt"
    averaged = torch.load(last, weights_only=True)["averaging_state"]["n_averaged"]
    assert int(averaged) == first["global_steps"] > 0
    second = train.main([*argv, "--max-epochs", "2"])
    assert second["resumed_from"] == str(last)
    averaged = torch.load(last, weights_only=True)["averaging_state"]["n_averaged"]
    assert int(averaged) == second["global_steps"] == 2 * first["global_steps"]


@pytest.mark.parametrize("decay", ["1", "-0.5"])
def test_the_moving_average_decay_must_be_below_one(tmp_path, channels, decay):
    args = [*TINY_MODEL, *train_paths(tmp_path, channels), "--ema-decay", decay]
    with pytest.raises(
        ConfigError, match=f"ema_decay must be at least 0 and below 1, got {float(decay)}"
    ):
        train.main(args)


@pytest.mark.parametrize("rate", ["1", "-0.1"])
def test_dropout_must_be_below_one(tmp_path, channels, rate):
    args = [*TINY_MODEL, *train_paths(tmp_path, channels), "--dropout", rate]
    with pytest.raises(ConfigError, match=rf"dropout must be in \[0, 1\), got {float(rate)}"):
        train.main(args)


@pytest.mark.parametrize(("flags", "clip"), [([], None), (["--gradient-clip", "0.5"], 0.5)])
def test_the_informer_clips_gradients_when_asked(tmp_path, channels, monkeypatch, flags, clip):
    """--gradient-clip reaches the Informer's Trainer (it was accepted and ignored); its default
    stays no clipping."""
    built = []

    def recording_trainer(*args, **kwargs):
        trainer = real_build_trainer(*args, **kwargs)
        built.append(trainer.gradient_clip_val)
        return trainer

    real_build_trainer = train.build_trainer
    monkeypatch.setattr(train, "build_trainer", recording_trainer)
    train.main([*TINY_MODEL, *train_paths(tmp_path, channels), "--max-epochs", "1",
                "--limit-train-batches", "1", "--limit-val-batches", "1", *flags])  # fmt: skip
    assert built == [clip]
