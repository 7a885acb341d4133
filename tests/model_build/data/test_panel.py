"""Panel loading for the TFT: roles, time index, dtypes, Stallion features, bad-input messages."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from forecasting.data import sources
from forecasting.data.panel import TIME_IDX, PanelFrame, PanelSchema
from forecasting.data.panel_loading import check_panel_lengths, load_panel
from forecasting.data.panel_roles import PanelRoles
from forecasting.data.sources import DatasetUnavailableError, resolve_panel
from forecasting.data.stallion import STALLION_SCHEMA, STALLION_SPECIAL_DAYS, demo_panel, stallion
from forecasting.errors import ConfigError, DataValidationError

SCHEMA = PanelSchema(
    calendar=False,
    group_columns=("store", "item"),
    time_column="date",
    target="sales",
    static_categoricals=("store", "region"),
    static_reals=("size",),
    known_categoricals=("promo",),
    known_reals=(TIME_IDX, "price"),
    unknown_reals=("temperature",),
)
SERIES = [("S1", "A"), ("S1", "B"), ("S2", "A")]
# SCHEMA's roles as a user passes them (every role given, nothing inferred or generated).
ROLES = PanelRoles(
    **{k: v for k, v in SCHEMA.to_dict().items() if k in PanelRoles.__dataclass_fields__}
)


def panel_frame(freq: str = "D", n_steps: int = 5, start: str = "2021-01-04") -> pd.DataFrame:
    """Three series in file order series by series; row i of series s has sales 10 * s + i."""
    dates = pd.date_range(start, periods=n_steps, freq=freq)
    rows = []
    for s, (store, item) in enumerate(SERIES):
        for i, date in enumerate(dates):
            rows.append(
                {
                    "date": date,
                    "store": store,
                    "item": item,
                    "region": "north" if store == "S1" else "south",
                    "size": 100.0 if store == "S1" else 250.0,
                    "promo": i % 2,
                    "price": 1.5 + i,
                    "temperature": 20.0 - i,
                    "sales": float(10 * s + i),
                    "unused": "x",
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(params=["csv", "parquet"])
def fmt(request) -> str:
    return request.param


@pytest.fixture
def write(tmp_path):
    """Write a frame as CSV or Parquet; return the path."""

    def write(frame: pd.DataFrame, fmt: str = "csv", name: str = "panel") -> object:
        path = tmp_path / f"{name}.{fmt}"
        if fmt == "csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path)  # a RangeIndex is not stored, a named index is
        return path

    return write


def where(index: int, fmt: str) -> str:
    """How messages name data row ``index`` of a frame written by ``write``."""
    return f"line {index + 2}" if fmt == "csv" else f"row {index + 1}"


def error_of(path, schema: PanelSchema = SCHEMA, **kwargs) -> str:
    with pytest.raises(DataValidationError) as error:
        load_panel(path, schema, **kwargs)
    message = str(error.value)
    assert message.startswith(str(path)) and "\n" not in message
    return message


# --- loading ---------------------------------------------------------------------------------


def test_loads_sorted_with_time_idx_and_dtypes(write, fmt):
    frame = panel_frame().sample(frac=1.0, random_state=0)  # shuffled rows
    loaded = load_panel(write(frame, fmt), SCHEMA)
    out = loaded.frame
    assert isinstance(loaded, PanelFrame) and not loaded.synthetic
    assert list(out.columns) == [*SCHEMA.columns(), TIME_IDX]
    assert "unused" not in out.columns
    assert list(zip(out["store"], out["item"], strict=True)) == [
        s for s in SERIES for _ in range(5)
    ]
    assert out["time_idx"].tolist() == [0, 1, 2, 3, 4] * 3
    assert out["sales"].tolist() == [float(10 * s + i) for s in range(3) for i in range(5)]
    assert out["time_idx"].dtype == np.int64
    for column in ("store", "item", "region", "promo"):
        assert pd.api.types.is_string_dtype(out[column]), column
        assert not isinstance(out[column].dtype, pd.CategoricalDtype)
    assert out["promo"].tolist()[:2] == ["0", "1"]  # a numeric categorical becomes text
    for column in ("sales", "size", "price", "temperature"):
        assert out[column].dtype == np.float64, column
    assert pd.api.types.is_datetime64_dtype(out["date"])
    assert loaded.schema == PanelSchema(**{**SCHEMA.to_dict(), "freq": "D"})
    assert loaded.source == str(write(frame, fmt)) and len(loaded) == 15


def test_csv_and_parquet_give_the_same_panel(write):
    frame = panel_frame()
    from_csv = load_panel(write(frame, "csv"), SCHEMA).frame
    from_parquet = load_panel(write(frame, "parquet"), SCHEMA).frame
    pd.testing.assert_frame_equal(
        from_csv.drop(columns="date"), from_parquet.drop(columns="date"), check_dtype=False
    )
    assert (from_csv["date"].to_numpy() == from_parquet["date"].to_numpy()).all()


def test_parquet_with_categories_and_a_named_index(write):
    frame = panel_frame().astype({"store": "category", "promo": "int8"}).set_index("date")
    loaded = load_panel(write(frame, "parquet"), SCHEMA).frame
    assert loaded["store"].tolist()[0] == "S1" and loaded["promo"].tolist()[1] == "1"
    assert pd.api.types.is_string_dtype(loaded["store"])


@pytest.mark.parametrize(
    ("freq", "start", "expected"),
    [
        ("MS", "2013-01-01", "MS"),
        ("D", "2021-01-04", "D"),
        ("h", "2021-01-04 22:00", "h"),
        ("ME", "2020-01-31", "ME"),
        ("15min", "2021-01-04 23:30", "15min"),
        ("B", "2021-01-07", "B"),
    ],
)
def test_frequency_inference(write, freq, start, expected):
    loaded = load_panel(write(panel_frame(freq, n_steps=6, start=start)), SCHEMA)
    assert loaded.schema.freq == expected
    assert loaded.frame["time_idx"].tolist()[:6] == [0, 1, 2, 3, 4, 5]


def test_series_off_the_shared_grid(write):
    """Weekly series on different weekdays: their union looks daily, the step is 7 days."""
    frame = panel_frame("7D", n_steps=4)
    frame.loc[frame["store"] == "S2", "date"] += pd.Timedelta(days=2)
    message = error_of(write(frame))
    assert "line 10, column 'date': timestamp 2021-01-06 is not on the grid of frequency '7D'" in (
        message
    )
    assert "starts at 2021-01-04, the earliest timestamp in the file" in message


def test_gap_shared_by_all_series(write):
    frame = panel_frame()
    frame = frame[frame["date"] != "2021-01-06"].reset_index(drop=True)
    message = error_of(write(frame))
    assert "line 4, column 'date': series store 'S1' / item 'A' jumps from 2021-01-05" in message
    assert "'D' (inferred) so 2021-01-06 was expected next" in message


def test_time_idx_counts_from_the_earliest_timestamp_of_the_file(write):
    frame = panel_frame("MS", n_steps=6, start="2013-01-01")
    frame = frame[~((frame["store"] == "S2") & (frame["date"] < "2013-03-01"))]  # starts later
    out = load_panel(write(frame), SCHEMA).frame
    assert out.loc[out["store"] == "S2", "time_idx"].tolist() == [2, 3, 4, 5]


def test_given_frequency_is_checked(write):
    path = write(panel_frame("D"))
    assert load_panel(path, PanelSchema(**{**SCHEMA.to_dict(), "freq": "D"})).schema.freq == "D"
    message = error_of(path, PanelSchema(**{**SCHEMA.to_dict(), "freq": "2D"}))
    assert "line 3, column 'date': timestamp 2021-01-05 is not on the grid of frequency '2D'" in (
        message
    )
    assert "(given)" in message and "expected e.g. 2021-01-06" in message


def test_cannot_infer_the_frequency_of_one_row_series(write):
    frame = panel_frame(n_steps=1).iloc[:2]
    assert "cannot infer the frequency" in error_of(write(frame))
    given = PanelSchema(**{**SCHEMA.to_dict(), "freq": "D"})
    assert load_panel(write(frame), given).frame["time_idx"].tolist() == [0, 0]


def test_time_idx_column_in_the_file_is_recomputed(write, caplog):
    frame = panel_frame().assign(time_idx=99)
    with caplog.at_level(logging.WARNING, logger="forecasting.data.panel"):
        out = load_panel(write(frame), SCHEMA).frame
    assert out["time_idx"].tolist()[:3] == [0, 1, 2] and "time_idx" in caplog.text


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("corrupt", "row", "column", "expected"),
    [
        (lambda f: f.assign(item=f["item"].where(f.index != 3, "")), 3, "item", "empty series id"),
        (
            lambda f: f.assign(region=f["region"].where(f.index != 4, " ")),
            4,
            "region",
            "empty category",
        ),
        (lambda f: f.assign(date=f["date"].where(f.index != 2)), 2, "date", "empty timestamp"),
        (
            lambda f: f.assign(date=f["date"].astype(str).where(f.index != 6, "yesterday")),
            6,
            "date",
            "cannot parse timestamp 'yesterday'",
        ),
        (
            lambda f: f.assign(price=f["price"].astype(str).where(f.index != 7, "cheap")),
            7,
            "price",
            "expected a number, got 'cheap'",
        ),
        (
            lambda f: f.assign(temperature=f["temperature"].where(f.index != 8, np.inf)),
            8,
            "temperature",
            "expected a finite number, got 'inf'",
        ),
        (lambda f: f.assign(sales=f["sales"].where(f.index != 9)), 9, "sales", "empty cell"),
        (
            lambda f: f.assign(size=f["size"].where(f.index != 1, 101.0)),
            1,
            "size",
            "static variable 'size' changes within series store 'S1' / item 'A': 101.0 here, "
            "100.0 on line 2",
        ),
    ],
)
def test_bad_cells_are_named_by_line_and_column(write, corrupt, row, column, expected):
    message = error_of(write(corrupt(panel_frame()).astype({"size": object})))
    assert message.startswith(f"{write(panel_frame())}, line {row + 2}, column {column!r}: ")
    assert expected in message


def test_bad_cell_in_parquet_is_named_by_row(write):
    frame = panel_frame()
    frame.loc[10, "sales"] = np.nan
    message = error_of(write(frame, "parquet"))
    assert "row 11, column 'sales': empty cell; expected a number" in message
    frame = panel_frame().astype({"store": "category"})
    frame.loc[5, "store"] = np.nan
    assert "row 6, column 'store': empty series id" in error_of(write(frame, "parquet"))


def test_first_bad_cell_by_row_then_column(write):
    frame = panel_frame().astype({"price": object, "temperature": object})
    frame.loc[4, "temperature"] = "?"
    frame.loc[4, "price"] = "?"
    frame.loc[2, "sales"] = np.nan
    message = error_of(write(frame))
    assert "line 4, column 'sales'" in message and "(2 more bad cells in this file)" in message


def test_missing_columns_are_all_named(write, fmt):
    path = write(panel_frame().drop(columns=["price", "store"]), fmt)
    message = error_of(path)
    assert "missing columns 'store', 'price'; the file has columns 'date', 'item'" in message


def test_duplicate_series_and_timestamp(write, fmt):
    frame = pd.concat([panel_frame(), panel_frame().iloc[[6]]], ignore_index=True)
    message = error_of(write(frame, fmt))
    assert f"{where(15, fmt)}, column 'date': second row for series store 'S1' / item 'B' at " in (
        message
    )
    assert f"2021-01-05 (first on {where(6, fmt)})" in message


def test_gap_inside_a_series_names_series_row_and_expected_step(write, fmt):
    frame = panel_frame().drop(index=[7]).reset_index(drop=True)  # S1/B misses 2021-01-06
    message = error_of(write(frame, fmt))
    assert message.startswith(f"{write(frame, fmt)}, {where(7, fmt)}, column 'date': ")
    assert "series store 'S1' / item 'B' jumps from 2021-01-05" in message
    assert f"({where(6, fmt)}) to 2021-01-07" in message
    assert "the frequency is 'D' (inferred) so 2021-01-06 was expected next" in message


def test_timestamp_off_the_grid(write):
    frame = panel_frame("h", start="2021-01-04 10:00")
    frame.loc[12, "date"] = pd.Timestamp("2021-01-04 12:30")
    message = error_of(write(frame))
    assert "line 14, column 'date': timestamp 2021-01-04 12:30:00 is not on the grid" in message
    assert "'h' (inferred)" in message and "expected e.g. 2021-01-04 13:00:00" in message


def test_month_off_the_grid(write, fmt):
    frame = panel_frame("MS", start="2013-01-01")
    frame.loc[3, "date"] = pd.Timestamp("2013-04-15")
    message = error_of(write(frame, fmt))
    assert f"{where(3, fmt)}, column 'date': timestamp 2013-04-15 is not on the grid" in message
    assert "expected e.g. 2013-05-01" in message


def test_short_series_against_min_length(write):
    frame = panel_frame(n_steps=6)
    frame = frame[~((frame["store"] == "S2") & (frame["date"] > "2021-01-06"))]  # S2 has 3 rows
    path = write(frame)
    assert len(load_panel(path, SCHEMA, min_length=3)) == 15
    message = error_of(path, min_length=4)
    assert "series store 'S2' / item 'A' has 3 rows; expected at least 4" in message


def test_check_panel_lengths_names_the_first_short_series():
    frame = panel_frame()
    check_panel_lengths(frame, ["store", "item"], min_length=5, source="p.csv")
    with pytest.raises(DataValidationError) as error:
        check_panel_lengths(frame, ["store", "item"], min_length=6, source="p.csv")
    assert str(error.value).startswith("p.csv: series store 'S1' / item 'A' has 5 rows")
    assert "(2 more series are shorter)" in str(error.value)


def test_unreadable_and_empty_files(write, tmp_path):
    bad = tmp_path / "panel.parquet"
    bad.write_text("date,sales\n")
    assert "cannot read as Parquet" in error_of(bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "the file is empty" in error_of(empty)
    assert "no data rows" in error_of(write(panel_frame().iloc[:0]))
    assert "no data rows" in error_of(write(panel_frame().iloc[:0], "parquet"))
    with pytest.raises(DataValidationError, match="file not found"):
        load_panel(tmp_path / "missing.csv", SCHEMA)


def test_unknown_suffix(tmp_path):
    path = tmp_path / "panel.xlsx"
    path.write_text("date,sales\n2021-01-01,1\n")
    message = error_of(path)
    assert "unknown file type '.xlsx'" in message and ".csv" in message and ".parquet" in message


# --- schema ----------------------------------------------------------------------------------


def roles(**changes) -> dict:
    return {**SCHEMA.to_dict(), **changes}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"unknown_reals": ["price"]}, "column 'price' is listed as a known real and as a unknown"),
        ({"known_reals": ["price", "price"]}, "column 'price' is listed twice as a known real"),
        ({"unknown_reals": ["sales"]}, "the target 'sales' is also listed as a unknown real"),
        ({"known_reals": ["date"]}, "the time column 'date' cannot also be a known real"),
        ({"static_reals": ["store"]}, "column 'store' is listed as a group column and as a static"),
        ({"unknown_reals": [TIME_IDX]}, "'time_idx' can only be a known real"),
        ({"group_columns": []}, "expected at least one group column"),
        ({"time_column": TIME_IDX}, "the time column cannot be named 'time_idx'"),
        ({"target": ""}, "non-empty strings"),
        ({"variable_groups": {"days": ["a", "b"]}}, "variable group 'days' is not listed"),
        (
            {"known_reals": [TIME_IDX, "days"], "variable_groups": {"days": ["a"]}},
            "variable group 'days' is listed as a known real",
        ),
        (
            {"known_categoricals": ["days", "promo"], "variable_groups": {"days": ["promo"]}},
            "column 'promo' is listed as a known categorical (in variable group 'days') and as",
        ),
        ({"freq": "fortnightly"}, "Unknown frequency 'fortnightly'"),
    ],
)
def test_inconsistent_roles_are_config_errors(changes, expected):
    with pytest.raises(ConfigError) as error:
        PanelSchema(**roles(**changes))
    assert expected in str(error.value)


def test_schema_json_round_trip_and_columns():
    schema = STALLION_SCHEMA
    data = json.loads(json.dumps(schema.to_dict()))
    assert data["group_columns"] == ["agency", "sku"]
    assert data["variable_groups"]["special_days"] == list(STALLION_SPECIAL_DAYS)
    assert PanelSchema.from_dict(data) == schema
    columns = schema.columns()
    assert columns[:3] == ["agency", "sku", "date"] and TIME_IDX not in columns
    assert "special_days" not in columns and set(STALLION_SPECIAL_DAYS) <= set(columns)
    assert len(columns) == len(set(columns))
    with pytest.raises(ConfigError, match="unknown keys"):
        PanelSchema.from_dict({**data, "colour": "red"})


def test_schema_accepts_lists_and_a_single_name():
    schema = PanelSchema(group_columns="store", time_column="date", target="sales",
                         known_reals=["price"], freq="H")  # fmt: skip
    assert schema.group_columns == ("store",) and schema.known_reals == ("price",)
    assert schema.freq == "h"


def test_variable_group_members_are_categoricals(write):
    frame = panel_frame().assign(holiday=lambda f: np.where(f.index % 4 == 0, "holiday", "-"))
    schema = PanelSchema(
        **roles(known_categoricals=["promo", "days"], variable_groups={"days": ["holiday"]})
    )
    assert "holiday" in schema.columns()
    out = load_panel(write(frame), schema).frame
    assert out["holiday"].tolist()[:2] == ["holiday", "-"]


# --- Stallion --------------------------------------------------------------------------------


def stallion_like(n_months: int = 4) -> pd.DataFrame:
    """2 agencies x 2 SKUs, monthly from 2013-01, with every Stallion column, shuffled rows."""
    rng = np.random.default_rng(0)
    rows = [
        {"agency": agency, "sku": sku, "month": month}
        for agency in ("Agency_01", "Agency_02")
        for sku in ("SKU_01", "SKU_02")
        for month in range(n_months)
    ]
    frame = pd.DataFrame(rows)
    months = pd.date_range("2013-01-01", periods=n_months, freq="MS").astype("datetime64[ms]")
    frame["date"] = months[frame.pop("month").to_numpy()]
    frame["volume"] = rng.uniform(0, 100, len(frame)).round(3)
    frame.loc[0, "volume"] = 0.0
    for column in ("industry_volume", "soda_volume", "avg_population_2017"):
        frame[column] = 1000
    frame["avg_yearly_household_income_2017"] = np.where(frame["agency"] == "Agency_01", 7, 9)
    for column in ("avg_max_temp", "price_regular", "price_actual", "discount"):
        frame[column] = rng.uniform(1, 2, len(frame))
    frame["discount_in_percent"] = 5.0
    for column in STALLION_SPECIAL_DAYS:
        frame[column] = 0
    frame.loc[frame["date"].dt.month == 1, "new_year"] = 1
    frame["timeseries"] = frame.groupby(["agency", "sku"]).ngroup()
    frame[["agency", "sku"]] = frame[["agency", "sku"]].astype("category")
    return frame.sample(frac=1.0, random_state=1).reset_index(drop=True)


def tutorial_features(data: pd.DataFrame) -> pd.DataFrame:
    """pytorch-forecasting's Stallion tutorial, verbatim apart from the final sort."""
    data = data.copy()
    data["time_idx"] = data["date"].dt.year * 12 + data["date"].dt.month
    data["time_idx"] -= data["time_idx"].min()
    data["month"] = data.date.dt.month.astype(str).astype("category")
    data["log_volume"] = np.log(data.volume + 1e-8)
    data["avg_volume_by_sku"] = data.groupby(["time_idx", "sku"], observed=True).volume.transform(
        "mean"
    )
    data["avg_volume_by_agency"] = data.groupby(
        ["time_idx", "agency"], observed=True
    ).volume.transform("mean")
    special_days = list(STALLION_SPECIAL_DAYS)
    data[special_days] = (
        data[special_days].apply(lambda x: x.map({0: "-", 1: x.name})).astype("category")
    )
    return data.sort_values(["agency", "sku", "date"]).reset_index(drop=True)


def assert_tutorial_features(loaded: PanelFrame, raw: pd.DataFrame, rtol: float = 0.0) -> None:
    """Equal to the tutorial's columns; ``rtol`` allows pandas' last-digit CSV parsing error."""
    expected = tutorial_features(raw)
    for column in loaded.frame.columns:
        ours, theirs = loaded.frame[column], expected[column]
        if ours.dtype == np.float64:
            ours, theirs = ours.to_numpy(), theirs.astype(float).to_numpy()
            np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=0, err_msg=column)
        else:
            assert ours.astype(str).tolist() == theirs.astype(str).tolist(), column


def test_stallion_features_follow_the_tutorial(write):
    raw = stallion_like()
    loaded = stallion(write(raw, "parquet", "stallion"))
    assert_tutorial_features(loaded, raw)
    assert loaded.schema == STALLION_SCHEMA and loaded.schema.freq == "MS"
    out = loaded.frame
    assert out["time_idx"].tolist()[:4] == [0, 1, 2, 3]
    assert out["month"].tolist()[:4] == ["1", "2", "3", "4"]
    assert out["new_year"].tolist()[:2] == ["new_year", "-"] and out["easter_day"].eq("-").all()
    assert out["log_volume"].iat[0] == np.log(out["volume"].iat[0] + 1e-8)
    assert pd.api.types.is_string_dtype(out["agency"]) and out["volume"].dtype == np.float64


def test_stallion_from_csv(write):
    raw = stallion_like()
    assert_tutorial_features(stallion(write(raw, "csv", "stallion")), raw, rtol=1e-15)


@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [
        (lambda f: f.drop(columns="discount_in_percent"), "missing column 'discount_in_percent'"),
        (lambda f: f.assign(volume=f["volume"].where(f.index != 5)), "row 6, column 'volume'"),
        (
            lambda f: f.assign(date=f["date"].where(f.index != 2, pd.Timestamp("2013-03-15"))),
            "row 3, column 'date': 2013-03-15 is not the first day of a month",
        ),
        (
            lambda f: f.assign(volume=f["volume"].where(f.index != 1, -2.5)),
            "row 2, column 'volume': negative volume -2.5",
        ),
        (
            lambda f: f.assign(new_year=f["new_year"].where(f.index != 3, 2)),
            "row 4, column 'new_year': 2 is not a flag",
        ),
        (
            lambda f: f.assign(soda_volume=f["soda_volume"].astype(str).where(f.index != 7, "x")),
            "row 8, column 'soda_volume': expected a number, got 'x'",
        ),
        (
            lambda f: f.assign(sku=f["sku"].astype(str).where(f.index != 1, "")),
            "row 2, column 'sku': empty series id",
        ),
        (lambda f: pd.concat([f, f.iloc[[0]]]), "row 17, column 'date': second row for series"),
        (lambda f: f.iloc[:0], "no data rows"),
    ],
)
def test_bad_stallion_messages(write, corrupt, expected):
    path = write(corrupt(stallion_like()), "parquet", "stallion")
    with pytest.raises(DataValidationError) as error:
        stallion(path)
    assert str(error.value).startswith(str(path)) and expected in str(error.value)


def test_real_stallion(stallion_parquet):
    loaded = stallion(stallion_parquet, min_length=30)
    frame = loaded.frame
    assert frame.shape[0] == 21000
    assert frame["time_idx"].min() == 0 and frame["time_idx"].max() == 59
    assert frame.groupby(["agency", "sku"]).ngroups == 350
    assert (frame.groupby(["agency", "sku"]).size() == 60).all()
    assert_tutorial_features(loaded, pd.read_parquet(stallion_parquet))
    with pytest.raises(DataValidationError, match="has 60 rows; expected at least 61"):
        stallion(stallion_parquet, min_length=61)


# --- demo and resolve_panel ------------------------------------------------------------------


def test_demo_panel_is_deterministic_and_stallion_shaped():
    first, second = demo_panel(), demo_panel()
    pd.testing.assert_frame_equal(first.frame, second.frame)
    assert not np.allclose(demo_panel(seed=1).frame["volume"], first.frame["volume"])
    frame = first.frame
    assert first.synthetic and first.schema.freq == "MS" and len(frame) == 12 * 48
    assert frame.groupby(["agency", "sku"]).ngroups == 12
    assert frame["time_idx"].tolist()[:48] == list(range(48))
    assert (frame["volume"] >= 0).all() and frame["volume"].dtype == np.float64
    assert set(frame["month"]) == {str(m) for m in range(1, 13)}
    assert first.schema.static_reals and first.schema.unknown_reals
    assert "price_regular" in first.schema.known_reals
    assert len(demo_panel(n_series=2, n_steps=3)) == 6
    with pytest.raises(ConfigError):
        demo_panel(n_series=0)


def test_resolve_demo_and_unknown_names(caplog):
    assert resolve_panel("demo", None, None, min_length=10).synthetic
    with pytest.raises(DataValidationError, match="has 48 rows; expected at least 49"):
        resolve_panel("demo", None, None, min_length=49)
    with caplog.at_level(logging.WARNING, logger="forecasting.data.sources"):
        assert resolve_panel("demo", None, ROLES, min_length=0).schema.target == "volume"
    assert "ignoring them" in caplog.text
    with pytest.raises(ConfigError, match="expected 'stallion' or 'demo'"):
        resolve_panel("ETTh1", None, None, min_length=0)


def test_resolve_local_files(write):
    raw_stallion = write(stallion_like(), "parquet", "stallion")
    loaded = resolve_panel("stallion", raw_stallion, None, min_length=4)
    assert loaded.schema == STALLION_SCHEMA and not loaded.synthetic
    path = write(panel_frame())
    daily = replace(SCHEMA, freq="D")
    assert resolve_panel("stallion", path, ROLES, min_length=0).schema == daily  # roles win
    assert resolve_panel(None, path, ROLES, min_length=0).schema == daily
    with pytest.raises(ConfigError, match="leave out --dataset, or pass --dataset stallion"):
        resolve_panel("demo", path, None, min_length=0)


def test_resolve_stallion_falls_back_to_demo_when_offline(monkeypatch, caplog):
    def offline(name):
        raise DatasetUnavailableError(f"Could not download {name} (offline)")

    monkeypatch.setattr(sources, "fetch", offline)
    with caplog.at_level(logging.WARNING, logger="forecasting.data.sources"):
        loaded = resolve_panel("stallion", None, None, min_length=12)
    assert loaded.synthetic
    assert "Could not download stallion" in caplog.text and "NOT a Stallion result" in caplog.text


def test_resolve_stallion_uses_the_fetched_file(monkeypatch, write):
    path = write(stallion_like(), "parquet", "stallion")
    monkeypatch.setattr(sources, "fetch", lambda name: path)
    assert not resolve_panel("stallion", None, None, min_length=0).synthetic
