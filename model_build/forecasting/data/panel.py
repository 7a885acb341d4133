"""Panel data for the TFT: many series in one table, with the column roles the model needs.

A panel is validated at the boundary like a single series (see :mod:`forecasting.data.validation`)
and then handed over in the shape pytorch-forecasting's ``TimeSeriesDataSet`` expects: rows sorted
by series and time, an integer ``time_idx`` without gaps inside a series, categoricals as plain
strings and reals as float64. Stallion gets the feature engineering of pytorch-forecasting's TFT
tutorial, so results can be compared with the published ones.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from pandas.tseries.offsets import BaseOffset, Day, Tick

from forecasting.data import validation
from forecasting.data.series import read_csv_text
from forecasting.data.time_features import feature_names, normalize_freq, time_features
from forecasting.data.validation import Location
from forecasting.errors import ConfigError, DataValidationError

log = logging.getLogger(__name__)

TIME_IDX = "time_idx"
CSV_SUFFIXES = (".csv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")

# Role fields of PanelSchema and how messages name one of their columns.
_ROLES = {
    "static_categoricals": "static categorical",
    "static_reals": "static real",
    "known_categoricals": "known categorical",
    "known_reals": "known real",
    "unknown_categoricals": "unknown categorical",
    "unknown_reals": "unknown real",
}
_CATEGORICAL_ROLES = ("static_categoricals", "known_categoricals", "unknown_categoricals")
_REAL_ROLES = ("static_reals", "known_reals", "unknown_reals")


def _names(value: str | Sequence[str]) -> tuple[str, ...]:
    """A tuple of column names; a lone string is one name, not a sequence of letters."""
    return (value,) if isinstance(value, str) else tuple(value)


@dataclass(frozen=True)
class PanelSchema:
    """Column roles of a panel (pytorch-forecasting ``TimeSeriesDataSet`` vocabulary).

    Known variables are available for the forecast horizon too (calendar, planned prices);
    unknown ones only up to the forecast start. The target is not listed among the covariates:
    the TFT code adds it to the unknown reals. A variable group (e.g. Stallion's 12 special-day
    flags) is used by its name in a categorical role and stands for its member columns.
    Inconsistent roles raise :class:`ConfigError` on construction, before any file is read.
    """

    group_columns: tuple[str, ...]
    time_column: str
    target: str
    static_categoricals: tuple[str, ...] = ()
    static_reals: tuple[str, ...] = ()
    known_categoricals: tuple[str, ...] = ()
    known_reals: tuple[str, ...] = ()
    unknown_categoricals: tuple[str, ...] = ()
    unknown_reals: tuple[str, ...] = ()
    variable_groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    freq: str | None = None
    # Calendar positions of each step (hour of day, day of week, ...: the Informer's features
    # for the frequency) computed from the time column as known reals, in training and inference.
    calendar: bool = False

    def __post_init__(self) -> None:
        # Lists from JSON or a CLI become tuples, so equal schemas compare equal.
        for name in ("group_columns", *_ROLES):
            object.__setattr__(self, name, _names(getattr(self, name)))
        groups = {str(name): _names(members) for name, members in self.variable_groups.items()}
        object.__setattr__(self, "variable_groups", groups)
        if self.freq is not None:
            object.__setattr__(self, "freq", normalize_freq(self.freq))
        self._check()

    def _check(self) -> None:
        named = [*self.group_columns, self.time_column, self.target]
        for role in _ROLES:
            named += getattr(self, role)
        for members in self.variable_groups.values():
            named += members
        for name in [*named, *self.variable_groups]:
            if not isinstance(name, str) or not name.strip():
                raise ConfigError(f"column names must be non-empty strings, got {name!r}")
        if not self.group_columns:
            raise ConfigError(
                "expected at least one group column (the series id, e.g. --group-columns store)"
            )
        if self.time_column == TIME_IDX:
            raise ConfigError(
                f"the time column cannot be named {TIME_IDX!r}: that name is reserved for the "
                "step index computed from the timestamps"
            )
        role_of: dict[str, str] = {}

        def claim(column: str, role: str) -> None:
            earlier = role_of.get(column)
            if earlier is None:
                role_of[column] = role
                return
            if earlier == "group column" and role == "static categorical":
                return  # a series id may also be embedded as a static categorical
            if earlier == "target":
                raise ConfigError(
                    f"the target {column!r} is also listed as a {role}; leave it out of the "
                    "covariates (the TFT adds the target to the unknown reals itself)"
                )
            if earlier == "time column":
                raise ConfigError(
                    f"the time column {column!r} cannot also be a {role}; use {TIME_IDX!r} "
                    "as a known real, it is generated from the timestamps"
                )
            same = "twice" if earlier == role else f"as a {earlier} and"
            raise ConfigError(
                f"column {column!r} is listed {same} as a {role}; expected each column in one role"
            )

        for column in self.group_columns:
            claim(column, "group column")
        claim(self.time_column, "time column")
        claim(self.target, "target")
        used_groups: set[str] = set()
        for role, label in _ROLES.items():
            for column in getattr(self, role):
                if column == TIME_IDX:
                    if role != "known_reals":
                        raise ConfigError(
                            f"{TIME_IDX!r} can only be a known real (it is the step index), "
                            f"not a {label}"
                        )
                    claim(column, label)
                elif column in self.variable_groups:
                    if role not in _CATEGORICAL_ROLES:
                        raise ConfigError(
                            f"variable group {column!r} is listed as a {label}; groups stand "
                            "for categorical columns, so list it among the categoricals"
                        )
                    claim(column, label)
                    used_groups.add(column)
                    for member in self.variable_groups[column]:
                        claim(member, f"{label} (in variable group {column!r})")
                else:
                    claim(column, label)
        for name, members in self.variable_groups.items():
            if not members:
                raise ConfigError(f"variable group {name!r} has no columns")
            if name not in used_groups:
                raise ConfigError(
                    f"variable group {name!r} is not listed in any role; add it to the "
                    "categoricals (e.g. the known categoricals) or remove it"
                )
            if TIME_IDX in members:
                raise ConfigError(f"variable group {name!r} cannot contain {TIME_IDX!r}")

    def columns(self) -> list[str]:
        """Every file column the schema names (group members expanded, ``time_idx`` left out)."""
        ordered = [*self.group_columns, self.time_column, self.target]
        for role in _ROLES:
            for name in getattr(self, role):
                ordered += self.variable_groups.get(name, (name,))
        return [name for name in dict.fromkeys(ordered) if name != TIME_IDX]

    def categorical_columns(self) -> list[str]:
        """File columns holding labels: series ids and categoricals (group members expanded)."""
        ordered = list(self.group_columns)
        for role in _CATEGORICAL_ROLES:
            for name in getattr(self, role):
                ordered += self.variable_groups.get(name, (name,))
        return list(dict.fromkeys(ordered))

    def real_columns(self) -> list[str]:
        """File columns holding numbers: the target and the reals (not the generated time_idx)."""
        ordered = [self.target, *self.static_reals, *self.known_reals, *self.unknown_reals]
        return [name for name in ordered if name != TIME_IDX]

    def calendar_columns(self) -> list[str]:
        """The generated calendar known reals: none without ``calendar`` or a frequency."""
        if not self.calendar or self.freq is None:
            return []
        try:
            return feature_names(self.freq)
        except ConfigError as error:
            raise ConfigError(f"{error}; or turn them off (--calendar-features false)") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (lists, not tuples), for preprocessing.json and checkpoints."""
        data: dict[str, Any] = {
            "group_columns": list(self.group_columns),
            "time_column": self.time_column,
            "target": self.target,
        }
        for role in _ROLES:
            data[role] = list(getattr(self, role))
        data["variable_groups"] = {name: list(m) for name, m in self.variable_groups.items()}
        data["freq"] = self.freq
        data["calendar"] = self.calendar
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PanelSchema:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        missing = [name for name in ("group_columns", "time_column", "target") if name not in data]
        if unknown or missing:
            raise ConfigError(
                f"not a panel schema: unknown keys {unknown}, missing keys {missing}; "
                f"expected keys among {sorted(known)}"
            )
        return cls(**data)


@dataclass(frozen=True)
class PanelFrame:
    """A validated panel, ready for ``TimeSeriesDataSet``.

    ``frame`` holds the schema's columns plus ``time_idx`` (int64, steps of ``schema.freq``
    since the earliest timestamp of the whole file), sorted by series then time, with no
    missing step inside a series. Series ids and categoricals are ``str``, reals and the target
    float64, the time column datetime64. ``schema.freq`` is always set.
    """

    frame: pd.DataFrame
    schema: PanelSchema
    source: str
    synthetic: bool = False

    def __len__(self) -> int:
        return len(self.frame)


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


def _first(mask: np.ndarray) -> int | None:
    found = np.flatnonzero(mask)
    return int(found[0]) if len(found) else None


def _stamp(value: pd.Timestamp) -> str:
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


def _labels(raw: pd.Series, column: str, where: Location, what: str) -> pd.Series:
    """A label column as stripped strings (numbers too); the first empty cell is reported."""
    missing = raw.isna().to_numpy()
    text = raw.astype(str).str.strip()
    row = _first(missing | (text == "").to_numpy())
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
    mode = steps.value_counts().sort_index(kind="stable").idxmax() if len(steps) else None
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
    sizes = counted.groupby([frame[c] for c in group_columns], sort=True, observed=True).sum()
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
    return _validate(raw, schema, where, min_length)


def _validate(
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
        data[column] = _labels(raw[column], column, where, "series id")
    time = schema.time_column
    stamps = validation.parse_timestamps(raw[time], time, where)
    for column in schema.categorical_columns():
        if column not in data:
            data[column] = _labels(raw[column], column, where, "category")
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


@dataclass(frozen=True)
class PanelRoles:
    """Column roles as a user gives them; :func:`infer_schema` fills in what is left out."""

    time_column: str | None = None
    group_columns: tuple[str, ...] = ()
    target: str | None = None
    static_categoricals: tuple[str, ...] = ()
    static_reals: tuple[str, ...] = ()
    known_categoricals: tuple[str, ...] = ()
    known_reals: tuple[str, ...] = ()
    unknown_categoricals: tuple[str, ...] = ()
    unknown_reals: tuple[str, ...] = ()
    freq: str | None = None
    calendar: bool = True


def _is_numeric(column: pd.Series) -> bool:
    """Holds at least one number: a target or real (a text cell in it is reported later)."""
    return bool(np.isfinite(pd.to_numeric(column, errors="coerce")).any())


def _is_time(column: pd.Series) -> bool:
    """Every cell is a date with a 4-digit year (ids like ``M1`` parse as times of day)."""
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        return True
    if _is_numeric(column):
        return False
    text = column.astype(str).str.strip()
    if not text.str.contains(r"\d{4}").all():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            parsed = pd.to_datetime(text, errors="coerce")
        except (ValueError, TypeError):
            return False
    return bool(parsed.notna().all())


def infer_schema(raw: pd.DataFrame, where: Location, roles: PanelRoles) -> tuple[PanelSchema, str]:
    """The schema of a user panel: the roles given, the rest inferred; and what was inferred.

    Time column: the one column whose every cell is a timestamp. Series ids: the columns
    without numbers (labels), also embedded as static categoricals. Target: the first numeric
    column. Covariates: when no covariate role is given, every other numeric column is an
    unknown real (observed up to the forecast start only, so nothing about the future is
    assumed); otherwise columns in no role are left out, and said so.
    """
    taken = {*roles.group_columns, *(c for r in _ROLES for c in getattr(roles, r))}
    taken |= {c for c in (roles.time_column, roles.target) if c}
    inferred: list[str] = []
    time = roles.time_column
    if time is None:
        found = [c for c in raw.columns if c not in taken and _is_time(raw[c])]
        if len(found) != 1:
            what = f"several: {', '.join(map(repr, found))}" if found else "none"
            raise DataValidationError(
                f"{where.header()}: cannot tell the time column ({what} hold only timestamps); "
                "expected one, or pass --time-column"
            )
        time = found[0]
        inferred.append(f"time column {time!r}")
    free = [c for c in raw.columns if c not in taken and c not in (time, TIME_IDX)]
    groups = roles.group_columns
    if not groups:
        groups = tuple(c for c in free if not _is_numeric(raw[c]))
        if not groups:
            raise DataValidationError(
                f"{where.header()}: cannot tell which columns identify a series (no column "
                "holds labels only); pass --group-columns"
            )
        inferred.append(f"series id {', '.join(map(repr, groups))}")
    numeric = [c for c in free if c not in groups and _is_numeric(raw[c])]
    target = roles.target
    if target is None:
        if not numeric:
            raise DataValidationError(
                f"{where.header()}: no numeric column to forecast; expected a target column"
            )
        target = numeric[0]
        inferred.append(f"target {target!r} (the first numeric column; choose with --targets)")
    chosen = {role: getattr(roles, role) for role in _ROLES}
    if not chosen["static_categoricals"]:
        chosen["static_categoricals"] = groups
    rest = [c for c in free if c not in groups and c != target]
    if not any(getattr(roles, role) for role in _ROLES):
        chosen["unknown_reals"] = tuple(c for c in rest if c in numeric)
        rest = [c for c in rest if c not in numeric]
        if chosen["unknown_reals"]:
            reals = ", ".join(map(repr, chosen["unknown_reals"]))
            inferred.append(
                f"unknown reals {reals} (pass --known-reals for covariates known in advance)"
            )
    if rest:
        inferred.append(f"not used: {', '.join(map(repr, rest))}")
    schema = PanelSchema(
        group_columns=groups,
        time_column=time,
        target=target,
        freq=roles.freq,
        calendar=roles.calendar,
        **chosen,
    )
    return schema, "; ".join(inferred)


def load_user_panel(path: str | Path, roles: PanelRoles, *, min_length: int = 0) -> PanelFrame:
    """A user's panel file with the roles given, the others inferred and announced."""
    raw, where = read_table(path)
    schema, inferred = infer_schema(raw, where, roles)
    if inferred:
        log.info("%s: inferred %s", where.source, inferred)
    parts = [
        f"series id {', '.join(schema.group_columns)}",
        f"time {schema.time_column}",
        f"target {schema.target}",
    ]
    for role, label in _ROLES.items():
        if getattr(schema, role):
            parts.append(f"{label}s {', '.join(getattr(schema, role))}")
    log.info("%s: column roles: %s", where.source, "; ".join(parts))
    panel = _validate(raw, schema, where, min_length)
    calendar = panel.schema.calendar_columns()
    if calendar:
        log.info(
            "%s: calendar known reals for frequency %r: %s (--calendar-features false to omit)",
            where.source,
            panel.schema.freq,
            ", ".join(calendar),
        )
    return panel


def validate_panel(
    raw: pd.DataFrame, schema: PanelSchema, where: Location, origin: pd.Timestamp
) -> PanelFrame:
    """Validate rows that continue a panel whose ``time_idx`` 0 was at ``origin`` (inference).

    ``time_idx`` is a model input (a known real, scaled at fit time), so new rows must count
    steps from the training data's first timestamp, not from their own.
    """
    panel = _validate(raw, schema, where, 0)
    first = panel.frame[schema.time_column].min()
    if first < origin:
        raise DataValidationError(
            f"{where.source}: the first timestamp {_stamp(first)} is before {_stamp(origin)}, "
            "where the training data started; expected rows from then on"
        )
    shift, on_grid, _ = _step_index(pd.DatetimeIndex([first]), to_offset(panel.schema.freq), origin)
    if not on_grid[0]:
        raise DataValidationError(
            f"{where.source}: timestamp {_stamp(first)} is not on the {panel.schema.freq!r} grid "
            f"of the training data, which started at {_stamp(origin)}"
        )
    panel.frame[TIME_IDX] += int(shift[0])
    return panel


def _check_duplicates(frame: pd.DataFrame, groups: list[str], time: str, where: Location) -> None:
    """One row per series and time step, or pytorch-forecasting would mix two rows into one."""
    row = _first(frame.duplicated([*groups, time]).to_numpy())
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
    return _validate(stallion_features(raw, where), STALLION_SCHEMA, where, min_length)


def stallion_features(raw: pd.DataFrame, where: Location) -> pd.DataFrame:
    """The tutorial's features over raw Stallion rows (training files and inference requests)."""
    validation.require_columns(raw.columns, STALLION_COLUMNS, where)
    raw = raw.reset_index(drop=True)
    for column in STALLION_SCHEMA.group_columns:  # the averages below group by them
        raw[column] = _labels(raw[column], column, where, "series id")
    dates = validation.parse_timestamps(raw["date"], "date", where)
    row = _first(dates.day != 1)
    if row is not None:
        raise DataValidationError(
            f"{where.row(row, 'date')}: {dates[row].date()} is not the first day of a month; "
            "expected monthly dates on the 1st"
        )
    volume = validation.parse_numbers(raw[["volume"]], where)["volume"]
    row = _first(volume.to_numpy() < 0)
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
    return replace(_validate(frame, DEMO_SCHEMA, where, 0), synthetic=True)
