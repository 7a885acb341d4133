"""The Stallion beverage-demand panel (350 agency × SKU monthly series) for the TFT.

Only validation and the integer time index the TFT needs are done here; feature engineering
belongs to the TFT step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.data import validation
from forecasting.data.validation import Location
from forecasting.errors import DataValidationError

TIME_COLUMN = "date"
TARGET = "volume"
GROUPS = ["agency", "sku"]
REALS = [
    "industry_volume",
    "soda_volume",
    "avg_max_temp",
    "price_regular",
    "price_actual",
    "discount",
    "avg_population_2017",
    "avg_yearly_household_income_2017",
]
SPECIAL_DAYS = [
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
]
FIRST_MONTH = pd.Timestamp("2013-01-01")  # time_idx 0


def _read(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
        raise DataValidationError(
            f"{path}: cannot read as Parquet ({' '.join(str(error).split())}); "
            "expected the Stallion parquet file"
        ) from None


def load_stallion(path: str | Path) -> pd.DataFrame:
    """Load and validate Stallion; adds ``time_idx`` = months since 2013-01.

    ``agency``/``sku`` become plain strings (what pytorch-forecasting's categorical encoders
    expect); numeric columns become float64 and must be finite; rows are sorted by series, time.
    """
    path = validation.check_file(path)
    where = Location(str(path), first_row=1, unit="row", header_line=None)
    frame = _read(path)
    validation.check_has_rows(len(frame), where)
    numeric = [TARGET, *REALS, *SPECIAL_DAYS]
    validation.require_columns(frame.columns, [TIME_COLUMN, *GROUPS, *numeric], where)

    frame = frame.reset_index(drop=True)
    dates = validation.parse_timestamps(frame[TIME_COLUMN], TIME_COLUMN, where)
    numbers = validation.parse_numbers(frame[numeric], where)
    for column in GROUPS:
        blank = frame[column].isna() | (frame[column].astype(str).str.strip() == "")
        empty = np.flatnonzero(blank.to_numpy())
        if len(empty):
            raise DataValidationError(
                f"{where.row(int(empty[0]), column)}: empty value; expected a {column} name"
            )
    _check_values(numbers, dates, where)

    frame[numeric] = numbers
    frame[TIME_COLUMN] = dates
    for column in GROUPS:
        frame[column] = frame[column].astype(str)
    months = (dates.year - FIRST_MONTH.year) * 12 + (dates.month - FIRST_MONTH.month)
    frame["time_idx"] = months.astype(np.int64)
    _check_unique(frame, where)
    return frame.sort_values([*GROUPS, "time_idx"], kind="stable").reset_index(drop=True)


def _first(mask: np.ndarray) -> int | None:
    found = np.flatnonzero(mask)
    return int(found[0]) if len(found) else None


def _check_values(numbers: pd.DataFrame, dates: pd.DatetimeIndex, where: Location) -> None:
    row = _first(dates.day != 1)
    if row is not None:
        raise DataValidationError(
            f"{where.row(row, TIME_COLUMN)}: {dates[row].date()} is not the first day of a "
            "month; expected monthly dates on the 1st"
        )
    row = _first(dates < FIRST_MONTH)
    if row is not None:
        raise DataValidationError(
            f"{where.row(row, TIME_COLUMN)}: {dates[row].date()} is before "
            f"{FIRST_MONTH.date()}, where time_idx starts"
        )
    row = _first(numbers[TARGET].to_numpy() < 0)
    if row is not None:
        raise DataValidationError(
            f"{where.row(row, TARGET)}: negative volume {numbers[TARGET].iat[row]}; "
            "expected a volume >= 0"
        )
    flags = numbers[SPECIAL_DAYS].to_numpy()
    bad = np.argwhere((flags != 0) & (flags != 1))
    if len(bad):
        row, col = (int(i) for i in bad[0])
        raise DataValidationError(
            f"{where.row(row, SPECIAL_DAYS[col])}: {flags[row, col]:g} is not a flag; "
            "expected 0 or 1"
        )


def _check_unique(frame: pd.DataFrame, where: Location) -> None:
    keys = [*GROUPS, "time_idx"]
    row = _first(frame.duplicated(keys).to_numpy())
    if row is not None:
        agency, sku, date = (frame.at[row, c] for c in (*GROUPS, TIME_COLUMN))
        raise DataValidationError(
            f"{where.row(row)}: second row for agency {agency!r}, sku {sku!r}, month "
            f"{date.date()}; expected one row per series and month"
        )


def check_panel_lengths(
    frame: pd.DataFrame, *, encoder_length: int, horizon: int, source: str
) -> None:
    """Every agency × SKU series must hold one encoder window plus one horizon."""
    sizes = frame.groupby(GROUPS, observed=True, sort=True).size()
    for (agency, sku), size in sizes.items():
        validation.check_series_length(
            int(size),
            encoder_length=encoder_length,
            horizon=horizon,
            source=source,
            series=f"agency {agency!r} / sku {sku!r}",
        )
