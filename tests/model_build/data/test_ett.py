"""The ETT protocol: split borders, window counts and train-only scaling."""

from pathlib import Path

import numpy as np
import pytest

from forecasting.data.ett import ETT_COLUMNS, load_ett, make_splits, split_bounds
from forecasting.data.sources import demo_ett
from forecasting.errors import ConfigError, DataValidationError

REAL_ETTH1 = Path(__file__).resolve().parents[4] / "shared" / "data" / "ett" / "ETTh1.csv"


@pytest.fixture(scope="module")
def etth1():
    """Real ETTh1 when present, else synthetic data of the same length (17420 hourly rows)."""
    return load_ett(REAL_ETTH1) if REAL_ETTH1.is_file() else demo_ett(17420)


def test_ett_hour_borders():
    assert split_bounds(17420, 96) == {
        "train": (0, 8640),
        "val": (8640 - 96, 11520),
        "test": (11520 - 96, 14400),
    }


def test_ett_minute_borders_are_four_times_the_hourly_ones():
    assert split_bounds(69680, 96, "ett_minute") == {
        "train": (0, 34560),
        "val": (34560 - 96, 46080),
        "test": (46080 - 96, 57600),
    }


@pytest.mark.parametrize("n_rows", [1000, 17420, 2001])
def test_ratio_split_matches_informer_dataset_custom(n_rows):
    n_train, n_test = int(n_rows * 0.7), int(n_rows * 0.2)
    n_val = n_rows - n_train - n_test
    assert split_bounds(n_rows, 48, "ratio") == {
        "train": (0, n_train),
        "val": (n_train - 48, n_train + n_val),
        "test": (n_rows - n_test - 48, n_rows),
    }


@pytest.mark.parametrize(("seq_len", "pred_len"), [(96, 24), (96, 720), (336, 168)])
def test_window_counts_follow_the_protocol(etth1, seq_len, pred_len):
    splits = make_splits(etth1, seq_len=seq_len, label_len=48, pred_len=pred_len, kind="ett_hour")
    assert len(splits.train) == 8640 - seq_len - pred_len + 1
    assert len(splits.val) == 2880 - pred_len + 1
    assert len(splits.test) == 2880 - pred_len + 1
    if (seq_len, pred_len) == (96, 24):
        assert (len(splits.train), len(splits.val), len(splits.test)) == (8521, 2857, 2857)


def test_first_val_window_starts_seq_len_before_the_border(etth1):
    splits = make_splits(etth1, seq_len=96, label_len=48, pred_len=24, kind="ett_hour")
    scaled = splits.scaler.transform(etth1.frame[ETT_COLUMNS].to_numpy())
    x, _, y, _ = splits.val[0]
    np.testing.assert_allclose(x.numpy(), scaled[8544:8640], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y.numpy(), scaled[8640 - 48 : 8640 + 24], rtol=1e-5, atol=1e-5)
    # The last test window's horizon ends on row 14399, the last row of the protocol.
    last_y = splits.test[len(splits.test) - 1][2]
    np.testing.assert_allclose(last_y[-1].numpy(), scaled[14399], rtol=1e-5, atol=1e-5)


def test_scaler_is_fitted_on_train_rows_only(etth1):
    splits = make_splits(etth1, seq_len=96, label_len=48, pred_len=24, kind="ett_hour")
    train = etth1.frame.iloc[:8640]
    np.testing.assert_allclose(splits.scaler.mean, train.mean().to_numpy())
    np.testing.assert_allclose(splits.scaler.std, train.std(ddof=0).to_numpy())
    assert not np.allclose(splits.scaler.mean, etth1.frame.mean().to_numpy())


@pytest.mark.parametrize(
    ("features", "x_width", "y_width", "outputs"),
    [("M", 7, 7, ETT_COLUMNS), ("MS", 7, 1, ["OT"]), ("S", 1, 1, ["OT"])],
)
def test_feature_modes(features, x_width, y_width, outputs):
    series = demo_ett(2000)
    splits = make_splits(series, seq_len=32, label_len=16, pred_len=8, features=features)
    x, x_mark, y, y_mark = splits.train[0]
    assert x.shape == (32, x_width) and y.shape == (24, y_width)
    assert x_mark.shape == (32, 4) and y_mark.shape == (24, 4)
    assert splits.outputs == outputs


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((14399, 96), {}, "at least 14400 rows"),
        ((17420, 9000), {}, "longer than the ett_hour training split"),
        ((17420, 96), {"pred_len": 2900}, "the val split has"),
        ((100, 96), {"kind": "ratio"}, "too few for the ratio split"),
        ((1000, 96), {"kind": "ratio", "pred_len": 150}, "the val split has 196 rows"),
        ((1000, 96), {"kind": "ratio", "ratios": (0.5, 0.5, 0.5)}, "summing to 1"),
        ((1000, 96), {"kind": "weekly"}, "Unknown split kind"),
        ((1000, 0), {}, "seq_len >= 1"),
    ],
)
def test_impossible_splits_are_config_errors(args, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        split_bounds(*args, **kwargs)


def test_make_splits_rejects_unknown_features_and_targets():
    series = demo_ett(2000)
    with pytest.raises(ConfigError, match="Unknown features"):
        make_splits(series, seq_len=8, label_len=4, pred_len=4, features="X")
    with pytest.raises(DataValidationError, match="missing column 'nope'"):
        make_splits(series, seq_len=8, label_len=4, pred_len=4, features="MS", target="nope")


def test_load_ett_reads_a_small_ett_file(tmp_path, ett_frame):
    path = tmp_path / "ETTh1.csv"
    ett_frame(50).to_csv(path, index=False)
    series = load_ett(path)
    assert series.targets == ETT_COLUMNS and series.freq == "h" and len(series) == 50


def test_load_ett_minute_file(tmp_path, ett_frame):
    path = tmp_path / "ETTm1.csv"
    ett_frame(50, freq="15min").to_csv(path, index=False)
    assert load_ett(path, "ETTm1").freq == "15min"


def test_load_ett_names_a_missing_column(tmp_path, ett_frame):
    path = tmp_path / "ETTh1.csv"
    ett_frame(50).drop(columns="OT").to_csv(path, index=False)
    with pytest.raises(DataValidationError, match=r"ETTh1.csv, line 1: missing column 'OT'"):
        load_ett(path)


def test_load_ett_rejects_data_at_the_wrong_frequency(tmp_path, ett_frame):
    path = tmp_path / "ETTh1.csv"
    ett_frame(50, freq="15min").to_csv(path, index=False)
    with pytest.raises(DataValidationError, match=r"line 3, column 'date'.*'h' \(given\)"):
        load_ett(path)


def test_load_ett_unknown_name(tmp_path, ett_frame):
    path = tmp_path / "ETTh1.csv"
    ett_frame(50).to_csv(path, index=False)
    with pytest.raises(ConfigError, match="Unknown ETT data set 'ETTx9'"):
        load_ett(path, "ETTx9")


def test_real_etth1_matches_its_readme(ett_csv):
    series = load_ett(ett_csv)
    assert len(series) == 17420 and series.freq == "h"
    assert str(series.frame.index[0]) == "2016-07-01 00:00:00"
    assert str(series.frame.index[-1]) == "2018-06-26 19:00:00"
    assert series.frame["OT"].mean() == pytest.approx(13.325, abs=1e-3)
