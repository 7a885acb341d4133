"""How good the published forecasts were, once their actuals arrived: pure logic, no I/O.

Inputs are the published partitions (``forecasts/model=M/version=V/run=R/forecasts.csv``, the
publish Lambda's columns) and the actuals, one per series, target and instant
(:mod:`lambdas.accuracy.actuals` reads them from the files). A forecast counts only once its
actual is there: late or partial actuals leave the other forecasts *pending*, and every table
says how many points it rests on.

Measures, per model version, series, target and horizon step (and per version overall):

* ``mae``: mean |p50 - actual|, in the target's units;
* ``bias``: mean (p50 - actual); positive means the model forecast too high;
* ``smape``: 200 |p50 - actual| / (|p50| + |actual|), averaged where the denominator is not 0
  (0-200 %). Chosen over MASE because it is scale-free without a season length per data set, and
  because every family's ``evaluation.json`` records it on the same original scale, so the
  drift alarm (:mod:`lambdas.accuracy.drift`) compares like with like;
* ``coverage``: share of the points with quantiles whose actual lies in [p10, p90] (empty for
  point forecasts such as the Informer's).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import NamedTuple

from lambdas.publish.rows import (
    FORECAST_COLUMNS,
    ActualRow,
    PublishError,
    number,
    optional_number,
    where,
)

# The published CSV's columns this module reads (by name: columns added later do not matter).
PUBLISHED_FIELDS = (*FORECAST_COLUMNS, "run", "utc_offset")
ACCURACY_COLUMNS = (
    "model",
    "model_version",
    "series_id",
    "target",
    "horizon_step",
    "forecasts",
    "matched",
    "pending",
    "mae",
    "bias",
    "smape",
    "smape_points",
    "coverage_p10_p90",
    "coverage_points",
    "first_timestamp",
    "last_timestamp",
)

InstantKey = tuple[str, str, datetime]  # (series_id, target, timestamp)


class AccuracyError(PublishError):
    """Input that cannot be scored; the message names the file, line and column."""


class Forecast(NamedTuple):
    """One published forecast step (a tuple: millions are built in one pass)."""

    model: str
    version: str
    run: str
    series_id: str
    target: str
    timestamp: datetime
    horizon_step: int
    p50: float
    p10: float | None
    p90: float | None


@dataclass(slots=True)
class Measures:
    """Running sums of one group of forecasts; the measures are read from them."""

    forecasts: int = 0
    matched: int = 0
    abs_error: float = 0.0
    error: float = 0.0
    smape_sum: float = 0.0
    smape_points: int = 0
    covered: int = 0
    coverage_points: int = 0
    first: datetime | None = None
    last: datetime | None = None

    def add(
        self, stamp: datetime, difference: float | None, term: float | None, covered: int | None
    ) -> None:
        """One forecast: ``difference`` p50 - actual (None while pending), its sMAPE ``term``
        (None where undefined) and whether [p10, p90] ``covered`` the actual (None: no
        quantiles)."""
        self.forecasts += 1
        if difference is None:
            return
        self.matched += 1
        self.abs_error += abs(difference)
        self.error += difference
        if term is not None:
            self.smape_sum += term
            self.smape_points += 1
        if covered is not None:
            self.coverage_points += 1
            self.covered += covered
        if self.first is None or stamp < self.first:
            self.first = stamp
        if self.last is None or stamp > self.last:
            self.last = stamp

    @property
    def pending(self) -> int:
        return self.forecasts - self.matched

    @property
    def mae(self) -> float | None:
        return self.abs_error / self.matched if self.matched else None

    @property
    def bias(self) -> float | None:
        return self.error / self.matched if self.matched else None

    @property
    def smape(self) -> float | None:
        return self.smape_sum / self.smape_points if self.smape_points else None

    @property
    def coverage(self) -> float | None:
        return self.covered / self.coverage_points if self.coverage_points else None


@dataclass
class Scores:
    """The join's result: measures per (model, version, series, target, step) and per version,
    and per version and forecast time the sum and count of sMAPE terms (for rolling windows:
    as many entries as distinct times, not points)."""

    cells: dict[tuple[str, str, str, str, int], Measures] = field(default_factory=dict)
    versions: dict[tuple[str, str], Measures] = field(default_factory=dict)
    smape_by_time: dict[tuple[str, str], dict[datetime, list[float]]] = field(default_factory=dict)


# --- reading ----------------------------------------------------------------------------------


def parse_published(text: str | bytes, source: str) -> list[Forecast]:
    """The forecasts of one published ``forecasts.csv``; a bad cell names file, line, column."""
    return list(iter_published(text, source))


def iter_published(text: str | bytes, source: str) -> Iterator[Forecast]:
    """:func:`parse_published` one row at a time: a pass over many files holds none of them."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise AccuracyError(f"{source}: byte {error.start} is not UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    missing = [name for name in PUBLISHED_FIELDS if name not in header]
    if missing:
        raise AccuracyError(
            f"{source}, line 1: no column {', '.join(map(repr, missing))}; expected a "
            f"published forecasts.csv with {','.join(PUBLISHED_FIELDS)}"
        )
    (series, target, stamp_at, step, p50, p10, p90, model, version, run, offset) = (
        header.index(name) for name in PUBLISHED_FIELDS
    )
    stamps: dict[str, datetime] = {}  # many series share each timestamp: parse it once
    for record in reader:
        line = reader.line_num
        if len(record) != len(header):
            raise AccuracyError(
                f"{source}, line {line}: {len(record)} fields; expected the header's {len(header)}"
            )
        text_stamp = record[stamp_at] + record[offset]
        stamp = stamps.get(text_stamp)
        if stamp is None:
            stamp = stamps[text_stamp] = _timestamp(text_stamp, source, line)
        yield Forecast(
            model=record[model],
            version=record[version],
            run=record[run],
            series_id=record[series],
            target=record[target],
            timestamp=stamp,
            horizon_step=_integer(record[step], source, line, "horizon_step"),
            p50=number(record[p50], source, line, "p50", error=AccuracyError),
            p10=optional_number(
                record[p10], source, line, "p10", expected="a finite number", error=AccuracyError
            ),
            p90=optional_number(
                record[p90], source, line, "p90", expected="a finite number", error=AccuracyError
            ),
        )


# --- joining and measuring --------------------------------------------------------------------


def score(
    forecasts: Iterable[Forecast],
    actuals: Mapping[InstantKey, ActualRow],
    scores: Scores | None = None,
) -> Scores:
    """Join each forecast with its actual (same series, target and instant) and measure; adds
    to ``scores`` when given (one call per published file)."""
    scores = Scores() if scores is None else scores
    checked = False
    for forecast in forecasts:
        if not checked:
            check_same_time_kind(forecast, actuals)
            checked = True
        found = actuals.get((forecast.series_id, forecast.target, forecast.timestamp))
        difference = term = covered = None
        if found is not None:
            actual = found.value
            difference = forecast.p50 - actual
            scale = abs(forecast.p50) + abs(actual)
            term = 200.0 * abs(difference) / scale if scale > 0 else None
            if forecast.p10 is not None and forecast.p90 is not None:
                covered = int(forecast.p10 <= actual <= forecast.p90)
        cell = (
            forecast.model,
            forecast.version,
            forecast.series_id,
            forecast.target,
            forecast.horizon_step,
        )
        version = (forecast.model, forecast.version)
        cell_measures = scores.cells.get(cell)
        if cell_measures is None:
            cell_measures = scores.cells[cell] = Measures()
        cell_measures.add(forecast.timestamp, difference, term, covered)
        version_measures = scores.versions.get(version)
        if version_measures is None:
            version_measures = scores.versions[version] = Measures()
        version_measures.add(forecast.timestamp, difference, term, covered)
        if term is not None:
            by_time = scores.smape_by_time.setdefault(version, {})
            sums = by_time.get(forecast.timestamp)
            if sums is None:
                sums = by_time[forecast.timestamp] = [0.0, 0]
            sums[0] += term
            sums[1] += 1
    return scores


def check_same_time_kind(forecast: Forecast, actuals: Mapping[InstantKey, ActualRow]) -> None:
    """Forecasts and actuals both with UTC offsets or both without: a local time is no instant,
    so it would silently never match one that has an offset."""
    if not actuals:
        return
    actual = next(iter(actuals.values()))
    if (actual.timestamp.tzinfo is not None) != (forecast.timestamp.tzinfo is not None):
        kind = "has a UTC offset" if actual.timestamp.tzinfo is not None else "has none"
        raise AccuracyError(
            f"{actual.source}, line {actual.line}, column 'timestamp': "
            f"{actual.timestamp.isoformat()!r} {kind}, unlike the published forecasts; expected "
            "actuals with an offset exactly when the forecasts have one"
        )


def as_utc(stamp: datetime) -> datetime:
    """A naive datetime: an instant's UTC wall clock, or a local time as it is (comparisons)."""
    return stamp.astimezone(UTC).replace(tzinfo=None) if stamp.tzinfo is not None else stamp


# --- the accuracy table -----------------------------------------------------------------------


def format_accuracy_csv(scores: Scores) -> str:
    """The accuracy table (:data:`ACCURACY_COLUMNS`), one row per version, series, target and
    horizon step, sorted; numbers as plain decimals, timestamps in the published format (UTC
    for data with offsets)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(ACCURACY_COLUMNS)
    for (model, version, series_id, target, step), measures in sorted(scores.cells.items()):
        writer.writerow(
            (
                model,
                version,
                series_id,
                target,
                step,
                measures.forecasts,
                measures.matched,
                measures.pending,
                decimal_text(measures.mae),
                decimal_text(measures.bias),
                decimal_text(measures.smape),
                measures.smape_points,
                decimal_text(measures.coverage),
                measures.coverage_points,
                time_text(measures.first),
                time_text(measures.last),
            )
        )
    return buffer.getvalue()


def decimal_text(value: float | None) -> str:
    """Shortest round-trip digits, never scientific notation (QuickSight reads that as text)."""
    return "" if value is None else format(Decimal(repr(value)), "f")


def time_text(stamp: datetime | None) -> str:
    return "" if stamp is None else as_utc(stamp).strftime("%Y-%m-%d %H:%M:%S")


# --- cells ------------------------------------------------------------------------------------


def _timestamp(text: str, source: str, line: int) -> datetime:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise AccuracyError(
            f"{where(source, line, 'timestamp')}: cannot parse {text!r}; expected "
            "'YYYY-MM-DD HH:MM:SS' (and the utc_offset column, '+02:00' or empty)"
        ) from None


def _integer(text: str, source: str, line: int, column: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise AccuracyError(
            f"{where(source, line, column)}: {text!r}; expected a whole number"
        ) from None
