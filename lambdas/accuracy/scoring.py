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
import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

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
PICKED = ("series_id", "target", "timestamp", "utc_offset", "horizon_step", "p50", "p10", "p90",
          "model", "model_version")  # fmt: skip
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


@dataclass(slots=True)
class Measures:
    """Running sums of one group of forecasts (:func:`score` adds to them); the measures are
    read from them. All but ``forecasts`` count only forecasts whose actual arrived."""

    forecasts: int = 0
    matched: int = 0
    abs_error: float = 0.0  # sum of |p50 - actual|
    error: float = 0.0  # sum of p50 - actual
    smape_sum: float = 0.0  # sum of the sMAPE terms, where defined
    smape_points: int = 0
    covered: int = 0  # actuals inside [p10, p90], of the forecasts with quantiles
    coverage_points: int = 0
    first: datetime | None = None  # the matched forecasts' time span
    last: datetime | None = None

    def merge(self, other: Measures) -> None:
        """Add another group's sums (a version's measures are its cells')."""
        self.forecasts += other.forecasts
        self.matched += other.matched
        self.abs_error += other.abs_error
        self.error += other.error
        self.smape_sum += other.smape_sum
        self.smape_points += other.smape_points
        self.covered += other.covered
        self.coverage_points += other.coverage_points
        if other.first is not None and (self.first is None or other.first < self.first):
            self.first = other.first
        if other.last is not None and (self.last is None or other.last > self.last):
            self.last = other.last

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
    """The join's result: measures per (model, version, series, target, step) and per version
    (the sums of its cells), and per version and forecast time the sum and count of sMAPE terms
    (for rolling windows: as many entries as distinct times, not points)."""

    cells: dict[tuple[str, str, str, str, int], Measures] = field(default_factory=dict)
    smape_by_time: dict[tuple[str, str], dict[datetime, list[float]]] = field(default_factory=dict)
    _versions: dict[tuple[str, str], Measures] | None = None

    @property
    def versions(self) -> dict[tuple[str, str], Measures]:
        """Each version's measures, summed from its cells in their sorted order (once)."""
        if self._versions is None:
            self._versions = {}
            for (model, version, *_), cell in sorted(self.cells.items()):
                total = self._versions.get((model, version))
                if total is None:
                    total = self._versions[model, version] = Measures()
                total.merge(cell)
        return self._versions

    def invalidate(self) -> None:
        self._versions = None


# --- reading, joining and measuring -----------------------------------------------------------


def score(
    text: str | bytes,
    source: str,
    actuals: Mapping[InstantKey, ActualRow],
    scores: Scores | None = None,
) -> Scores:
    """Read one published ``forecasts.csv`` (a bad cell names file, line and column), join each
    forecast with its actual (same series, target and instant) and measure; adds to ``scores``
    when given (one call per file: a pass over many files holds none of them).

    One loop over the rows, without an object per row: this is the pass's hot path.
    """
    scores = Scores() if scores is None else scores
    scores.invalidate()
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
    # each row's cells in this order, picked in one call whatever the file's column order
    pick = operator.itemgetter(*(header.index(name) for name in PICKED))
    cells, smape_by_time = scores.cells, scores.smape_by_time
    stamps: dict[str, datetime] = {}  # many series share each timestamp: parse it once
    steps: dict[str, int] = {}  # and each horizon step
    by_time: dict[datetime, list[float]] = {}
    by_time_of = ("", "")  # the (model, version) whose by_time that is
    finite, width = math.isfinite, len(header)
    for record in reader:
        if len(record) != width:
            raise AccuracyError(
                f"{source}, line {reader.line_num}: {len(record)} fields; expected the "
                f"header's {width}"
            )
        series_id, target, text_stamp, offset, text_step, text_p50, low, high, model, version = (
            pick(record)
        )
        stamp = stamps.get(text_stamp + offset)
        if stamp is None:
            stamp = stamps[text_stamp + offset] = _timestamp(
                text_stamp + offset, source, reader.line_num
            )
            check_same_time_kind(stamp, actuals)
        step = steps.get(text_step)
        if step is None:
            step = steps[text_step] = _integer(text_step, source, reader.line_num, "horizon_step")
        # float() of a cell is what number() computes; a cell it refuses, or a value that is
        # not finite (their sum is not: an overflowing sum only takes the slow path too), takes
        # the slow path, which names the cell or reads an empty quantile
        try:
            p50 = float(text_p50)
            p10 = float(low) if low else None
            p90 = float(high) if high else None
            fast = finite(p50 + (p10 or 0.0) + (p90 or 0.0))
        except ValueError:
            fast = False
        if not fast:
            p50, p10, p90 = _numbers(text_p50, low, high, source, reader.line_num)
        key = (model, version, series_id, target, step)
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = Measures()
        found = actuals.get((series_id, target, stamp))
        if found is None:  # pending
            cell.forecasts += 1
            continue
        actual = found.value
        difference = p50 - actual
        miss = abs(difference)
        scale = abs(p50) + abs(actual)
        # inlined rather than a method of Measures: this runs once per matched forecast
        cell.forecasts += 1
        cell.matched += 1
        cell.abs_error += miss
        cell.error += difference
        if p10 is not None and p90 is not None:
            cell.coverage_points += 1
            cell.covered += p10 <= actual <= p90
        if cell.first is None or stamp < cell.first:
            cell.first = stamp
        if cell.last is None or stamp > cell.last:
            cell.last = stamp
        if scale > 0:  # the sMAPE term is defined
            term = 200.0 * miss / scale
            cell.smape_sum += term
            cell.smape_points += 1
            if version != by_time_of[1] or model != by_time_of[0]:  # a file is one version's
                by_time_of = (model, version)
                by_time = smape_by_time.setdefault(by_time_of, {})
            sums = by_time.get(stamp)
            if sums is None:
                sums = by_time[stamp] = [0.0, 0]
            sums[0] += term
            sums[1] += 1
    return scores


def _numbers(
    p50: str, p10: str, p90: str, source: str, line: int
) -> tuple[float, float | None, float | None]:
    """p50, p10 and p90 of a row, or the error naming the cell."""
    low, high = (
        optional_number(text, source, line, name, expected="a finite number", error=AccuracyError)
        for text, name in ((p10, "p10"), (p90, "p90"))
    )
    return number(p50, source, line, "p50", error=AccuracyError), low, high


def check_same_time_kind(stamp: datetime, actuals: Mapping[InstantKey, ActualRow]) -> None:
    """Forecasts and actuals both with UTC offsets or both without: a local time is no instant,
    so it would silently never match one that has an offset."""
    if not actuals:
        return
    actual = next(iter(actuals.values()))
    if (actual.timestamp.tzinfo is not None) != (stamp.tzinfo is not None):
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
    times: dict[datetime | None, str] = {}  # the cells share few distinct times

    def time_of(stamp: datetime | None) -> str:
        text = times.get(stamp)
        if text is None:
            text = times[stamp] = time_text(stamp)
        return text

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
                time_of(measures.first),
                time_of(measures.last),
            )
        )
    return buffer.getvalue()


def decimal_text(value: float | None) -> str:
    """Shortest round-trip digits, never scientific notation (QuickSight reads that as text)."""
    if value is None:
        return ""
    text = repr(value)  # already plain unless it has an exponent (or is inf or nan)
    return text if "e" not in text and "n" not in text else format(Decimal(text), "f")


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
