"""Turn Batch Transform outputs into a partitioned, QuickSight-ready forecast data set.

The same code runs in the publish Lambda (S3 in, S3 out) and in local mode (files in, files
out); all I/O goes through a :class:`~lambdas.publish.stores.Store`, so everything here apart
from :func:`publish` is pure. Plots need matplotlib (the Lambda's plotting layer). Reading and
validating the inputs is :mod:`lambdas.publish.rows`.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from lambdas.publish import report

# explicit re-exports: their home is lambdas.publish.keys
from lambdas.publish.keys import FORECASTS_FILE as FORECASTS_FILE
from lambdas.publish.keys import (
    TRANSFORM_SUFFIX,
    manifest_key,
    partition_key,
    partition_path,
    report_prefix,
    safe_file_name,
)
from lambdas.publish.keys import check_partition_part as check_partition_part
from lambdas.publish.keys import quicksight_manifest as quicksight_manifest
from lambdas.publish.kinds import forecast_kind, forecast_kinds, last_observations
from lambdas.publish.rows import (
    FORECAST_COLUMNS,
    TIMESTAMP_FORMAT,
    ActualRow,
    ForecastRow,
    PublishError,
    SeriesKey,
    check_one_time_zone_kind,
    check_unique_forecasts,
    parse_actuals,
    parse_forecasts,
    utc_offset,
)
from lambdas.publish.stores import Store

# What the published CSV holds: the forecast, the truth beside it (empty while unknown), the
# run, so a QuickSight data set spanning several runs can still tell them apart, whether the
# model was trained on synthetic demo data ("true"/"false"; empty when publishing was not told),
# and the timestamp's UTC offset ("+02:00"; empty for data without one). The timestamp itself is
# the wall clock of the data, in the one format QuickSight parses as a date: a data set shows the
# times the user's data shows, and utc_offset says which instant that is.
PUBLISHED_COLUMNS = (*FORECAST_COLUMNS, "actual", "run", "synthetic", "utc_offset")
REPORT_FILE = "report.html"
IMAGES_FOLDER = "interpretation"  # beside the report: the model's own plots
TOP_SERIES = 6  # series plotted per partition; the report says how many of how many


@dataclass(frozen=True, slots=True)
class JoinedRow:
    """A forecast row with the actual value at its timestamp, or None while it is unknown."""

    forecast: ForecastRow
    actual: float | None


@dataclass(frozen=True)
class PublishResult:
    """What :func:`publish` wrote, in write order per kind."""

    run: str
    rows: int
    series: int
    csv_keys: tuple[str, ...]
    plot_keys: tuple[str, ...]
    report_keys: tuple[str, ...]
    manifest_keys: tuple[str, ...]
    manifest_uris: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, for the Lambda's return value and logs."""
        return {
            "run": self.run,
            "rows": self.rows,
            "series": self.series,
            "csv_keys": list(self.csv_keys),
            "plot_keys": list(self.plot_keys),
            "report_keys": list(self.report_keys),
            "manifest_keys": list(self.manifest_keys),
            "manifest_uris": list(self.manifest_uris),
        }


# --- joining, grouping and formatting ---------------------------------------------------------


def join_actuals(rows: Sequence[ForecastRow], actuals: Sequence[ActualRow] = ()) -> list[JoinedRow]:
    """Put the actual value beside each forecast, so forecast and truth sit side by side."""
    known = {(row.series_id, row.target, row.timestamp): row.value for row in actuals}
    return [JoinedRow(row, known.get((row.series_id, row.target, row.timestamp))) for row in rows]


def group_by_model(rows: Sequence[JoinedRow]) -> dict[tuple[str, str], list[JoinedRow]]:
    """Rows per (model, model_version), each sorted by series, target and time.

    Sorting makes the published file independent of how the transform split its inputs, so
    publishing the same outputs again writes byte-identical files.
    """
    groups: dict[tuple[str, str], list[JoinedRow]] = defaultdict(list)
    for row in rows:
        groups[(row.forecast.model, row.forecast.model_version)].append(row)
    return {
        key: sorted(
            group,
            key=lambda r: (r.forecast.series_id, r.forecast.target, r.forecast.timestamp),
        )
        for key, group in sorted(groups.items())
    }


def format_csv(rows: Sequence[JoinedRow], run: str, synthetic: bool | None = None) -> str:
    """The published CSV: :data:`PUBLISHED_COLUMNS`, plain decimals, one timestamp format
    (the wall clock; its offset goes into ``utc_offset``)."""
    synthetic_text = "" if synthetic is None else str(synthetic).lower()
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(PUBLISHED_COLUMNS)
    for joined in rows:
        row = joined.forecast
        writer.writerow(
            (
                row.series_id,
                row.target,
                row.timestamp.strftime(TIMESTAMP_FORMAT),
                row.horizon_step,
                _format_number(row.p50),
                _format_number(row.p10),
                _format_number(row.p90),
                row.model,
                row.model_version,
                _format_number(joined.actual),
                run,
                synthetic_text,
                utc_offset(row.timestamp),
            )
        )
    return buffer.getvalue()


def _format_number(value: float | None) -> str:
    """Shortest round-trip digits, never scientific notation (QuickSight reads it as text)."""
    return "" if value is None else format(Decimal(repr(value)), "f")


def top_series(
    rows: Sequence[ForecastRow],
    k: int = 6,
    score: Callable[[Sequence[ForecastRow]], float] | None = None,
) -> list[SeriesKey]:
    """The ``k`` most important series; by default those with the largest total |p50|.

    Ties are broken by name, so the same input always plots the same series.
    """
    by_series: dict[SeriesKey, list[ForecastRow]] = defaultdict(list)
    for row in rows:
        by_series[row.series].append(row)
    measure = score or (lambda series_rows: sum(abs(r.p50) for r in series_rows))
    ranked = sorted(by_series, key=lambda key: (-measure(by_series[key]), key))
    return ranked[: max(k, 0)]


# --- orchestration ----------------------------------------------------------------------------


def publish(
    store: Store,
    *,
    transform_prefix: str,
    output_prefix: str,
    run: str,
    actuals_key: str | None = None,
    evaluation: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    images: Sequence[report.Image] = (),
    top_k: int = TOP_SERIES,
    transform_store: Store | None = None,
    actuals_store: Store | None = None,
    appendix_html: str = "",
) -> PublishResult:
    """Publish every ``*.out`` under ``transform_prefix`` as CSV partitions, reports, manifests.

    ``evaluation`` is the model's registered ``evaluation.json``: its metrics (with their scale)
    go into the report, and its ``evaluation.synthetic`` flag marks every output. ``metrics``
    adds rows of its own; ``images`` (the model's interpretation plots) are published beside
    the report and shown in it.

    All inputs are read and validated before anything is written, so a bad file leaves the
    output untouched. Manifests are written last: a QuickSight refresh that sees a manifest
    finds its CSV complete. Keys depend only on the run, model and version, so publishing a
    run again overwrites the same objects. ``transform_store`` and ``actuals_store`` read from
    other locations (another bucket) and default to ``store``. ``appendix_html`` is an escaped
    section each report shows after its metrics (local approval's comparison).
    """
    check_partition_part("run", run)
    forecasts = read_transform_outputs(transform_store or store, transform_prefix)
    actuals: list[ActualRow] = []
    if actuals_key:
        reader = actuals_store or store
        actuals = parse_actuals(reader.read(actuals_key), reader.uri(actuals_key))
    check_one_time_zone_kind([*forecasts, *actuals])
    groups = group_by_model(join_actuals(forecasts, actuals))
    for model, version in groups:
        partition_path(model, version, run)  # fail before the first write, not halfway
    synthetic = synthetic_flag(evaluation)
    for image in images:
        if safe_file_name(image.file_name) != image.file_name:
            raise PublishError(
                f"image file name {image.file_name!r}; expected letters, digits, '.', '_' and "
                "'-' only"
            )

    written = [
        _write_partition(
            store,
            output_prefix=output_prefix,
            run=run,
            model=model,
            version=version,
            rows=rows,
            actuals=actuals,
            evaluation=evaluation,
            metrics=metrics or {},
            images=images,
            top_k=top_k,
            synthetic=synthetic,
            appendix_html=appendix_html,
        )
        for (model, version), rows in groups.items()
    ]
    manifest_keys = []
    for (model, version), (csv_key, _, _) in zip(groups, written, strict=True):
        key = manifest_key(output_prefix, model, version, run, synthetic=bool(synthetic))
        manifest = quicksight_manifest([store.uri(csv_key)])
        store.write(key, json.dumps(manifest, indent=2).encode(), "application/json")
        manifest_keys.append(key)
    return PublishResult(
        run=run,
        rows=len(forecasts),
        series=len({row.series for row in forecasts}),
        csv_keys=tuple(csv_key for csv_key, _, _ in written),
        plot_keys=tuple(key for _, plot_keys, _ in written for key in plot_keys),
        report_keys=tuple(report_key for _, _, report_key in written),
        manifest_keys=tuple(manifest_keys),
        manifest_uris=tuple(store.uri(key) for key in manifest_keys),
    )


def synthetic_flag(evaluation: Mapping[str, Any] | None) -> bool | None:
    """Whether the model learnt from synthetic demo data; None when no evaluation says."""
    if evaluation is None:
        return None
    return bool(evaluation.get("evaluation", {}).get("synthetic", False))


def read_transform_outputs(store: Store, transform_prefix: str) -> list[ForecastRow]:
    """Every forecast row of every ``*.out`` file in the folder, validated across files."""
    folder = transform_prefix.strip("/")
    folder = f"{folder}/" if folder else ""  # "job-1" must not also match "job-10/"
    keys = [key for key in store.list(folder) if key.endswith(TRANSFORM_SUFFIX)]
    if not keys:
        raise PublishError(
            f"{store.uri(folder)}: no {TRANSFORM_SUFFIX} files; expected the Batch Transform "
            "outputs of the run"
        )
    forecasts: list[ForecastRow] = []
    for key in sorted(keys):
        forecasts.extend(parse_forecasts(store.read(key), store.uri(key)))
    check_one_time_zone_kind(forecasts)
    check_unique_forecasts(forecasts)
    return forecasts


def _write_partition(
    store: Store,
    *,
    output_prefix: str,
    run: str,
    model: str,
    version: str,
    rows: Sequence[JoinedRow],
    actuals: Sequence[ActualRow],
    evaluation: Mapping[str, Any] | None,
    metrics: Mapping[str, Any],
    images: Sequence[report.Image],
    top_k: int,
    synthetic: bool | None,
    appendix_html: str,
) -> tuple[str, list[str], str]:
    """The CSV, the plots and the report of one (model, version); returns their keys."""
    csv_key = partition_key(output_prefix, model, version, run)
    store.write(csv_key, format_csv(rows, run, synthetic).encode(), "text/csv")
    folder = report_prefix(output_prefix, model, version, run)
    forecasts = [row.forecast for row in rows]
    figures = _figures(forecasts, actuals, top_k, bool(synthetic))
    plot_keys = []
    for figure in figures:
        plot_keys.append(f"{folder}/{figure.file_name}")
        store.write(plot_keys[-1], figure.png, "image/png")
    for image in images:  # a folder of their own: no clash with a series' file name
        plot_keys.append(f"{folder}/{IMAGES_FOLDER}/{image.file_name}")
        store.write(plot_keys[-1], image.png, "image/png")
    page = report.render_html(
        run=run,
        model=model,
        version=version,
        evaluation=evaluation,
        metrics=metrics,
        accuracy=report.accuracy(
            (row.forecast.p10, row.forecast.p50, row.forecast.p90, row.actual) for row in rows
        ),
        kinds=forecast_kinds(forecasts, actuals),
        figures=figures,
        images=images,
        images_folder=IMAGES_FOLDER,
        rows=len(rows),
        series=len({row.forecast.series for row in rows}),
        data_uri=store.uri(csv_key),
        synthetic=synthetic,
        appendix_html=appendix_html,
    )
    report_key = f"{folder}/{REPORT_FILE}"
    store.write(report_key, page.encode(), "text/html; charset=utf-8")
    return csv_key, plot_keys, report_key


def _figures(
    rows: Sequence[ForecastRow], actuals: Sequence[ActualRow], top_k: int, synthetic: bool
) -> list[report.Figure]:
    """A backtest and a future plot of each of the most important series (where it has such
    rows), with file names unique after sanitising."""
    chosen = top_series(rows, top_k)
    history: dict[SeriesKey, list[tuple[datetime, float]]] = defaultdict(list)
    wanted = set(chosen)
    for actual in actuals:
        if actual.series in wanted:
            history[actual.series].append((actual.timestamp, actual.value))
    last_seen = last_observations(actuals)
    figures = []
    used: set[str] = set()
    for series_id, target in chosen:
        series_rows = sorted(
            (row for row in rows if row.series == (series_id, target)), key=lambda r: r.timestamp
        )
        base = safe_file_name(series_id if series_id == target else f"{series_id}__{target}")
        for kind in report.KIND_TITLES:
            kind_rows = [row for row in series_rows if forecast_kind(row, last_seen) == kind]
            if not kind_rows:
                continue
            name, n = f"{base}-{kind}", 1
            while name in used:
                n += 1
                name = f"{base}-{kind}-{n}"
            used.add(name)
            figures.append(
                report.plot_series(
                    series_id=series_id,
                    target=target,
                    kind=kind,
                    forecast=[(r.timestamp, r.p10, r.p50, r.p90) for r in kind_rows],
                    history=sorted(history[(series_id, target)]),
                    file_name=f"{name}.png",
                    synthetic=synthetic,
                )
            )
    return figures
