"""The time-series table every Informer step works on, and the loader for any user CSV.

Loading validates at the boundary (see :mod:`forecasting.data.validation`), so everything
downstream may assume a regular, sorted, gap-free float64 table with a known frequency.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.data import validation
from forecasting.data.validation import Location
from forecasting.errors import ConfigError, DataValidationError


@dataclass(frozen=True)
class SeriesFrame:
    """A regular multivariate series: one float64 column per target/covariate, time as index."""

    frame: pd.DataFrame  # index: DatetimeIndex named by the time column; columns targets+covariates
    targets: list[str]
    covariates: list[str]
    freq: str  # pandas offset alias, e.g. "h", "15min", "D", "MS"
    source: str  # file path or data set name, for messages
    synthetic: bool = False

    @property
    def columns(self) -> list[str]:
        """All value columns in frame order: targets first, then covariates."""
        return [*self.targets, *self.covariates]

    def __len__(self) -> int:
        return len(self.frame)

    def with_roles(self, targets: Sequence[str], covariates: Sequence[str] = ()) -> SeriesFrame:
        """The same series with other columns as targets and covariates (others dropped)."""
        targets, covariates = list(targets), list(covariates)
        missing = [c for c in [*targets, *covariates] if c not in self.frame.columns]
        if missing:
            raise DataValidationError(
                f"{self.source}: missing column {missing[0]!r}; the columns are "
                f"{list(self.frame.columns)}"
            )
        if not targets or set(targets) & set(covariates):
            raise ConfigError(
                f"expected at least one target and no column both target and covariate, got "
                f"targets {targets} and covariates {covariates}"
            )
        return replace(
            self, frame=self.frame[[*targets, *covariates]], targets=targets, covariates=covariates
        )


def read_header_columns(path: str | Path) -> list[str]:
    """Column names from the header line, read without loading the file."""
    path = validation.check_file(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            first = handle.readline()
            if not first.strip():
                if not any(line.strip() for line in handle):
                    raise DataValidationError(
                        f"{path}: the file is empty (only blank lines); expected a header line "
                        "followed by data rows"
                    )
                raise DataValidationError(
                    f"{path}, line 1: blank line; expected the header with the column names"
                )
    except UnicodeDecodeError:
        raise DataValidationError(
            f"{path}: not a UTF-8 text file; expected a CSV file with a header line"
        ) from None
    return next(csv.reader([first]))


def _too_many_fields(path: Path, n_fields: int) -> DataValidationError | None:
    """Name the first row with more fields than the header (pandas' message is less direct)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for line, row in enumerate(csv.reader(handle), start=1):
            if len(row) > n_fields:
                return DataValidationError(
                    f"{path}, line {line}: {len(row)} fields but the header has {n_fields}; "
                    "expected one value per column"
                )
    return None


def read_csv_text(path: str | Path) -> tuple[pd.DataFrame, Location]:
    """Read a CSV as untouched text cells, so bad values can be quoted back to the user.

    Data row ``i`` of the result is line ``i + 2`` of the file (blank lines are kept as empty
    rows for that reason; trailing blank lines are dropped).
    """
    path = validation.check_file(path)
    where = Location(str(path))
    names = read_header_columns(path)
    separator = next((sep for sep in ";\t|" if len(names) == 1 and sep in names[0]), None)
    if separator is not None:
        raise DataValidationError(
            f"{where.header()}: one column {names[0]!r}; expected comma-separated values, "
            f"but the file looks {separator!r}-separated"
        )
    validation.check_header(names, where)
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            raw = pd.read_csv(
                path,
                dtype=str,
                keep_default_na=False,
                skip_blank_lines=False,
                index_col=False,
                encoding="utf-8-sig",
            )
        except (pd.errors.ParserError, pd.errors.ParserWarning) as error:
            raise (
                _too_many_fields(path, len(names))
                or DataValidationError(
                    f"{path}: cannot read as CSV: {' '.join(str(error).split())}"
                )
            ) from None
        except UnicodeDecodeError:
            raise DataValidationError(
                f"{path}: not a UTF-8 text file; expected a CSV file with a header line"
            ) from None
    blank = (raw.apply(lambda column: column.str.strip()) == "").all(axis=1).to_numpy()
    n_rows = len(raw)
    while n_rows and blank[n_rows - 1]:
        n_rows -= 1
    raw = raw.iloc[:n_rows]
    validation.check_has_rows(n_rows, where)
    inner_blank = np.flatnonzero(blank[:n_rows])
    if len(inner_blank):
        raise DataValidationError(
            f"{where.row(int(inner_blank[0]))}: empty row; expected a data row "
            "(remove blank lines inside the data)"
        )
    return raw, where


def _choose_targets(
    raw: pd.DataFrame, time_column: str, covariates: list[str], where: Location
) -> list[str]:
    """Default targets: every column other than the time column and the covariates.

    A column of text ("high"/"low", "12.5 kW") is refused, naming it and a value: dropping it
    would register a model that silently forecasts fewer targets than the file has. A column
    with some numbers goes on to :func:`validation.parse_numbers`, which names each bad cell.
    """
    targets = [name for name in raw.columns if name != time_column and name not in covariates]
    if not targets:
        raise DataValidationError(
            f"{where.header()}: no column besides {time_column!r}"
            f"{' and the covariates' if covariates else ''}; expected at least one target column"
        )
    for name in targets:  # a column with some numbers is checked cell by cell later
        text = raw[name].str.strip()
        numbers = pd.to_numeric(text, errors="coerce")
        filled = np.flatnonzero((text != "").to_numpy())
        if len(filled) and not np.isfinite(numbers).any():
            row = int(filled[0])
            raise DataValidationError(
                f"{where.row(row, name)}: column {name!r} holds text, not numbers (e.g. "
                f"{text.iloc[row]!r}), and without --targets every column besides "
                f"{time_column!r}{' and the covariates' if covariates else ''} is a target; "
                f"make {name!r} numeric, or name the targets with --targets"
            )
    return targets


def load_csv_series(
    path: str | Path,
    time_column: str = "date",
    targets: Sequence[str] | None = None,
    covariates: Sequence[str] = (),
    freq: str | None = None,
    *,
    encoder_length: int = 0,
    horizon: int = 0,
) -> SeriesFrame:
    """Load and validate a single time series from any CSV with a header line.

    ``targets`` defaults to every numeric column except the time column and ``covariates``.
    ``freq`` is inferred when not given, and checked against every step when given. With
    ``encoder_length``/``horizon`` the series must be long enough for one window.
    """
    covariates = list(covariates)
    if targets is not None:
        targets = list(targets)
        overlap = sorted(set(targets) & set(covariates))
        if overlap:
            raise ConfigError(f"Columns {overlap} are listed both as targets and as covariates")
        if not targets:
            raise ConfigError("Expected at least one target column, got an empty list")
    if time_column in (targets or []) or time_column in covariates:
        raise ConfigError(f"The time column {time_column!r} cannot also be a target or covariate")

    raw, where = read_csv_text(path)
    validation.require_columns(raw.columns, [time_column, *(targets or []), *covariates], where)
    if targets is None:
        targets = _choose_targets(raw, time_column, covariates, where)

    index = validation.parse_timestamps(raw[time_column], time_column, where)
    values = validation.parse_numbers(raw[[*targets, *covariates]], where)
    validation.check_time_order(index, time_column, where)
    freq = validation.check_frequency(index, freq, time_column, where)
    if encoder_length or horizon:
        validation.check_series_length(
            len(index),
            encoder_length=encoder_length,
            horizon=horizon,
            source=where.source,
            series=repr(Path(where.source).stem),
        )
    values.index = index
    return SeriesFrame(
        frame=values, targets=targets, covariates=covariates, freq=freq, source=where.source
    )
