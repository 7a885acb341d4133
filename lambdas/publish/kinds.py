"""Backtest or future: whether a forecast's truth is already in the data it was made from.

A forecast row up to its series' last known time is a backtest (its actual is in the data, so
the report can score it); a later one is the future. The report counts and plots each kind.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime

from lambdas.publish import report
from lambdas.publish.rows import ActualRow, ForecastRow, SeriesKey


def last_observations(actuals: Sequence[ActualRow]) -> dict[SeriesKey, datetime]:
    """Each series' latest known time: forecasts up to it are a backtest, later ones the future."""
    last_seen: dict[SeriesKey, datetime] = {}
    for actual in actuals:
        if actual.series not in last_seen or actual.timestamp > last_seen[actual.series]:
            last_seen[actual.series] = actual.timestamp
    return last_seen


def forecast_kind(row: ForecastRow, last_seen: Mapping[SeriesKey, datetime]) -> str:
    seen = last_seen.get(row.series)
    return report.BACKTEST if seen is not None and row.timestamp <= seen else report.FUTURE


def forecast_kinds(
    rows: Sequence[ForecastRow], actuals: Sequence[ActualRow]
) -> report.ForecastKinds:
    """How many rows are a backtest (their truth is in the data) and how many the future."""
    last_seen = last_observations(actuals)
    by_kind: dict[str, list[ForecastRow]] = defaultdict(list)
    for row in rows:
        by_kind[forecast_kind(row, last_seen)].append(row)
    return report.ForecastKinds(
        backtest=_span(by_kind[report.BACKTEST]),
        future=_span(by_kind[report.FUTURE]),
        data_end=max(last_seen.values()) if last_seen else None,
    )


def _span(rows: Sequence[ForecastRow]) -> report.Span | None:
    if not rows:
        return None
    return report.Span(
        rows=len(rows),
        series=len({row.series for row in rows}),
        start=min(row.timestamp for row in rows),
        end=max(row.timestamp for row in rows),
    )
