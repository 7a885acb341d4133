"""Boundary checks for user data files.

Every check raises :class:`DataValidationError` whose message starts with *where* the problem is
(file, line, column) and then says what was expected, so a user can open the file and fix it
without reading a traceback. Line numbers are the ones an editor shows: the header is line 1 and
the first data row is line 2.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from forecasting.data.time_features import normalize_freq
from forecasting.errors import DataValidationError

_MISSING_TOKENS = {"nan", "na", "n/a", "null", "none", "#n/a", "-nan"}


@dataclass(frozen=True)
class Location:
    """How to name a data row in messages: ``line N`` for text files, ``row N`` for tables."""

    source: str
    first_row: int = 2  # number the user sees for data row 0 (CSV: line 2, below the header)
    unit: str = "line"
    header_line: int | None = 1

    def row(self, index: int, column: str | None = None) -> str:
        """``"file.csv, line 7, column 'OT'"`` for 0-based data row ``index``."""
        text = f"{self.source}, {self.unit} {index + self.first_row}"
        return text if column is None else f"{text}, column {column!r}"

    def header(self) -> str:
        if self.header_line is None:
            return self.source
        return f"{self.source}, line {self.header_line}"

    def number(self, index: int) -> int:
        return index + self.first_row


def check_file(path: str | Path) -> Path:
    """Fail early and clearly on a missing, non-regular or zero-byte file."""
    path = Path(path)
    if not path.exists():
        raise DataValidationError(f"{path}: file not found")
    if not path.is_file():
        raise DataValidationError(f"{path}: expected a data file, found a directory or device")
    if path.stat().st_size == 0:
        raise DataValidationError(
            f"{path}: the file is empty (0 bytes); expected a header line followed by data rows"
        )
    return path


def check_header(names: Sequence[str], where: Location) -> None:
    """Reject blank or repeated column names, which pandas would silently rename."""
    seen: set[str] = set()
    for position, name in enumerate(names, start=1):
        if not name.strip():
            raise DataValidationError(
                f"{where.header()}: column {position} has no name; expected a name for every "
                "column (is there a trailing comma?)"
            )
        if name in seen:
            raise DataValidationError(
                f"{where.header()}: column {name!r} appears more than once; "
                "expected unique column names"
            )
        seen.add(name)


def check_has_rows(n_rows: int, where: Location) -> None:
    if n_rows == 0:
        raise DataValidationError(
            f"{where.header()}: no data rows below the header; expected at least one data row"
        )


def require_columns(present: Iterable[str], required: Iterable[str], where: Location) -> None:
    """Name every required column that is absent, and list what the file does have."""
    present = list(present)
    missing = [name for name in required if name not in present]
    if missing:
        names = ", ".join(repr(name) for name in missing)
        found = ", ".join(repr(name) for name in present)
        plural = "s" if len(missing) > 1 else ""
        raise DataValidationError(
            f"{where.header()}: missing column{plural} {names}; the file has columns {found}"
        )


def parse_timestamps(raw: pd.Series, column: str, where: Location) -> pd.DatetimeIndex:
    """Parse a timestamp column; the first empty or unparseable cell is reported by line."""
    if isinstance(raw.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(raw.dtype):
        parsed = pd.Series(raw.to_numpy(), copy=False)
    else:
        text = raw.astype(str).str.strip()
        with warnings.catch_warnings():
            # pandas warns when it falls back to per-element parsing; bad cells are reported below.
            warnings.simplefilter("ignore", UserWarning)
            try:
                parsed = pd.to_datetime(text, errors="coerce")
            except (ValueError, TypeError) as error:
                raise DataValidationError(
                    f"{where.source}, column {column!r}: cannot parse the timestamps ({error}); "
                    "expected one consistent date/time format and one time zone"
                ) from None
    bad = np.flatnonzero(pd.isna(parsed).to_numpy())
    if len(bad):
        row = int(bad[0])
        value = raw.iloc[row]
        good = parsed.notna().to_numpy()
        example = f" like {raw[good].iloc[0]!r}" if good.any() else ""
        if pd.isna(value) or not str(value).strip():
            problem = "empty timestamp"
        else:
            problem = f"cannot parse timestamp {str(value)!r}"
        raise DataValidationError(
            f"{where.row(row, column)}: {problem}; expected a date/time{example}"
        )
    return pd.DatetimeIndex(parsed, name=column)


def parse_numbers(raw: pd.DataFrame, where: Location) -> pd.DataFrame:
    """Convert columns to float64; the first empty, missing, text or infinite cell is reported."""
    numbers = pd.DataFrame(
        {name: pd.to_numeric(raw[name], errors="coerce") for name in raw.columns},
        index=raw.index,
    ).astype(np.float64)
    bad = ~np.isfinite(numbers.to_numpy())
    if bad.any():
        row, col = np.argwhere(bad)[0]
        column = raw.columns[col]
        value = raw.iat[row, col]
        text = "" if pd.isna(value) else str(value).strip()
        if not text:
            problem = "empty cell; expected a number"
        elif text.lower() in _MISSING_TOKENS:
            problem = f"missing value {text!r}; expected a number"
        elif pd.notna(numbers.iat[row, col]):
            problem = f"expected a finite number, got {text!r}"
        else:
            problem = f"expected a number, got {text!r}"
        more = int(bad.sum()) - 1
        suffix = f" ({more} more bad cell{'s' if more > 1 else ''} in this file)" if more else ""
        raise DataValidationError(f"{where.row(int(row), column)}: {problem}{suffix}")
    return numbers


def check_time_order(index: pd.DatetimeIndex, column: str, where: Location) -> None:
    """Timestamps must be unique and increasing: windows assume one row per step, in order."""
    duplicated = np.flatnonzero(index.duplicated(keep="first"))
    if len(duplicated):
        row = int(duplicated[0])
        first = int(np.flatnonzero(index == index[row])[0])
        raise DataValidationError(
            f"{where.row(row, column)}: duplicate timestamp {index[row]} (first seen on "
            f"{where.unit} {where.number(first)}); expected one row per time step"
        )
    backwards = np.flatnonzero(index[1:] < index[:-1])
    if len(backwards):
        row = int(backwards[0]) + 1
        raise DataValidationError(
            f"{where.row(row, column)}: timestamp {index[row]} is earlier than {index[row - 1]} "
            f"on {where.unit} {where.number(row - 1)}; expected rows sorted by increasing time"
        )


def _step_alias(step: pd.Timedelta) -> str:
    day = pd.Timedelta(days=1)
    if step >= day and step % day == pd.Timedelta(0):
        days = step // day
        return "D" if days == 1 else f"{days}D"
    return to_offset(step).freqstr


def _guess_freq(index: pd.DatetimeIndex) -> str | None:
    """Best guess at the intended frequency of an irregular index, from its most common step."""
    steps = pd.Series(index[1:] - index[:-1])
    if steps.empty:
        return None
    mode = cast(pd.Timedelta, steps.value_counts().sort_index(kind="stable").idxmax())
    return freq_of_step(mode, index)


def freq_of_step(step: pd.Timedelta, stamps: pd.DatetimeIndex) -> str:
    """A frequency alias for a step: a month of 28-31 days is one calendar month."""
    days = step / pd.Timedelta(days=1)
    calendar = ((28, 31, "MS", "ME"), (89, 92, "QS", "QE"), (365, 366, "YS", "YE"))
    for low, high, start, end in calendar:
        if low <= days <= high:
            if stamps.is_month_start.mean() > 0.5:
                return start
            if stamps.is_month_end.mean() > 0.5:
                return end
    return _step_alias(step)


def check_frequency(index: pd.DatetimeIndex, freq: str | None, column: str, where: Location) -> str:
    """Return the frequency of ``index`` (``freq`` if given), or name the first irregular step.

    Without ``freq`` the frequency is inferred by pandas, or, for an irregular index, taken as its
    most common step so the message can point at the first row that breaks it.
    """
    how = "given"
    if freq is None:
        inferred = pd.infer_freq(index) if len(index) >= 3 else None
        if inferred is not None:
            return normalize_freq(inferred)
        freq = _guess_freq(index)
        how = "inferred from the most common step"
        if freq is None:
            raise DataValidationError(
                f"{where.source}: cannot infer the frequency from {len(index)} row; "
                "expected at least 2 rows, or pass the frequency explicitly"
            )
    freq = normalize_freq(freq)
    offset = to_offset(freq)
    if len(index) and not offset.is_on_offset(index[0]):
        raise DataValidationError(
            f"{where.row(0, column)}: timestamp {index[0]} is not on the frequency {freq!r} "
            f"({how}); expected e.g. {offset.rollforward(index[0])}"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        expected = index[:-1] + offset
    wrong = np.flatnonzero(expected != index[1:])
    if len(wrong):
        row = int(wrong[0]) + 1
        raise DataValidationError(
            f"{where.row(row, column)}: irregular time step: {index[row]} follows "
            f"{index[row - 1]} ({where.unit} {where.number(row - 1)}), but the frequency is "
            f"{freq!r} ({how}) so {expected[row - 1]} was expected; fill or drop the gap, "
            "or pass the right frequency"
        )
    return freq


def check_series_length(
    n_rows: int, *, encoder_length: int, horizon: int, source: str, series: str
) -> None:
    """A series needs one full encoder window plus one horizon to give a single sample."""
    needed = encoder_length + horizon
    if n_rows < needed:
        raise DataValidationError(
            f"{source}: series {series} has {n_rows} rows; expected at least {needed} "
            f"(encoder length {encoder_length} + horizon {horizon})"
        )
