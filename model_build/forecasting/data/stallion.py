"""Stallion (pytorch-forecasting's TFT tutorial data set) with the tutorial's feature
engineering, and a small synthetic panel of the same kind for demos and tests."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.data import validation
from forecasting.data.panel import TIME_IDX, PanelFrame, PanelSchema
from forecasting.data.panel_loading import first_index, parse_labels, read_table, validate_rows
from forecasting.data.validation import Location
from forecasting.errors import ConfigError, DataValidationError

# --- Stallion ------------------------------------------------------------------------------

STALLION_SPECIAL_DAYS = (
    "easter_day",
    "good_friday",
    "new_year",
    "christmas",
    "labor_day",
    "independence_day",
    "revolution_day_memorial",
    "regional_games",
    "fifa_u_17_world_cup",
    "football_gold_cup",
    "beer_capital",
    "music_fest",
)
STALLION_SCHEMA = PanelSchema(
    group_columns=("agency", "sku"),
    time_column="date",
    target="volume",
    static_categoricals=("agency", "sku"),
    static_reals=("avg_population_2017", "avg_yearly_household_income_2017"),
    known_categoricals=("special_days", "month"),
    known_reals=(TIME_IDX, "price_regular", "discount_in_percent"),
    unknown_reals=(
        "log_volume",
        "industry_volume",
        "soda_volume",
        "avg_max_temp",
        "avg_volume_by_agency",
        "avg_volume_by_sku",
    ),
    variable_groups={"special_days": STALLION_SPECIAL_DAYS},
    freq="MS",
)

log = logging.getLogger("forecasting.data.panel")
_ENGINEERED = ("month", "log_volume", "avg_volume_by_sku", "avg_volume_by_agency")
STALLION_COLUMNS = tuple(c for c in STALLION_SCHEMA.columns() if c not in _ENGINEERED)


def is_stallion(schema: PanelSchema) -> bool:
    """A model of Stallion: its requests hold the raw file's columns, engineered as in training."""
    return schema.to_dict() == STALLION_SCHEMA.to_dict()


def file_columns(schema: PanelSchema) -> list[str]:
    """The columns of a training file, and so of an inference request, for ``schema``."""
    return list(STALLION_COLUMNS) if is_stallion(schema) else schema.columns()


def file_rows(frame: pd.DataFrame, schema: PanelSchema) -> pd.DataFrame:
    """Rows of a validated panel as they stand in a file (the form inference reads).

    Generated columns are left out; Stallion's special-day names become the file's 0/1 flags.
    """
    rows = frame[file_columns(schema)].copy()
    if is_stallion(schema):
        for name in STALLION_SPECIAL_DAYS:
            rows[name] = (frame[name].astype(str) == name).astype(int)
    return rows


def stallion(path: str | Path, *, min_length: int = 0) -> PanelFrame:
    """Load Stallion and add the features of pytorch-forecasting's TFT tutorial.

    ``time_idx`` counts months from the file's first month (2013-01 in the published file);
    ``month`` is the month number as a string; ``log_volume = log(volume + 1e-8)``; the mean
    volume per month and SKU and per month and agency; the 12 special-day 0/1 flags become
    ``"-"`` or their column name, grouped as ``special_days``. Roles: :data:`STALLION_SCHEMA`.
    """
    raw, where = read_table(path)
    return validate_rows(stallion_features(raw, where), STALLION_SCHEMA, where, min_length)


def stallion_features(raw: pd.DataFrame, where: Location) -> pd.DataFrame:
    """The tutorial's features over raw Stallion rows (training files and inference requests)."""
    validation.require_columns(raw.columns, STALLION_COLUMNS, where)
    raw = raw.reset_index(drop=True)
    for column in STALLION_SCHEMA.group_columns:  # the averages below group by them
        raw[column] = parse_labels(raw[column], column, where, "series id")
    dates = validation.parse_timestamps(raw["date"], "date", where)
    row = first_index(dates.day != 1)
    if row is not None:
        raise DataValidationError(
            f"{where.row(row, 'date')}: {dates[row].date()} is not the first day of a month; "
            "expected monthly dates on the 1st"
        )
    volume = validation.parse_numbers(raw[["volume"]], where)["volume"]
    row = first_index(volume.to_numpy() < 0)
    if row is not None:
        raise DataValidationError(
            f"{where.row(row, 'volume')}: negative volume {volume.iat[row]:g}; "
            "expected a volume >= 0"
        )
    flags = validation.parse_numbers(raw[list(STALLION_SPECIAL_DAYS)], where)
    bad = np.argwhere(~flags.isin([0.0, 1.0]).to_numpy())
    if len(bad):
        row, col = (int(i) for i in bad[0])
        raise DataValidationError(
            f"{where.row(row, STALLION_SPECIAL_DAYS[col])}: {flags.iat[row, col]:g} is not a "
            "flag; expected 0 or 1"
        )

    raw["date"] = dates
    raw["volume"] = volume
    raw["month"] = dates.month.astype(str)
    raw["log_volume"] = np.log(volume + 1e-8)
    for by in ("sku", "agency"):
        raw[f"avg_volume_by_{by}"] = volume.groupby([dates, raw[by]]).transform("mean")
    for name in STALLION_SPECIAL_DAYS:
        raw[name] = np.where(flags[name].to_numpy() == 1, name, "-")
    return raw


# --- synthetic demo ------------------------------------------------------------------------

DEMO_SCHEMA = PanelSchema(
    group_columns=("agency", "sku"),
    time_column="date",
    target="volume",
    static_categoricals=("agency", "sku"),
    static_reals=("avg_population_2017",),
    known_categoricals=("month",),
    known_reals=(TIME_IDX, "price_regular"),
    unknown_reals=("avg_max_temp",),
    freq="MS",
)


def demo_panel(n_series: int = 12, n_steps: int = 48, seed: int = 0) -> PanelFrame:
    """A deterministic synthetic monthly panel shaped like Stallion, for smoke tests and demos.

    Each series has its own level and seasonal phase; volume falls with price, rises with
    temperature, and is never negative. Clearly flagged ``synthetic``: not for benchmarks.
    """
    if n_series < 1 or n_steps < 1:
        raise ConfigError(
            f"demo_panel needs n_series >= 1 and n_steps >= 1, got {n_series} and {n_steps}"
        )
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2013-01-01", periods=n_steps, freq="MS")
    season = 2 * np.pi * (dates.month.to_numpy() - 1) / 12
    level = rng.lognormal(6.0, 1.0, n_series)[:, None]
    phase = rng.uniform(0, 2 * np.pi, n_series)[:, None]
    base_price = rng.uniform(900.0, 1500.0, n_series)[:, None]
    price = base_price * (1 + 0.05 * rng.standard_normal((n_series, n_steps)))
    temperature = 25 + 5 * np.sin(season - np.pi / 2) + rng.normal(0, 1, (n_series, n_steps))
    volume = (
        level
        * (1 + 0.3 * np.sin(season + phase))
        * (base_price / price) ** 2
        * (1 + 0.02 * (temperature - 25))
        * (1 + 0.1 * rng.standard_normal((n_series, n_steps)))
    )
    series = np.repeat(np.arange(n_series), n_steps)
    frame = pd.DataFrame(
        {
            "agency": [f"Agency_{i // 3 + 1:02d}" for i in series],
            "sku": [f"SKU_{i % 3 + 1:02d}" for i in series],
            "date": np.tile(dates, n_series),
            "volume": np.clip(volume, 0, None).ravel(),
            "avg_population_2017": np.repeat(rng.integers(10_000, 2_000_000, n_series), n_steps),
            "price_regular": price.ravel(),
            "month": np.tile(dates.month.astype(str), n_series),
            "avg_max_temp": temperature.ravel(),
        }
    )
    where = Location("synthetic demo panel", first_row=1, unit="row", header_line=None)
    return replace(validate_rows(frame, DEMO_SCHEMA, where, 0), synthetic=True)
