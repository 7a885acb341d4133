"""A user's own panel for the TFT (issue 17, items 8 and 9): column roles inferred or given and
announced, calendar known reals from the time column, the file's columns for inference."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.data.panel import TIME_IDX, PanelSchema
from forecasting.data.panel_loading import validate_panel
from forecasting.data.panel_roles import PanelRoles, load_user_panel
from forecasting.data.stallion import STALLION_SCHEMA, file_columns, file_rows
from forecasting.data.validation import Location
from forecasting.errors import ConfigError, DataValidationError

METERS = ("office", "shop", "depot")


def meter_panel(days: int = 4, seed: int = 0) -> pd.DataFrame:
    """15-minute load of 3 meters (``ts, meter_id, load_kw, temp_c``), as the issue's user has.

    Load is never negative and near 0 at night for the office, so an untrained model's lower
    quantiles fall below 0.
    """
    rng = np.random.default_rng(seed)
    stamps = pd.date_range("2024-03-01", periods=days * 96, freq="15min")
    hour = (stamps.hour + stamps.minute / 60).to_numpy()
    daylight = np.clip(np.sin(2 * np.pi * (hour - 6) / 24), 0, None)
    parts = []
    for i, meter in enumerate(METERS):
        temp = 10 + 5 * np.sin(2 * np.pi * (hour - 9) / 24) + rng.normal(0, 0.5, len(stamps))
        load = (0.2 + 10 * i) * daylight + rng.gamma(1.0, 0.2 + i, len(stamps))
        parts.append(
            pd.DataFrame(
                {
                    "ts": stamps.strftime("%Y-%m-%d %H:%M"),
                    "meter_id": meter,
                    "load_kw": load.round(3),
                    "temp_c": temp.round(2),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def write_meters(path: Path, frame: pd.DataFrame | None = None) -> Path:
    (meter_panel() if frame is None else frame).to_csv(path, index=False)
    return path


def test_a_meter_panel_gets_its_roles_inferred_and_announced(tmp_path, caplog):
    path = write_meters(tmp_path / "my.csv")
    with caplog.at_level(logging.INFO, logger="forecasting"):
        panel = load_user_panel(path, PanelRoles())
    schema = panel.schema
    assert (schema.time_column, schema.group_columns, schema.target) == (
        "ts", ("meter_id",), "load_kw"
    )  # fmt: skip
    assert schema.static_categoricals == ("meter_id",)
    assert schema.unknown_reals == ("temp_c",) and schema.known_reals == ()
    assert schema.freq == "15min" and schema.calendar
    assert (
        "inferred time column 'ts'; series id 'meter_id'; target 'load_kw' (the first numeric "
        "column; choose with --targets); unknown reals 'temp_c'"
    ) in caplog.text
    assert (
        "calendar known reals for frequency '15min': minute_of_hour, hour_of_day, day_of_week, "
        "day_of_month, day_of_year"
    ) in caplog.text


def test_calendar_features_come_from_the_time_column(tmp_path):
    panel = load_user_panel(write_meters(tmp_path / "my.csv"), PanelRoles())
    frame = panel.frame
    calendar = panel.schema.calendar_columns()
    assert calendar == [
        "minute_of_hour", "hour_of_day", "day_of_week", "day_of_month", "day_of_year"
    ]  # fmt: skip
    row = frame[(frame["meter_id"] == "shop") & (frame["ts"] == "2024-03-02 06:15")].iloc[0]
    assert row[TIME_IDX] == 96 + 25
    assert row["hour_of_day"] == pytest.approx(6 / 23 - 0.5)
    assert row["minute_of_hour"] == pytest.approx(15 / 59 - 0.5)
    assert row["day_of_week"] == pytest.approx(5 / 6 - 0.5)  # a Saturday
    assert all(frame[name].dtype == np.float64 for name in calendar)
    assert set(calendar).isdisjoint(file_columns(panel.schema))  # generated, never read


def test_inference_rows_get_the_same_calendar_features(tmp_path):
    """The schema records the choice, so rows validated at inference rebuild the features."""
    panel = load_user_panel(write_meters(tmp_path / "my.csv"), PanelRoles())
    later = meter_panel().iloc[200:260].reset_index(drop=True)
    origin = pd.Timestamp("2024-03-01")
    rebuilt = validate_panel(later, panel.schema, Location("request.csv"), origin).frame
    trained = panel.frame.set_index(["meter_id", TIME_IDX])
    for name in panel.schema.calendar_columns():
        keys = zip(rebuilt["meter_id"], rebuilt[TIME_IDX], strict=True)
        expected = trained.loc[list(keys), name]
        np.testing.assert_array_equal(rebuilt[name].to_numpy(), expected.to_numpy())


def test_calendar_features_can_be_turned_off(tmp_path):
    panel = load_user_panel(write_meters(tmp_path / "my.csv"), PanelRoles(calendar=False))
    assert panel.schema.calendar_columns() == []
    assert "hour_of_day" not in panel.frame.columns


def test_given_roles_are_kept_and_columns_in_no_role_are_named(tmp_path, caplog):
    frame = meter_panel().assign(site="north", price=1.5)
    path = write_meters(tmp_path / "my.csv", frame)
    roles = PanelRoles(group_columns=("meter_id",), known_reals=("temp_c",))
    with caplog.at_level(logging.INFO, logger="forecasting"):
        schema = load_user_panel(path, roles).schema
    assert schema.known_reals == ("temp_c",) and schema.unknown_reals == ()
    assert schema.target == "load_kw"
    assert "not used: 'site', 'price'" in caplog.text
    assert (
        "column roles: series id meter_id; time ts; target load_kw; static categoricals "
        "meter_id; known reals temp_c"
    ) in caplog.text


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda f: f.assign(read_at=f["ts"]), "several: 'ts', 'read_at' hold only timestamps"),
        (lambda f: f.drop(columns="ts"), "cannot tell the time column (none hold only"),
        (lambda f: f.assign(meter_id=f["meter_id"].map({"office": 1, "shop": 2, "depot": 3})),
         "no column holds labels only); pass --group-columns"),
        (lambda f: f.drop(columns=["load_kw", "temp_c"]), "no numeric column to forecast"),
    ],
)  # fmt: skip
def test_roles_that_cannot_be_inferred_are_asked_for(tmp_path, change, expected):
    path = write_meters(tmp_path / "my.csv", change(meter_panel()))
    with pytest.raises(DataValidationError) as error:
        load_user_panel(path, PanelRoles())
    assert str(error.value).startswith(f"{path}, line 1: ") and expected in str(error.value)


def test_a_column_named_like_a_calendar_feature_is_refused(tmp_path):
    path = write_meters(tmp_path / "my.csv", meter_panel().assign(hour_of_day=1.0))
    with pytest.raises(ConfigError, match="'hour_of_day' is also the name of a calendar feature"):
        load_user_panel(path, PanelRoles())


def test_file_rows_are_the_files_columns_and_stallion_keeps_its_own():
    panel_frame = pd.DataFrame(
        {"meter_id": ["a"], "ts": [pd.Timestamp("2024-01-01")], "load_kw": [1.0],
         "temp_c": [2.0], TIME_IDX: [0], "hour_of_day": [-0.5]}
    )  # fmt: skip
    schema = PanelSchema(
        group_columns=("meter_id",), time_column="ts", target="load_kw",
        unknown_reals=("temp_c",), freq="h", calendar=True,
    )  # fmt: skip
    assert list(file_rows(panel_frame, schema).columns) == ["meter_id", "ts", "load_kw", "temp_c"]
    assert "special_days" not in file_columns(STALLION_SCHEMA)
    assert "easter_day" in file_columns(STALLION_SCHEMA)
