"""The actuals files under the actuals prefix, in either of two formats, each file's chosen by its
header (never by its name):

* the training data's own columns: the time column, the series' id columns and the targets, as
  the model version recorded them (:class:`ColumnContract`, ``evaluation.json`` ->
  ``"evaluation"`` -> ``"columns"``, written by ``forecasting.series_naming``); other columns
  (covariates) are ignored, and each pass says which; an empty target cell is a value not
  observed yet;
* the publish Lambda's long format, exactly ``series_id,target,timestamp,value``.

Pure logic, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lambdas.accuracy.scoring import AccuracyError, InstantKey
from lambdas.publish.rows import (
    ACTUAL_COLUMNS,
    ActualRow,
    check_one_time_zone_kind,
    number,
    parse_actuals,
    parse_timestamp,
    read_table,
    required_text,
)

LONG_FORMAT = ",".join(ACTUAL_COLUMNS)


@dataclass(frozen=True)
class ColumnContract:
    """A version's training columns and how its forecasts name a series: the id columns'
    values, then the target when ``target_appended``, joined with ``separator`` (empty parts
    left out), as ``forecasting.series_naming.SeriesNaming`` records it."""

    time_column: str
    id_columns: tuple[str, ...]
    targets: tuple[str, ...]
    separator: str
    target_appended: bool

    @classmethod
    def from_evaluation(
        cls, evaluation: Mapping[str, Any] | None, source: str
    ) -> ColumnContract | None:
        """The contract an ``evaluation.json`` records; None when it records none (older
        versions). A malformed one names ``source`` and the field."""
        recorded = (evaluation or {}).get("evaluation", {})
        columns = recorded.get("columns") if isinstance(recorded, Mapping) else None
        if columns is None:
            return None
        naming = columns.get("series_id") if isinstance(columns, Mapping) else None
        try:
            assert isinstance(columns, Mapping) and isinstance(naming, Mapping)
            contract = cls(
                time_column=_name(columns["time_column"]),
                id_columns=tuple(_name(c) for c in columns["id_columns"]),
                targets=tuple(_name(c) for c in columns["targets"]),
                separator=_name(naming["separator"]),
                target_appended=bool(naming["target_appended"]),
            )
        except (AssertionError, KeyError, TypeError, ValueError):
            raise AccuracyError(
                f"{source}: 'evaluation.columns' is {columns!r}; expected time_column, "
                "id_columns, targets and series_id (separator, target_appended), as "
                "forecasting.series_naming records them"
            ) from None
        if not contract.targets:
            raise AccuracyError(f"{source}: 'evaluation.columns.targets' is empty")
        return contract

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.time_column, *self.id_columns, *self.targets)

    def series_id(self, ids: Sequence[str], target: str) -> str:
        parts = [value for value in ids if value]
        return self.separator.join([*parts, target] if self.target_appended else parts)


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(value)
    return value


def is_long_format(header: Sequence[str]) -> bool:
    return tuple(header) == ACTUAL_COLUMNS


def training_shaped_rows(
    text: str, source: str, contract: ColumnContract, version: str
) -> tuple[list[ActualRow], tuple[str, ...]]:
    """The long rows of a file in the training data's columns, and the columns it ignored."""
    expected = f"the columns version {version} was trained on: {', '.join(contract.columns)}"
    header_line, header, records = read_table(text, source, expected)
    twice = sorted({name for name in header if header.count(name) > 1})
    if twice:
        raise AccuracyError(
            f"{source}, line {header_line}: column(s) {', '.join(map(repr, twice))} more than "
            "once; expected each column once"
        )
    missing = [name for name in contract.columns if name not in header]
    if missing:
        roles = {contract.time_column: "the time"}
        roles.update((name, "a series id") for name in contract.id_columns)
        roles.update((name, "a target") for name in contract.targets)
        named = ", ".join(f"{name!r} ({roles[name]})" for name in missing)
        raise AccuracyError(
            f"{source}, line {header_line}: no column {named}; expected {expected} (or the "
            f"long format {LONG_FORMAT!r})"
        )
    time_at = header.index(contract.time_column)
    ids_at = [header.index(name) for name in contract.id_columns]
    targets_at = [(name, header.index(name)) for name in contract.targets]
    rows = []
    stamps: dict[str, datetime] = {}  # many series share each timestamp: parse it once
    for line, fields in records:
        stamp = stamps.get(fields[time_at])
        if stamp is None:
            stamp = parse_timestamp(fields[time_at], source, line, contract.time_column)
            stamps[fields[time_at]] = stamp
        ids = [
            required_text(fields[i], source, line, contract.id_columns[n])
            for n, i in enumerate(ids_at)
        ]
        for target, at in targets_at:
            if not fields[at].strip():
                continue  # not observed yet, as a request's forecast rows leave it empty
            value = number(fields[at], source, line, target, error=AccuracyError)
            series_id = contract.series_id(ids, target)
            rows.append(ActualRow(series_id, target, stamp, value, source, line))
    check_one_time_zone_kind(rows)
    ignored = tuple(name for name in header if name not in contract.columns)
    return rows, ignored


def merge(known: dict[InstantKey, ActualRow], rows: Iterable[ActualRow]) -> None:
    """Add ``rows`` to ``known``, one per series, target and instant. A point sent again with
    the same value is fine; two places that disagree about a point are an error naming both
    (replace the wrong file instead)."""
    for row in rows:
        key = (row.series_id, row.target, row.timestamp)
        first = known.setdefault(key, row)
        if first is not row and first.value != row.value:
            raise AccuracyError(
                f"{row.source}, line {row.line}, column 'value': {row.value!r} for series "
                f"{row.series_id!r}, target {row.target!r} at {row.timestamp.isoformat()}, "
                f"but {first.source}, line {first.line} says {first.value!r}; expected one "
                "value per point across the actuals files"
            )
        if first is not row and first.source == row.source:
            raise AccuracyError(
                f"{row.source}, line {row.line}: series {row.series_id!r}, target "
                f"{row.target!r} at {row.timestamp.isoformat()} again (first at line "
                f"{first.line}); expected one row per series and time"
            )


@dataclass
class Arrived:
    """Every actuals file: long-format rows read at once, training-shaped files kept until a
    version's contract says what their columns mean (:meth:`for_version`)."""

    long: dict[InstantKey, ActualRow] = field(default_factory=dict)
    shaped: list[tuple[str, str]] = field(default_factory=list)  # (source, text)
    notes: list[str] = field(default_factory=list)
    _joined: dict[ColumnContract, dict[InstantKey, ActualRow]] = field(default_factory=dict)

    @classmethod
    def read(cls, files: Iterable[tuple[str, bytes]]) -> Arrived:
        arrived = cls()
        for source, body in files:
            try:
                text = body.decode("utf-8-sig")
            except UnicodeDecodeError as error:
                raise AccuracyError(
                    f"{source}: byte {error.start} is not UTF-8; expected a UTF-8 CSV file"
                ) from None
            _, header, _ = read_table(
                text, source, f"a header ({LONG_FORMAT!r} or the training columns)"
            )
            if is_long_format(header):
                merge(arrived.long, parse_actuals(text, source))
            else:
                arrived.shaped.append((source, text))
        return arrived

    def for_version(
        self, contract: ColumnContract | None, version: str
    ) -> Mapping[InstantKey, ActualRow]:
        """The actuals joined with ``version``'s forecasts: the long rows and, read with its
        contract, the training-shaped files (one reading per distinct contract)."""
        if not self.shaped:
            return self.long
        if contract is None:
            self.notes.append(
                f"version {version} recorded no training columns (its evaluation.json has no "
                f"'evaluation.columns'): {', '.join(s for s, _ in self.shaped)} not joined with "
                f"its forecasts; send its actuals in the long format {LONG_FORMAT!r}"
            )
            return self.long
        joined = self._joined.get(contract)
        if joined is None:
            joined = self._joined[contract] = dict(self.long)
            for source, text in self.shaped:
                rows, ignored = training_shaped_rows(text, source, contract, version)
                if ignored:
                    self.notes.append(
                        f"{source}: column(s) {', '.join(map(repr, ignored))} neither the time, "
                        f"a series id nor a target of version {version}: ignored"
                    )
                merge(joined, rows)
        return joined
