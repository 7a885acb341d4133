"""Parsing and validation of Batch Transform outputs and actuals: rows that QuickSight and
the report can trust, or a :class:`PublishError` that says where (file, line, column), the
offending value and what was expected. Line numbers are the ones an editor shows: the header is
line 1.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

FORECAST_COLUMNS = (
    "series_id",
    "target",
    "timestamp",
    "horizon_step",
    "p50",
    "p10",
    "p90",
    "model",
    "model_version",
)
ACTUAL_COLUMNS = ("series_id", "target", "timestamp", "value")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"  # the inference handler's format; QuickSight parses it

SeriesKey = tuple[str, str]  # (series_id, target)


class PublishError(ValueError):
    """Input that cannot be published; the message says where and what was expected."""


@dataclass(frozen=True, slots=True)
class ForecastRow:
    """One forecast step of one series, and where it came from (for messages)."""

    series_id: str
    target: str
    timestamp: datetime
    horizon_step: int
    p50: float
    p10: float | None
    p90: float | None
    model: str
    model_version: str
    source: str
    line: int

    @property
    def series(self) -> SeriesKey:
        return (self.series_id, self.target)


@dataclass(frozen=True, slots=True)
class ActualRow:
    """One observed value of one series: the history before a forecast and the truth after."""

    series_id: str
    target: str
    timestamp: datetime
    value: float
    source: str
    line: int

    @property
    def series(self) -> SeriesKey:
        return (self.series_id, self.target)


# --- parsing and validation -------------------------------------------------------------------


def parse_forecasts(text: str | bytes, source: str) -> list[ForecastRow]:
    """Parse one ``*.out`` file and reject anything QuickSight or the report would misread."""
    rows = [
        _forecast_row(fields, source, line)
        for line, fields in _records(text, source, FORECAST_COLUMNS)
    ]
    check_one_time_zone_kind(rows)
    check_unique_forecasts(rows)
    return rows


def parse_actuals(text: str | bytes, source: str) -> list[ActualRow]:
    """Parse the long actuals CSV (``series_id,target,timestamp,value``)."""
    rows = []
    stamps: dict[str, datetime] = {}  # many series share each timestamp: parse it once
    for line, (series_id, target, stamp_text, value) in _records(text, source, ACTUAL_COLUMNS):
        stamp = stamps.get(stamp_text)
        if stamp is None:
            stamp = stamps[stamp_text] = parse_timestamp(stamp_text, source, line, "timestamp")
        try:  # float() of a cell is what number() computes; it names a cell float() refuses
            parsed = float(value)
        except ValueError:
            parsed = math.nan
        if not math.isfinite(parsed):
            parsed = number(value, source, line, "value")
        series_id, target = series_id.strip(), target.strip()
        if not series_id or not target:
            required_text(series_id, source, line, "series_id")
            required_text(target, source, line, "target")
        rows.append(ActualRow(series_id, target, stamp, parsed, source, line))
    check_one_time_zone_kind(rows)
    seen: dict[tuple[str, str, datetime], ActualRow] = {}
    for row in rows:
        key = (row.series_id, row.target, row.timestamp)
        if key in seen:
            raise PublishError(
                f"{where(source, row.line, 'timestamp')}: duplicate value "
                f"{_format_time(row.timestamp)!r} for series {row.series_id!r}, target "
                f"{row.target!r} (first at line {seen[key].line}); expected one value per "
                "series_id, target and timestamp"
            )
        seen[key] = row
    return rows


def check_one_time_zone_kind(rows: Sequence[ForecastRow | ActualRow]) -> None:
    """All timestamps with a UTC offset, or all without: a local time without one is no instant,
    so it can be neither joined with nor ordered against one that has an offset."""
    if not rows:
        return
    first = rows[0]
    with_offset = first.timestamp.tzinfo is not None
    for row in rows:
        if (row.timestamp.tzinfo is not None) != with_offset:
            has = "has no UTC offset" if with_offset else "has a UTC offset"
            first_at = (
                f"line {first.line}"
                if first.source == row.source
                else f"{first.source}, line {first.line}"
            )
            raise PublishError(
                f"{where(row.source, row.line, 'timestamp')}: timestamp "
                f"{_format_time(row.timestamp)!r} {has}, unlike "
                f"{_format_time(first.timestamp)!r} at {first_at}; expected every timestamp of "
                "the forecasts and actuals with an offset (like '+02:00'), or none without"
            )


def check_unique_forecasts(rows: Sequence[ForecastRow]) -> None:
    """One forecast per model, version, series, target and timestamp, across all files.

    Two rows for the same point would both land in QuickSight and double every sum.
    """
    seen: dict[tuple[str, str, str, str, datetime], ForecastRow] = {}
    for row in rows:
        key = (row.model, row.model_version, row.series_id, row.target, row.timestamp)
        first = seen.setdefault(key, row)
        if first is not row:
            first_at = (
                f"line {first.line}"
                if first.source == row.source
                else f"{first.source}, line {first.line}"
            )
            raise PublishError(
                f"{where(row.source, row.line, 'timestamp')}: duplicate value "
                f"{_format_time(row.timestamp)!r} for series {row.series_id!r}, target "
                f"{row.target!r}, model {row.model!r} version {row.model_version!r} "
                f"(first at {first_at}); expected one row per series_id, target and timestamp"
            )


def _records(
    text: str | bytes, source: str, columns: Sequence[str]
) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank data row, after checking the header."""
    header_line, header, rows = read_table(text, source, f"the header {','.join(columns)!r}")
    _check_header(header, source, header_line, columns)
    return rows


def read_table(
    text: str | bytes, source: str, expected: str
) -> tuple[int, list[str], Iterator[tuple[int, list[str]]]]:
    """A CSV file's header line, its column names (stripped) and then (line number, fields) of
    each non-blank data row, each with the header's number of fields; ``expected`` says what
    header an empty file lacks."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise PublishError(
                f"{source}: byte {error.start} is not UTF-8; expected a UTF-8 CSV file"
            ) from None
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))

    def invalid(error: csv.Error) -> PublishError:
        return PublishError(
            f"{source}, line {reader.line_num}: not valid CSV ({error}); expected "
            "comma-separated fields with double-quoted text"
        )

    try:
        header = next(reader, None)
        while header is not None and not header:
            header = next(reader, None)
    except csv.Error as error:
        raise invalid(error) from None
    if header is None:
        raise PublishError(f"{source}: the file is empty; expected {expected} and data rows")
    names = [name.strip() for name in header]

    def rows() -> Iterator[tuple[int, list[str]]]:
        n_rows = 0
        try:
            for fields in reader:
                if not fields or (len(fields) == 1 and not fields[0].strip()):
                    continue  # blank lines (a trailing newline too many) carry no data
                if len(fields) != len(names):
                    raise PublishError(
                        f"{source}, line {reader.line_num}: {len(fields)} fields; expected "
                        f"{len(names)} ({','.join(names)})"
                    )
                n_rows += 1
                yield reader.line_num, fields
        except csv.Error as error:
            raise invalid(error) from None
        if n_rows == 0:
            raise PublishError(f"{source}: no data rows below the header; expected at least one")

    return reader.line_num, names, rows()


def _check_header(header: Sequence[str], source: str, line: int, columns: Sequence[str]) -> None:
    if tuple(header) == tuple(columns):
        return
    expected = ",".join(columns)
    for position, (found, wanted) in enumerate(zip(header, columns, strict=False), start=1):
        if found != wanted:
            raise PublishError(
                f"{source}, line {line}: column {position} is {found!r}; expected {wanted!r} "
                f"(the header must be exactly {expected!r})"
            )
    raise PublishError(
        f"{source}, line {line}: the header has {len(header)} columns; expected "
        f"{len(columns)}, exactly {expected!r}"
    )


def _forecast_row(fields: list[str], source: str, line: int) -> ForecastRow:
    series_id, target, stamp, step, p50, p10, p90, model, version = fields
    row = ForecastRow(
        series_id=required_text(series_id, source, line, "series_id"),
        target=required_text(target, source, line, "target"),
        timestamp=parse_timestamp(stamp, source, line, "timestamp"),
        horizon_step=_horizon_step(step, source, line),
        p50=number(p50, source, line, "p50"),
        p10=optional_number(p10, source, line, "p10"),
        p90=optional_number(p90, source, line, "p90"),
        model=_partition_text(model, source, line, "model"),
        model_version=_partition_text(version, source, line, "model_version"),
        source=source,
        line=line,
    )
    if (row.p10 is None) != (row.p90 is None):
        missing = "p10" if row.p10 is None else "p90"
        raise PublishError(
            f"{where(source, line, missing)}: empty while the other quantile is given; "
            "expected both p10 and p90, or neither (a point forecast)"
        )
    return row


def where(source: str, line: int, column: str) -> str:
    """A cell's place, as every parse error names it."""
    return f"{source}, line {line}, column {column!r}"


def required_text(value: str, source: str, line: int, column: str) -> str:
    text = value.strip()
    if not text:
        raise PublishError(f"{where(source, line, column)}: empty; expected a name")
    return text


def _partition_text(value: str, source: str, line: int, column: str) -> str:
    text = required_text(value, source, line, column)
    problem = partition_problem(text)
    if problem:
        raise PublishError(f"{where(source, line, column)}: {text!r} {problem}")
    return text


def parse_timestamp(value: str, source: str, line: int, column: str) -> datetime:
    text = value.strip()
    if not text:
        raise PublishError(
            f"{where(source, line, column)}: empty; expected an ISO 8601 date/time "
            "like '2017-07-01 00:00:00'"
        )
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise PublishError(
            f"{where(source, line, column)}: cannot parse timestamp {text!r}; expected an "
            "ISO 8601 date/time like '2017-07-01 00:00:00', '2017-07-01T00:00:00' or "
            "'2017-07-01 00:00:00+02:00'"
        ) from None
    return stamp


def _horizon_step(value: str, source: str, line: int) -> int:
    text = value.strip()
    try:
        step = int(text)
    except ValueError:
        raise PublishError(
            f"{where(source, line, 'horizon_step')}: {text!r} is not a whole number; "
            "expected an integer of at least 1"
        ) from None
    if step < 1:
        raise PublishError(
            f"{where(source, line, 'horizon_step')}: {step}; expected an integer of at least 1"
        )
    return step


def number(
    value: str, source: str, line: int, column: str, error: type[PublishError] = PublishError
) -> float:
    """A required finite number in a cell; ``error`` is the caller's error class."""
    parsed = optional_number(value, source, line, column, expected="a finite number", error=error)
    if parsed is None:
        raise error(f"{where(source, line, column)}: empty; expected a number")
    return parsed


def optional_number(
    value: str,
    source: str,
    line: int,
    column: str,
    expected: str = "a finite number or an empty cell",
    error: type[PublishError] = PublishError,
) -> float | None:
    text = value.strip()
    if not text:
        return None
    try:
        parsed = float(text)
    except ValueError:
        parsed = math.nan
    if not math.isfinite(parsed):
        raise error(f"{where(source, line, column)}: {text!r}; expected {expected}")
    return parsed


def utc_offset(stamp: datetime) -> str:
    """``+02:00`` (ISO 8601, as the inference handler writes it), or empty for a local time."""
    offset = stamp.utcoffset()
    if offset is None:
        return ""
    sign, seconds = ("-", -offset) if offset.total_seconds() < 0 else ("+", offset)
    hours, rest = divmod(int(seconds.total_seconds()), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


def _format_time(stamp: datetime) -> str:
    """The wall clock in :data:`TIMESTAMP_FORMAT`, and the offset when there is one (messages)."""
    return stamp.strftime(TIMESTAMP_FORMAT) + utc_offset(stamp)


def partition_problem(value: str) -> str | None:
    if not value:
        return "is empty; expected a non-empty name"
    if "/" in value or "=" in value:
        return "contains '/' or '='; expected a name without them (it becomes part of a key)"
    return None
