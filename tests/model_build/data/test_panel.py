"""Stallion panel loading: time index, dtypes, and bad-input messages (row numbers)."""

import numpy as np
import pandas as pd
import pytest

from forecasting.data.panel import GROUPS, REALS, SPECIAL_DAYS, check_panel_lengths, load_stallion
from forecasting.errors import DataValidationError


def stallion_like(n_months: int = 4) -> pd.DataFrame:
    """2 agencies x 2 SKUs, monthly from 2013-01, with every Stallion column."""
    rows = []
    for agency in ("Agency_01", "Agency_02"):
        for sku in ("SKU_01", "SKU_02"):
            for month in range(n_months):
                rows.append({"agency": agency, "sku": sku, "month": month})
    frame = pd.DataFrame(rows)
    months = pd.date_range("2013-01-01", periods=n_months, freq="MS").astype("datetime64[ms]")
    frame["date"] = months[frame.pop("month").to_numpy()]
    frame["volume"] = np.arange(len(frame), dtype=float)
    for column in REALS:
        frame[column] = 1.5
    for column in SPECIAL_DAYS:
        frame[column] = 0
    frame[GROUPS] = frame[GROUPS].astype("category")
    return frame


@pytest.fixture
def write_parquet(tmp_path):
    def write(frame: pd.DataFrame):
        path = tmp_path / "stallion.parquet"
        frame.to_parquet(path)
        return path

    return write


def test_loads_and_adds_time_idx(write_parquet):
    frame = load_stallion(write_parquet(stallion_like().iloc[::-1]))
    assert frame["time_idx"].tolist()[:4] == [0, 1, 2, 3]
    assert frame["time_idx"].dtype == np.int64
    assert frame["agency"].iloc[0] == "Agency_01" and pd.api.types.is_string_dtype(frame["sku"])
    assert frame["volume"].dtype == np.float64


@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [
        (lambda f: f.drop(columns="volume"), "missing column 'volume'"),
        (lambda f: f.assign(volume=f["volume"].where(f.index != 5)), "row 6, column 'volume'"),
        (
            lambda f: f.assign(date=f["date"].where(f.index != 2, pd.Timestamp("2013-03-15"))),
            "row 3, column 'date': 2013-03-15 is not the first day of a month",
        ),
        (lambda f: f.assign(volume=-f["volume"]), "row 2, column 'volume': negative volume"),
        (
            lambda f: f.assign(new_year=f["new_year"].where(f.index != 3, 2)),
            "row 4, column 'new_year': 2 is not a flag",
        ),
        (
            lambda f: f.assign(price_actual=f["price_actual"].astype(str).where(f.index != 7, "x")),
            "row 8, column 'price_actual': expected a number, got 'x'",
        ),
        (
            lambda f: f.assign(sku=f["sku"].astype(str).where(f.index != 1, "")),
            "row 2, column 'sku': empty value",
        ),
        (lambda f: pd.concat([f, f.iloc[[0]]]), "second row for agency 'Agency_01', sku 'SKU_01'"),
        (lambda f: f.iloc[:0], "no data rows"),
    ],
)
def test_bad_panel_messages(write_parquet, corrupt, expected):
    path = write_parquet(corrupt(stallion_like()))
    with pytest.raises(DataValidationError) as error:
        load_stallion(path)
    assert str(error.value).startswith(str(path)) and expected in str(error.value)


def test_not_a_parquet_file(tmp_path):
    path = tmp_path / "stallion.parquet"
    path.write_text("date,volume\n")
    with pytest.raises(DataValidationError, match="cannot read as Parquet"):
        load_stallion(path)


def test_short_series_are_named():
    frame = stallion_like(4)
    frame["agency"] = frame["agency"].astype(str)
    frame["sku"] = frame["sku"].astype(str)
    check_panel_lengths(frame, encoder_length=3, horizon=1, source="s.parquet")
    with pytest.raises(
        DataValidationError, match="series agency 'Agency_01' / sku 'SKU_01' has 4 rows"
    ):
        check_panel_lengths(frame, encoder_length=3, horizon=2, source="s.parquet")


def test_real_stallion(stallion_parquet):
    frame = load_stallion(stallion_parquet)
    assert frame.shape[0] == 21000
    assert frame["time_idx"].min() == 0 and frame["time_idx"].max() == 59
    assert frame.groupby(GROUPS).ngroups == 350
    check_panel_lengths(frame, encoder_length=24, horizon=6, source=str(stallion_parquet))
