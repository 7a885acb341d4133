"""The TFT through the real entry points: preprocess -> train -> evaluate, DDP, resume, bad input.

Everything runs on the demo panel (12 series x 48 months, 528 training windows) with an encoder
of 8 steps, a horizon of 3 and an 8-wide network, so one epoch takes a fraction of a second.
"""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from forecasting import artifact
from forecasting.channels import read_channel
from forecasting.data.panel import TIME_IDX
from forecasting.data.stallion import demo_panel
from forecasting.errors import ConfigError, DataValidationError
from forecasting.models.tft.module import TFTForecaster
from forecasting.models.tft.preprocessing import TFTPreprocessing
from forecasting.models.tft.training import parameters_digest
from forecasting.steps import evaluate, preprocess, train

from .conftest import (
    PRED_LEN,
    SEQ_LEN,
    TINY_TFT,
    evaluate_run,
    finish,
    finish_all,
    free_port,
    preprocess_demo,
    read_summary,
    step_error,
    train_paths,
    train_process,
)

# The demo panel's column roles, as a user passes them for a file of their own.
DEMO_ROLES = [
    "--group-columns", "agency,sku", "--targets", "volume", "--time-column", "date",
    "--static-categoricals", "agency,sku", "--static-reals", "avg_population_2017",
    "--known-categoricals", "month", "--known-reals", "time_idx,price_regular",
    "--unknown-reals", "avg_max_temp",
]  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tft_channels):
    """preprocess -> train (2 epochs) -> evaluate once; the tests below read what they wrote."""
    run = tmp_path_factory.mktemp("tft_run")
    summary = train.main([*TINY_TFT, *train_paths(run, tft_channels), "--max-epochs", "2"])
    report = evaluate_run(run, tft_channels / "test")
    return run, summary, report


@pytest.fixture
def panel_csv(tmp_path) -> Path:
    path = tmp_path / "panel.csv"
    demo_panel(n_series=6, n_steps=30, seed=1).frame.drop(columns=[TIME_IDX]).to_csv(
        path, index=False
    )
    return path


# --- preprocess ----------------------------------------------------------------------------


def test_preprocess_writes_one_fitted_data_set_for_every_split(tft_channels):
    channels = {name: read_channel(tft_channels / name) for name in ("train", "validation", "test")}
    fitted = {json.dumps(c.preprocessing["dataset_parameters"]) for c in channels.values()}
    assert len(fitted) == 1
    meta = channels["train"].preprocessing
    assert meta["model"] == "tft" and meta["synthetic"] is True
    assert (meta["max_encoder_length"], meta["min_encoder_length"]) == (SEQ_LEN, SEQ_LEN // 2)
    assert meta["horizon"] == PRED_LEN and meta["targets"] == ["volume"]
    assert meta["cutoffs"] == {
        "train": 41, "validation": 44, "test": 47, "protocol": "holdout", "test_origins": 1
    }  # fmt: skip
    # each split holds every row up to its cutoff: the encoder reads the history before it
    for name, channel in channels.items():
        assert channel.frame[TIME_IDX].min() == 0
        assert channel.frame[TIME_IDX].max() == meta["cutoffs"][name]


def test_a_panel_file_with_column_roles_trains_and_evaluates(tmp_path, panel_csv):
    channels = tmp_path / "channels"
    preprocess.main(
        ["--model", "tft", "--data", str(panel_csv), *DEMO_ROLES, "--seq-len", str(SEQ_LEN),
         "--pred-len", str(PRED_LEN), "--split", "tutorial", "--output-dir", str(channels)]
    )  # fmt: skip
    meta = read_channel(channels / "train").preprocessing
    assert meta["schema"]["known_reals"] == ["time_idx", "price_regular"]
    assert meta["cutoffs"] == {
        "train": 26, "validation": 29, "test": 29, "protocol": "tutorial", "test_origins": 1
    }  # fmt: skip
    assert meta["freq"] == "MS" and meta["synthetic"] is False
    summary = train.main([*TINY_TFT, *train_paths(tmp_path, channels), "--max-epochs", "1"])
    assert summary["validation_windows"] == 6
    report = evaluate_run(tmp_path, channels / "test")
    assert report["evaluation"]["protocol"] == "tutorial"
    assert report["evaluation"]["series"] == 6


# --- train and evaluate end to end -----------------------------------------------------------


def test_train_writes_a_tft_model_and_a_summary(trained, tft_channels):
    run, summary, _ = trained
    assert summary == read_summary(run)
    assert (summary["model"], summary["epochs_completed"], summary["resumed_from"]) == (
        "tft",
        2,
        None,
    )
    assert summary["train_windows"] == 528 and summary["validation_windows"] == 12
    assert summary["global_steps"] == 2 * (528 // 32)  # the last partial batch is dropped
    channel = read_channel(tft_channels / "train")
    preprocessing = channel.preprocessing
    [rank] = summary["ranks"]
    assert rank["parameters_sha256"] == summary["parameters_sha256"]
    assert rank["parameters_sha256"] == parameters_digest(channel.tft)
    assert rank["train_windows_seen_per_epoch"] == 528 and math.isfinite(rank["val_loss"])

    model, config = artifact.load(run / "model")
    assert isinstance(model, TFTForecaster) and not model.training
    assert config["model"]["family"] == "tft"
    assert config["model"]["hparams"]["hidden_size"] == 8
    assert config["preprocessing"]["dataset_parameters"] == preprocessing["dataset_parameters"]


def test_step_checkpoints_load_under_weights_only(trained):
    run, _, _ = trained
    for name in ("last.ckpt", "best.ckpt"):
        path = run / "checkpoints" / name
        assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == []
        checkpoint = torch.load(path)  # weights_only=True: torch's default
        assert checkpoint["hyper_parameters"]["hidden_size"] == 8
        assert checkpoint["hyper_parameters"]["max_encoder_length"] == SEQ_LEN
        assert "dataset_parameters" not in checkpoint


def test_evaluation_reports_finite_quantile_metrics(trained):
    run, _, report = trained
    written = json.loads((run / "evaluation" / "evaluation.json").read_text())
    assert written == json.loads(json.dumps(report))
    metrics = {name: entry["value"] for name, entry in written["regression_metrics"].items()}
    assert {"mae", "rmse", "smape", "quantile_loss"} <= metrics.keys()
    assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values()), metrics
    assert metrics["rmse"] == pytest.approx(metrics["mse"] ** 0.5)
    assert 0 <= metrics["smape"] <= 200
    evaluation = written["evaluation"]
    assert (evaluation["series"], evaluation["horizon"]) == (12, PRED_LEN)
    assert evaluation["forecast_points"] == 12 * PRED_LEN
    assert evaluation["point_forecast"] == "p50" and evaluation["synthetic"] is True


def test_forecasts_cover_the_test_horizon_after_the_validation_cutoff(trained, tft_channels):
    run, _, report = trained
    forecasts = pd.read_csv(run / "evaluation" / "forecasts.csv", parse_dates=["date"])
    columns = ["agency", "sku", TIME_IDX, "horizon_step", "actual", "p10", "p50", "p90", "date"]
    assert set(columns) <= set(forecasts.columns)
    assert len(forecasts) == 12 * PRED_LEN
    for _, series in forecasts.groupby(["agency", "sku"]):
        assert series["horizon_step"].tolist() == list(range(1, PRED_LEN + 1))

    test = read_channel(tft_channels / "test")
    cutoff = test.preprocessing["cutoffs"]["validation"]
    assert (forecasts[TIME_IDX] == cutoff + forecasts["horizon_step"]).all()
    cutoff_date = test.frame.loc[test.frame[TIME_IDX] == cutoff, "date"].iloc[0]
    assert (forecasts["date"] > cutoff_date).all()
    assert forecasts["date"].notna().all()

    # each row is the forecast of that series and month: its actual is the file's volume
    truth = forecasts.merge(test.frame, on=["agency", "sku", TIME_IDX], suffixes=("", "_file"))
    assert len(truth) == len(forecasts)
    np.testing.assert_allclose(truth["actual"], truth["volume"], rtol=1e-6)
    assert (truth["date"] == truth["date_file"]).all()

    # quantiles may cross after two epochs, but mostly p10 <= p50 <= p90
    ordered = (forecasts["p10"] <= forecasts["p50"]) & (forecasts["p50"] <= forecasts["p90"])
    assert ordered.mean() >= 0.75
    mae = (forecasts["p50"] - forecasts["actual"]).abs().mean()
    assert mae == pytest.approx(report["regression_metrics"]["mae"]["value"], rel=1e-5)


def test_interpretation_shares_sum_to_one(trained):
    run, _, _ = trained
    interpretation = json.loads((run / "evaluation" / "interpretation.json").read_text())
    importance = interpretation["variable_importance"]
    assert set(importance) == {"static", "encoder", "decoder"}
    for part, shares in importance.items():
        assert shares and all(v >= 0 for v in shares.values()), part
        assert sum(shares.values()) == pytest.approx(1.0, abs=1e-6), part
    assert {"agency", "sku", "avg_population_2017"} <= set(importance["static"])
    assert {"price_regular", "month"} <= set(importance["decoder"])
    assert "avg_max_temp" not in importance["decoder"]  # unknown in the future
    attention = interpretation["encoder_attention"]
    assert attention["position"] == list(range(-SEQ_LEN, 0))
    assert len(attention["share"]) == SEQ_LEN
    assert sum(attention["share"]) == pytest.approx(1.0, abs=1e-6)
    assert interpretation["figures"]
    for name in interpretation["figures"]:
        png = run / "evaluation" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert "interpretation_attention.png" in interpretation["figures"]


def test_evaluating_on_channels_of_another_preprocess_run_is_refused(trained, tmp_path):
    run, _, _ = trained
    other = preprocess_demo(tmp_path / "other", "--min-encoder-length", "2")
    with pytest.raises(DataValidationError, match="preprocessed differently"):
        evaluate.main(
            ["--model-dir", str(run / "model"), "--test", str(other / "test"),
             "--output-dir", str(tmp_path / "evaluation")]
        )  # fmt: skip


# --- distributed ---------------------------------------------------------------------------


def assert_tft_ranks_agree(summary: dict, channels: Path) -> None:
    ranks = summary["ranks"]
    assert sorted(r["rank"] for r in ranks) == [0, 1]
    digest = parameters_digest(read_channel(channels / "train").tft)
    for rank in ranks:
        assert rank["param_fingerprint"] == ranks[0]["param_fingerprint"]
        assert rank["val_loss"] == ranks[0]["val_loss"] and math.isfinite(rank["val_loss"])
        assert rank["parameters_sha256"] == digest
        # each rank trains on its own half of the windows (DistributedSampler)
        assert rank["train_windows_seen_per_epoch"] == summary["train_windows"] // 2


@pytest.mark.ddp
def test_two_tft_processes_on_one_host_end_in_sync(tmp_path, tft_channels):
    args = [*TINY_TFT, *train_paths(tmp_path, tft_channels), "--max-epochs", "2"]
    finish(train_process([*args, "--processes-per-host", "2", "--backend", "gloo"]))
    summary = read_summary(tmp_path)
    assert (summary["world_size"], summary["num_nodes"]) == (2, 1)
    assert_tft_ranks_agree(summary, tft_channels)
    assert (tmp_path / "model" / "model.pt").is_file()


@pytest.mark.ddp
def test_two_separately_started_tft_hosts_train_together(tmp_path, tft_channels):
    env = {"SM_HOSTS": '["algo-1","algo-2"]', "MASTER_ADDR": "127.0.0.1"}
    env["MASTER_PORT"] = str(free_port())
    hosts = [
        train_process(
            [*TINY_TFT, *train_paths(tmp_path / name, tft_channels), "--max-epochs", "2"],
            SM_CURRENT_HOST=name,
            **env,
        )
        for name in ("algo-1", "algo-2")
    ]
    outputs = finish_all(hosts)
    summary = read_summary(tmp_path / "algo-1")
    assert (summary["launcher"], summary["num_nodes"], summary["world_size"]) == ("sagemaker", 2, 2)
    assert_tft_ranks_agree(summary, tft_channels)
    assert (tmp_path / "algo-1" / "model" / "model.pt").is_file()
    assert not (tmp_path / "algo-2" / "model").exists()
    assert "epoch=1" in outputs[0] and "epoch=1" not in outputs[1]


# --- resume --------------------------------------------------------------------------------


def test_a_stopped_run_resumes_from_its_last_checkpoint(tmp_path, tft_channels, capsys):
    args = [*TINY_TFT, *train_paths(tmp_path, tft_channels)]
    first = train.main([*args, "--max-epochs", "1"])
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert first["epochs_completed"] == 1 and last.is_file()
    capsys.readouterr()

    second = train.main([*args, "--max-epochs", "3"])
    assert second["resumed_from"] == str(last)
    assert second["epochs_completed"] == 3
    assert second["global_steps"] == 3 * (528 // 32)
    epochs_run = [int(m) for m in re.findall(r"^epoch=(\d+) ", capsys.readouterr().out, re.M)]
    assert epochs_run == [1, 2], "the second run did not continue where the first stopped"
    assert read_summary(tmp_path)["resumed_from"] == str(last)


def test_resuming_with_another_hidden_size_names_it(tmp_path, tft_channels, capsys):
    args = [*TINY_TFT, *train_paths(tmp_path, tft_channels)]
    train.main([*args, "--max-epochs", "1"])
    last = tmp_path / "checkpoints" / "last.ckpt"
    capsys.readouterr()
    line = step_error(capsys, train.main, [*args, "--max-epochs", "2", "--hidden-size", "16"])
    assert line.startswith("configuration error: ")
    assert "hidden_size 8 -> 16" in line and str(last) in line


# --- bad input -----------------------------------------------------------------------------


def test_tft_training_on_informer_channels_names_the_preprocess_flag(tmp_path, channels, capsys):
    line = step_error(capsys, train.main, [*TINY_TFT, *train_paths(tmp_path, channels)])
    assert "preprocessed for the informer (preprocess --model informer)" in line
    assert "rerun preprocess with --model tft" in line


def test_informer_training_on_tft_channels_names_the_preprocess_flag(tmp_path, tft_channels):
    """Through a fresh interpreter, exactly as SageMaker runs the entry point."""
    process = train_process(
        [*train_paths(tmp_path, tft_channels), "--model", "informer", "--progress-bar", "false"]
    )
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 2, output[-4000:]
    assert "preprocessed for the tft (preprocess --model tft)" in output
    assert "rerun preprocess with --model informer" in output
    assert "Traceback" not in output


def test_evaluating_a_tft_on_informer_channels_is_refused(trained, channels, tmp_path, capsys):
    run, _, _ = trained
    argv = ["--model-dir", str(run / "model"), "--test", str(channels / "test"),
            "--output-dir", str(tmp_path / "evaluation")]  # fmt: skip
    assert "preprocessed differently" in step_error(capsys, evaluate.main, argv)


def test_a_panel_file_with_a_data_set_name_other_than_stallion_is_refused(
    tmp_path, panel_csv, capsys
):
    argv = ["--model", "tft", "--dataset", "mine", "--data", str(panel_csv),
            "--output-dir", str(tmp_path / "out")]  # fmt: skip
    line = step_error(capsys, preprocess.main, argv)
    assert "--dataset mine with --data" in line and "leave out --dataset" in line


def test_a_panel_file_without_column_roles_gets_them_inferred_and_announced(
    tmp_path, panel_csv, caplog
):
    """Issue 17, item 8: a file of one's own runs without Stallion's 23 columns."""
    with caplog.at_level(logging.INFO, logger="forecasting"):
        prepared = preprocess.main(
            ["--model", "tft", "--data", str(panel_csv), "--seq-len", str(SEQ_LEN),
             "--pred-len", str(PRED_LEN), "--output-dir", str(tmp_path / "out")]
        )  # fmt: skip
    schema = prepared.preprocessing["schema"]
    assert (schema["time_column"], schema["group_columns"], schema["target"]) == (
        "date", ["agency", "sku"], "volume"
    )  # fmt: skip
    numeric = {"avg_population_2017", "price_regular", "month", "avg_max_temp"}
    assert set(schema["unknown_reals"]) == numeric and schema["calendar"] is True
    assert "inferred time column 'date'; series id 'agency', 'sku'; target 'volume'" in caplog.text
    assert "calendar known reals for frequency 'MS': month_of_year" in caplog.text


@pytest.mark.parametrize("split", ["ett", "ratio"])
def test_single_series_splits_are_refused_for_the_tft(tmp_path, split):
    with pytest.raises(ConfigError, match=f"--split {split} is for single series"):
        preprocess_demo(tmp_path / "out", "--split", split)


@pytest.mark.parametrize(
    ("flag", "expected"),
    [(["--test-origins", "3"], "--test-origins is for panels"),
     (["--calendar-features", "false"], "--calendar-features is for panels")],
)  # fmt: skip
def test_panel_test_window_and_calendar_flags_are_refused_for_the_informer(
    tmp_path, flag, expected
):
    with pytest.raises(ConfigError, match=expected):
        preprocess.main(["--dataset", "demo", *flag, "--output-dir", str(tmp_path / "out")])


def test_panel_protocols_are_refused_for_the_informer(tmp_path):
    with pytest.raises(ConfigError, match="--split holdout is for panels"):
        preprocess.main(["--dataset", "demo", "--split", "holdout", "--output-dir", str(tmp_path)])


def test_a_series_too_short_for_the_encoder_is_named(tmp_path, capsys):
    frame = demo_panel(n_series=6, n_steps=30, seed=1).frame
    short = (frame["agency"] == "Agency_02") & (frame["sku"] == "SKU_03") & (frame[TIME_IDX] > 4)
    csv = tmp_path / "short.csv"
    frame[~short].drop(columns=[TIME_IDX]).to_csv(csv, index=False)
    argv = ["--model", "tft", "--data", str(csv), *DEMO_ROLES, "--seq-len", str(SEQ_LEN),
            "--pred-len", str(PRED_LEN), "--output-dir", str(tmp_path / "out")]  # fmt: skip
    line = step_error(capsys, preprocess.main, argv)
    assert "series agency 'Agency_02' / sku 'SKU_03' has 5 rows" in line
    assert f"expected at least {SEQ_LEN // 2 + PRED_LEN}" in line


def test_a_series_with_too_few_training_rows_is_named(tmp_path, capsys):
    # one row up to the train cutoff would get a NaN scale from GroupNormalizer and NaN forecasts
    frame = demo_panel(n_series=6, n_steps=40, seed=1).frame
    # holdout cutoffs with a horizon of 3: train 33, validation 36, test 39
    late = (frame["agency"] == "Agency_02") & (frame["sku"] == "SKU_03") & (frame[TIME_IDX] < 33)
    csv = tmp_path / "late.csv"
    frame[~late].drop(columns=[TIME_IDX]).to_csv(csv, index=False)
    argv = ["--model", "tft", "--data", str(csv), *DEMO_ROLES, "--seq-len", str(SEQ_LEN),
            "--pred-len", str(PRED_LEN), "--min-encoder-length", "2",
            "--output-dir", str(tmp_path / "out")]  # fmt: skip
    line = step_error(capsys, preprocess.main, argv)
    assert "series agency 'Agency_02' / sku 'SKU_03' has 1 rows up to time_idx 33" in line
    assert "expected at least 3 per series" in line
    assert not (tmp_path / "out").exists()


def test_the_demo_panel_too_short_for_the_encoder_is_refused(tmp_path):
    with pytest.raises(
        DataValidationError, match="series agency 'Agency_01' / sku 'SKU_01' has 48"
    ):
        preprocess_demo(tmp_path / "out", "--seq-len", "96", "--min-encoder-length", "48")


def test_hidden_size_must_divide_into_the_heads(tmp_path, tft_channels):
    args = [*TINY_TFT, *train_paths(tmp_path, tft_channels), "--attention-head-size", "3"]
    with pytest.raises(ConfigError, match="hidden_size 8 must be divisible by attention_head_size"):
        train.main(args)


# --- pytorch-forecasting's own loader ------------------------------------------------------


def test_the_pytorch_forecasting_loader_trains_to_the_same_result(tmp_path, tft_channels):
    """``--fast-data false`` feeds pytorch-forecasting's own DataLoader.

    Both loaders are torch DataLoaders over the same 528 windows with shuffle=True and
    drop_last=True: their RandomSampler draws its seed from torch's global generator, which
    holds the same state in both runs (same seed, same model initialisation, and neither data
    path consumes random numbers), so the batches come in the same order and hold the same
    tensors (see test_tft.py). One epoch therefore ends with the same weights and val_loss;
    the tolerance only allows for a different summation order inside the kernels.
    """
    results = {}
    for fast in ("true", "false"):
        run = tmp_path / fast
        summary = train.main(
            [*TINY_TFT, *train_paths(run, tft_channels), "--max-epochs", "1", "--fast-data", fast]
        )
        assert summary["fast_data"] is (fast == "true")
        assert summary["epochs_completed"] == 1 and summary["global_steps"] == 528 // 32
        results[fast] = summary["ranks"][0]
    assert results["false"]["val_loss"] == pytest.approx(results["true"]["val_loss"], rel=1e-6)
    assert results["false"]["param_fingerprint"] == pytest.approx(
        results["true"]["param_fingerprint"], rel=1e-6
    )


def test_the_tft_reads_back_every_field_preprocess_wrote(tft_channels):
    channel = read_channel(tft_channels / "train")
    written, typed = channel.preprocessing, channel.tft.to_dict()
    # write_channel adds the format version and the input length for every family
    assert set(written) - {"format_version", "input_length"} == set(typed)
    assert {name: written[name] for name in typed} == typed
    assert TFTPreprocessing.from_dict(typed, "p.json") == channel.tft


@pytest.mark.parametrize("field", ["time_origin", "cutoffs", "dataset_parameters"])
def test_a_tft_file_without_a_field_names_the_file_and_the_field(tft_channels, field):
    written = dict(read_channel(tft_channels / "train").preprocessing)
    del written[field]
    with pytest.raises(DataValidationError, match=rf"p\.json has no '{field}' field"):
        TFTPreprocessing.from_dict(written, "p.json")
