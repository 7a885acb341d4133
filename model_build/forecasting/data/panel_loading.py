"""Reading and validating a panel file whose column roles are known: one message per problem,
naming the file, row, series and column."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from pandas.tseries.offsets import BaseOffset, Day, Tick

from forecasting.data import validation
from forecasting.data.panel import CSV_SUFFIXES, PARQUET_SUFFIXES, TIME_IDX, PanelFrame, PanelSchema
from forecasting.data.series import read_csv_text
from forecasting.data.time_features import normalize_freq, time_features
from forecasting.data.validation import Location
from forecasting.errors import ConfigError, DataValidationError

log = logging.getLogger("forecasting.data.panel")

# --- reading -------------------------------------------------------------------------------


def read_table(path: str | Path) -> tuple[pd.DataFrame, Location]:
    """A CSV (untouched text cells) or Parquet file (typed columns), chosen by suffix.

    Data row ``i`` of the result is ``where.row(i)`` in messages: CSV line ``i + 2``, Parquet
    row ``i + 1``.
    """
    path = validation.check_file(path)
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return read_csv_text(path)
    if suffix not in PARQUET_SUFFIXES:
        raise DataValidationError(
            f"{path}: unknown file type {suffix or '(no suffix)'!r}; expected a CSV file with a "
            f"header ({', '.join(CSV_SUFFIXES)}) or a Parquet file ({', '.join(PARQUET_SUFFIXES)})"
        )
    where = Location(str(path), first_row=1, unit="row", header_line=None)
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
        raise DataValidationError(
            f"{path}: cannot read as Parquet ({' '.join(str(error).split())}); "
            "expected a Parquet file with one column per variable"
        ) from None
    # A named index (e.g. written after set_index("date")) is data; a default one is not.
    named = any(name is not None for name in frame.index.names)
    frame = frame.reset_index(drop=not named)
    frame.columns = [str(name) for name in frame.columns]
    validation.check_has_rows(len(frame), where)
    return frame, where


# --- validation helpers --------------------------------------------------------------------


def first_index(mask: np.ndarray) -> int | None:
    found = np.flatnonzero(mask)
    return int(found[0]) if len(found) else None


def _stamp(value: object) -> str:
    """A timestamp as a user wrote it: the date alone when the time is midnight."""
    text = str(value)
    return text[:10] if text.endswith(" 00:00:00") else text


def series_name(group_columns: Sequence[str], key: Any) -> str:
    """``"agency 'Agency_01' / sku 'SKU_01'"``: one series, as messages name it."""
    values = key if isinstance(key, tuple) else (key,)
    pairs = zip(group_columns, values, strict=True)
    return " / ".join(f"{column} {_show(value)}" for column, value in pairs)


def _show(value: Any) -> str:
    """``repr`` of a cell without numpy's type wrapper (``1.5``, not ``np.float64(1.5)``)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def parse_labels(raw: pd.Series, column: str, where: Location, what: str) -> pd.Series:
    """A label column as stripped strings (numbers too); the first empty cell is reported."""
    missing = raw.isna().to_numpy()
    text = raw.astype(str).str.strip()
    row = first_index(missing | (text == "").to_numpy())
    if row is not None:
        raise DataValidationError(
            f"{where.row(row, column)}: empty {what}; expected a value in every row"
        )
    return text


def _fixed_step(offset: BaseOffset) -> pd.Timedelta | None:
    """The duration of one step when it never varies (hours, minutes), else None.

    Days are calendar steps in pandas 3 (23 or 25 hours across a DST change), so they are
    counted on a calendar grid like months.
    """
    return pd.Timedelta(offset) if isinstance(offset, Tick) else None


def _nominal_step(offset: BaseOffset) -> pd.Timedelta | None:
    """The usual duration of one step, for comparing with observed steps; None for months."""
    if isinstance(offset, Day):
        return pd.Timedelta(days=offset.n)
    return _fixed_step(offset)


def _infer_freq(stamps: pd.DatetimeIndex, starts: np.ndarray, column: str, where: Location) -> str:
    """The panel's frequency: pandas' inference on all timestamps, or the most common step.

    ``stamps`` are sorted by series then time and ``starts`` marks each series' first row. The
    union of timestamps gives exact aliases (``B``, ``W-SUN``, ``MS``) when the series share a
    calendar; otherwise the modal step inside series decides, so an irregular row or weekly
    series on different weekdays (whose union looks daily) are reported against the real step.
    """
    inside = ~starts[1:]
    steps = pd.Series((stamps[1:] - stamps[:-1])[inside])
    mode: pd.Timedelta | None = None
    if len(steps):  # the most common step
        mode = cast(pd.Timedelta, steps.value_counts().sort_index(kind="stable").idxmax())
    union = stamps.unique().sort_values()
    inferred = pd.infer_freq(union) if len(union) >= 3 else None
    if inferred is not None:
        step = _nominal_step(to_offset(inferred))
        if mode is None or step is None or step == mode:
            return normalize_freq(inferred)
    if mode is None:
        raise DataValidationError(
            f"{where.source}, column {column!r}: cannot infer the frequency, no series has two "
            "rows; expected longer series, or pass the frequency explicitly"
        )
    return normalize_freq(validation.freq_of_step(mode, union))


def _step_index(
    stamps: pd.DatetimeIndex, offset: BaseOffset, start: pd.Timestamp
) -> tuple[np.ndarray, np.ndarray, pd.DatetimeIndex | None]:
    """Steps of ``offset`` since ``start`` for every timestamp, and whether it lies on that grid.

    Fixed steps are counted by division; calendar steps (months, business days) by position in
    the explicit grid, which also rejects a grid start that is not on the offset.
    """
    step = _fixed_step(offset)
    if step is not None:
        delta = stamps - start
        return (delta // step).to_numpy(np.int64), (delta % step == pd.Timedelta(0)), None
    grid = pd.date_range(start, stamps.max(), freq=offset)
    position = grid.searchsorted(stamps)
    clipped = np.minimum(position, max(len(grid) - 1, 0))
    on_grid = (position < len(grid)) & (grid[clipped] == stamps) if len(grid) else position < 0
    return position.astype(np.int64), np.asarray(on_grid), grid


def check_panel_lengths(
    frame: pd.DataFrame,
    group_columns: Sequence[str],
    *,
    min_length: int,
    source: str,
    up_to: int | None = None,
    why: str = "one encoder window plus the forecast horizon",
) -> None:
    """Every series needs ``min_length`` rows, counting only ``time_idx <= up_to`` if given."""
    if min_length <= 0 or frame.empty:
        return
    counted = frame[TIME_IDX] <= up_to if up_to is not None else pd.Series(True, frame.index)
    rows = counted.astype(int)
    sizes = rows.groupby([frame[c] for c in group_columns], sort=True, observed=True).sum()
    short = sizes[sizes < min_length]
    if len(short):
        more = len(short) - 1
        others = f" ({more} more series are shorter)" if more else ""
        where = f" up to time_idx {up_to}" if up_to is not None else ""
        raise DataValidationError(
            f"{source}: series {series_name(group_columns, short.index[0])} has "
            f"{int(short.iloc[0])} rows{where}; expected at least {min_length} per series "
            f"({why}){others}"
        )


# --- the generic loader --------------------------------------------------------------------


def load_panel(path: str | Path, schema: PanelSchema, *, min_length: int = 0) -> PanelFrame:
    """Load and validate a panel from a CSV (with header) or Parquet file.

    Only the schema's columns are kept. The frequency is ``schema.freq`` if given, otherwise
    inferred; either way every series must step along it without gaps, since the TFT's
    windows count steps by ``time_idx``.
    """
    raw, where = read_table(path)
    return validate_rows(raw, schema, where, min_length)


def validate_rows(
    raw: pd.DataFrame, schema: PanelSchema, where: Location, min_length: int
) -> PanelFrame:
    """Check ``raw`` (row ``i`` is ``where.row(i)``) against ``schema``; build the PanelFrame."""
    validation.check_has_rows(len(raw), where)
    if TIME_IDX in raw.columns:
        log.warning(
            "%s: ignoring the column %r; it is recomputed from %r",
            where.source,
            TIME_IDX,
            schema.time_column,
        )
    validation.require_columns(raw.columns, schema.columns(), where)
    raw = raw.reset_index(drop=True)

    data: dict[str, Any] = {}
    for column in schema.group_columns:
        data[column] = parse_labels(raw[column], column, where, "series id")
    time = schema.time_column
    stamps = validation.parse_timestamps(raw[time], time, where)
    for column in schema.categorical_columns():
        if column not in data:
            data[column] = parse_labels(raw[column], column, where, "category")
    numbers = validation.parse_numbers(raw[schema.real_columns()], where)
    data.update({column: numbers[column] for column in numbers.columns})
    data[time] = pd.Series(stamps, index=raw.index)
    frame = pd.DataFrame({column: data[column] for column in schema.columns()})

    groups = list(schema.group_columns)
    _check_duplicates(frame, groups, time, where)
    frame["_row"] = np.arange(len(frame))
    frame = frame.sort_values([*groups, time], kind="stable").reset_index(drop=True)
    rows = frame.pop("_row").to_numpy()
    stamps = pd.DatetimeIndex(frame[time])
    starts = np.arange(len(frame)) == 0  # marks the first row of each series
    for column in groups:
        values = frame[column].to_numpy()
        starts[1:] |= values[1:] != values[:-1]

    how = "given" if schema.freq else "inferred"
    freq = schema.freq or _infer_freq(stamps, starts, time, where)
    offset = to_offset(freq)
    steps = _check_grid(frame, stamps, starts, rows, offset, f"{freq!r} ({how})", schema, where)
    frame[TIME_IDX] = steps
    schema = replace(schema, freq=freq)
    _add_calendar(frame, stamps, schema)
    _check_static(frame, starts, rows, schema, where)
    check_panel_lengths(frame, groups, min_length=min_length, source=where.source)
    return PanelFrame(frame=frame, schema=schema, source=where.source)


def _add_calendar(frame: pd.DataFrame, stamps: pd.DatetimeIndex, schema: PanelSchema) -> None:
    """The schema's calendar known reals, from the timestamps (the same in inference)."""
    names = schema.calendar_columns()
    if not names:
        return
    taken = [name for name in names if name in schema.columns()]
    if taken:
        raise ConfigError(
            f"column {taken[0]!r} is also the name of a calendar feature computed from "
            f"{schema.time_column!r}; rename the column or turn the calendar features off "
            "(--calendar-features false)"
        )
    values = time_features(stamps, str(schema.freq))
    for i, name in enumerate(names):
        frame[name] = values[:, i].astype(np.float64)


def validate_panel(
    raw: pd.DataFrame, schema: PanelSchema, where: Location, origin: pd.Timestamp
) -> PanelFrame:
    """Validate rows that continue a panel whose ``time_idx`` 0 was at ``origin`` (inference).

    ``time_idx`` is a model input (a known real, scaled at fit time), so new rows must count
    steps from the training data's first timestamp, not from their own.
    """
    panel = validate_rows(raw, schema, where, 0)
    first = panel.frame[schema.time_column].min()
    if first < origin:
        raise DataValidationError(
            f"{where.source}: the first timestamp {_stamp(first)} is before {_stamp(origin)}, "
            "where the training data started; expected rows from then on"
        )
    grid = to_offset(panel.schema.freq)
    if grid is None:
        raise ConfigError(f"{where.source}: the panel has no frequency")  # load_panel sets one
    shift, on_grid, _ = _step_index(pd.DatetimeIndex([first]), grid, origin)
    if not on_grid[0]:
        raise DataValidationError(
            f"{where.source}: timestamp {_stamp(first)} is not on the {panel.schema.freq!r} grid "
            f"of the training data, which started at {_stamp(origin)}"
        )
    panel.frame[TIME_IDX] += int(shift[0])
    return panel


def _check_duplicates(frame: pd.DataFrame, groups: list[str], time: str, where: Location) -> None:
    """One row per series and time step, or pytorch-forecasting would mix two rows into one."""
    row = first_index(frame.duplicated([*groups, time]).to_numpy())
    if row is None:
        return
    same = np.ones(len(frame), dtype=bool)
    for column in [*groups, time]:
        same &= (frame[column] == frame.at[row, column]).to_numpy()
    first = int(np.flatnonzero(same)[0])
    key = tuple(frame.at[row, column] for column in groups)
    raise DataValidationError(
        f"{where.row(row, time)}: second row for series {series_name(groups, key)} at "
        f"{_stamp(frame.at[row, time])} (first on {where.unit} {where.number(first)}); "
        "expected one row per series and time step"
    )


def _check_grid(
    frame: pd.DataFrame,
    stamps: pd.DatetimeIndex,
    starts: np.ndarray,
    rows: np.ndarray,
    offset: BaseOffset,
    freq_text: str,
    schema: PanelSchema,
    where: Location,
) -> np.ndarray:
    """``time_idx`` for every (sorted) row; off-grid timestamps and gaps inside series fail."""
    time = schema.time_column
    start = stamps.min()
    steps, on_grid, grid = _step_index(stamps, offset, start)
    off = np.flatnonzero(~on_grid)
    if len(off):
        at = off[np.argmin(rows[off])]
        stamp = stamps[at]
        if grid is None:
            step = _fixed_step(offset)
            example = start + (steps[at] + 1) * step
        else:
            example = (
                grid[min(steps[at], len(grid) - 1)] if len(grid) else offset.rollforward(start)
            )
        raise DataValidationError(
            f"{where.row(int(rows[at]), time)}: timestamp {_stamp(stamp)} is not on the grid of "
            f"frequency {freq_text} that starts at {_stamp(start)}, the earliest timestamp in "
            f"the file; expected e.g. {_stamp(example)}, or pass the right frequency"
        )
    jumps = np.flatnonzero((np.diff(steps) != 1) & ~starts[1:]) + 1
    if len(jumps):
        at = jumps[np.argmin(rows[jumps])]
        key = tuple(frame.at[at, column] for column in schema.group_columns)
        previous = stamps[at - 1]
        raise DataValidationError(
            f"{where.row(int(rows[at]), time)}: series {series_name(schema.group_columns, key)} "
            f"jumps from {_stamp(previous)} ({where.unit} {where.number(int(rows[at - 1]))}) to "
            f"{_stamp(stamps[at])}, but the frequency is {freq_text} so "
            f"{_stamp(previous + offset)} was expected next; fill or drop the gap (the TFT "
            "needs one row per step), or pass the right frequency"
        )
    return steps


def _check_static(
    frame: pd.DataFrame, starts: np.ndarray, rows: np.ndarray, schema: PanelSchema, where: Location
) -> None:
    """A static variable must be constant per series: the TFT reads it once, from one row."""
    columns: list[str] = []
    for role in ("static_categoricals", "static_reals"):
        for name in getattr(schema, role):
            columns += schema.variable_groups.get(name, (name,))
    first_of = np.maximum.accumulate(np.where(starts, np.arange(len(frame)), 0))
    for column in dict.fromkeys(columns):
        values = frame[column].to_numpy()
        changed = np.flatnonzero(values != values[first_of])
        if len(changed):
            at = changed[np.argmin(rows[changed])]
            first = first_of[at]
            key = tuple(frame.at[at, name] for name in schema.group_columns)
            raise DataValidationError(
                f"{where.row(int(rows[at]), column)}: static variable {column!r} changes within "
                f"series {series_name(schema.group_columns, key)}: {_show(values[at])} here, "
                f"{_show(values[first])} on {where.unit} {where.number(int(rows[first]))}; "
                "expected one value per series (or make it a time-varying variable)"
            )
