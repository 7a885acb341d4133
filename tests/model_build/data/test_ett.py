"""The ETT protocol: split borders, window counts and train-only scaling."""

from pathlib import Path

import pytest

from forecasting.data.ett import ETT_COLUMNS, load_ett, split_bounds
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
