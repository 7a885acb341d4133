"""The preprocess step writes channels that carry one fitted preprocessing for every reader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.channels import read_channel
from forecasting.data.ett import load_ett
from forecasting.data.sources import demo_ett
from forecasting.errors import ConfigError, DataValidationError
from forecasting.models.informer.preparation import SPLIT_RULES
from forecasting.models.informer.preparation import prepare as prepare_series
from forecasting.steps import preprocess
from forecasting.steps.preprocess import write_prepared

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
    assert prepared.preprocessing["split"] == "ett"
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


# The ETT protocol through the real path: preprocess -> channel folders -> windows.
REAL_ETTH1 = Path(__file__).resolve().parents[4] / "shared" / "data" / "ett" / "ETTh1.csv"


@pytest.fixture(scope="module")
def etth1():
    """Real ETTh1 when present, else the synthetic set of the same length (17420 hourly rows)."""
    return load_ett(REAL_ETTH1) if REAL_ETTH1.is_file() else demo_ett(17420)


@pytest.fixture(scope="module")
def etth1_channels(tmp_path_factory, etth1):
    """Channels kept with 336 rows of context, read back as every later step reads them."""
    out = tmp_path_factory.mktemp("etth1")
    write_prepared(prepare_series(etth1, seq_len=336, pred_len=24, split="ett"), out)
    return {name: read_channel(out / name) for name in ("train", "validation", "test")}


@pytest.mark.parametrize(("seq_len", "pred_len"), [(96, 24), (96, 720), (336, 168)])
def test_window_counts_follow_the_protocol(etth1_channels, seq_len, pred_len):
    counts = [len(etth1_channels[n].windows(seq_len, 48, pred_len)) for n in etth1_channels]
    assert counts == [8640 - seq_len - pred_len + 1, 2880 - pred_len + 1, 2880 - pred_len + 1]
    if (seq_len, pred_len) == (96, 24):
        assert counts == [8521, 2857, 2857]


def test_first_validation_window_starts_seq_len_before_the_border(etth1, etth1_channels):
    rows = etth1_channels["train"].scaler.transform(etth1.frame.to_numpy())
    x, _, y, _ = etth1_channels["validation"].windows(96, 48, 24)[0]
    np.testing.assert_allclose(x.numpy(), rows[8544:8640], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y.numpy(), rows[8640 - 48 : 8640 + 24], rtol=1e-5, atol=1e-5)
    test = etth1_channels["test"].windows(96, 48, 24)
    last_y = test[len(test) - 1][2]  # the last horizon ends on row 14399, the protocol's last
    np.testing.assert_allclose(last_y[-1].numpy(), rows[14399], rtol=1e-5, atol=1e-5)


def test_ett_scaler_is_fitted_on_the_training_rows_only(etth1, etth1_channels):
    scaler = etth1_channels["train"].scaler
    train = etth1.frame.iloc[:8640]
    assert etth1_channels["train"].frame.equals(train)
    np.testing.assert_allclose(scaler.mean, train.mean().to_numpy())
    np.testing.assert_allclose(scaler.std, train.std(ddof=0).to_numpy())
    assert not np.allclose(scaler.mean, etth1.frame.mean().to_numpy())


def test_single_target_mode_windows_only_the_target(tmp_path):
    prepared = preprocess.main(
        ["--dataset", "demo", "--targets", "OT", "--output-dir", str(tmp_path)]
    )
    assert prepared.preprocessing["columns"] == ["OT"]
    x, _, y, _ = read_channel(tmp_path / "train").windows(96, 48, 24)[0]
    assert (x.shape, y.shape) == ((96, 1), (72, 1))


# The split protocol is chosen by a flag or announced as the default, never by a file's name.
def test_the_file_name_does_not_choose_the_split(tmp_path, caplog):
    frame = demo_ett(17420).frame.reset_index()
    bounds = {}
    for name in ("ETTh1.csv", "meters.csv"):
        csv = tmp_path / name
        frame.to_csv(csv, index=False)
        for split in ("ett", "ratio", None):
            args = ["--data", str(csv), "--output-dir", str(tmp_path / "out")]
            caplog.clear()
            with caplog.at_level("INFO", logger="forecasting.preprocess"):
                prepared = preprocess.main([*args, *(["--split", split] if split else [])])
            bounds[name, split] = prepared.preprocessing["bounds"]
            chosen = prepared.preprocessing["split"]
            assert chosen == (split or "ratio")
            announced = [r.getMessage() for r in caplog.records if "split: " in r.getMessage()]
            how = "--split" if split else "the default; choose with --split ett|ratio"
            assert announced == [f"split: {chosen} ({how}): {SPLIT_RULES[chosen]}"]
    assert bounds["ETTh1.csv", None] == bounds["meters.csv", None] == bounds["meters.csv", "ratio"]
    assert bounds["ETTh1.csv", "ett"] == bounds["meters.csv", "ett"] != bounds["meters.csv", None]
    assert bounds["meters.csv", "ett"]["test"] == [11520 - 96, 14400]


def test_the_ett_split_needs_hourly_or_15_minute_data(tmp_path):
    csv = write_tiny_csv(tmp_path / "daily.csv")
    daily = pd.read_csv(csv).assign(date=pd.date_range("2000-01-01", periods=400, freq="D"))
    daily.to_csv(csv, index=False)
    with pytest.raises(ConfigError, match=r"--split ett: .*daily.csv is 'D'; use --split ratio"):
        preprocess.main(["--data", str(csv), "--split", "ett", "--output-dir", str(tmp_path)])
