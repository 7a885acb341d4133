"""The preprocess step writes channels that carry one fitted preprocessing for every reader."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from forecasting.channels import read_channel
from forecasting.errors import DataValidationError
from forecasting.steps import preprocess

from .conftest import write_tiny_csv


def test_channels_share_one_scaler_fitted_on_training_rows(tmp_path):
    csv = write_tiny_csv(tmp_path / "tiny.csv")
    preprocess.main(["--data", str(csv), "--seq-len", "16", "--output-dir", str(tmp_path)])
    channels = {name: read_channel(tmp_path / name) for name in ("train", "validation", "test")}
    scalers = {json.dumps(c.preprocessing["scaler"]) for c in channels.values()}
    assert len(scalers) == 1
    raw = pd.read_csv(csv)
    train_rows = raw.iloc[:280]  # 70 % of 400
    np.testing.assert_allclose(
        channels["train"].scaler.mean, train_rows[["load", "temp", "price"]].mean()
    )
    # validation and test carry seq_len rows of context before their first forecast
    assert len(channels["validation"].frame) == 40 + 16
    assert len(channels["test"].frame) == 80 + 16
    assert channels["test"].frame.index[0] == pd.Timestamp(raw["date"].iloc[400 - 80 - 16])


def test_demo_data_is_labelled_synthetic(tmp_path):
    prepared = preprocess.main(["--dataset", "demo", "--output-dir", str(tmp_path)])
    assert prepared.preprocessing["synthetic"] is True
    assert prepared.preprocessing["split"] == "ett_hour"
    assert prepared.preprocessing["bounds"]["test"] == [11520 - 96, 14400]


def test_covariates_are_inputs_and_targets_are_outputs(tmp_path):
    csv = write_tiny_csv(tmp_path / "tiny.csv")
    args = ["--data", str(csv), "--targets", "load", "--covariates", "temp,price"]
    prepared = preprocess.main([*args, "--seq-len", "16", "--output-dir", str(tmp_path)])
    assert prepared.preprocessing["columns"] == ["load", "temp", "price"]
    windows = read_channel(tmp_path / "train").windows(16, 8, 4)
    x, _, y, _ = windows[0]
    assert (x.shape[-1], y.shape[-1]) == (3, 1)


def test_unknown_column_is_named(tmp_path):
    csv = write_tiny_csv(tmp_path / "tiny.csv")
    with pytest.raises(DataValidationError, match="humidity"):
        preprocess.main(
            ["--data", str(csv), "--targets", "humidity", "--output-dir", str(tmp_path)]
        )


def test_a_series_too_short_for_its_windows_is_named(tmp_path):
    csv = write_tiny_csv(tmp_path / "tiny.csv", rows=50)
    args = ["--data", str(csv), "--seq-len", "48", "--pred-len", "24"]
    with pytest.raises(DataValidationError, match=r"tiny.*50 rows.*72"):
        preprocess.main([*args, "--output-dir", str(tmp_path)])
