"""Forecast plots (PNG) and the HTML report of one published partition.

Standard library only, like the rest of the publish Lambda: the plots are drawn on
:class:`~lambdas.publish.raster.Canvas`, and everything a reader needs in words (titles, the
legend, axis ranges, metrics) is HTML text around the images.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lambdas.publish.raster import Canvas, Color, Point

HISTORY_COLOR: Color = (51, 51, 51)
MEDIAN_COLOR: Color = (31, 119, 180)
BAND_COLOR: Color = (198, 219, 239)
AXES_COLOR: Color = (136, 136, 136)
START_COLOR: Color = (210, 210, 210)
WIDTH, HEIGHT = 720, 320
MARGIN = 12  # pixels between the image edge and the axes box
TICKS = 5  # evenly spaced tick marks per axis; their values are given in the caption
MIN_HISTORY = 24  # points of history shown before the forecast, at least

ForecastPoint = tuple[datetime, float | None, float, float | None]  # time, p10, p50, p90
HistoryPoint = tuple[datetime, float]


@dataclass(frozen=True)
class Figure:
    """One rendered series plot and the facts its caption states."""

    series_id: str
    target: str
    file_name: str
    png: bytes
    width: int
    height: int
    start: datetime
    end: datetime
    y_min: float
    y_max: float
    has_band: bool
    has_history: bool


@dataclass(frozen=True)
class Accuracy:
    """Forecast against actual, over the rows whose actual is known (``None`` when none are)."""

    mae: float | None
    mae_rows: int
    coverage: float | None  # share of actuals inside [p10, p90]; nominal 0.8
    coverage_rows: int


def accuracy(rows: Iterable[tuple[float | None, float, float | None, float | None]]) -> Accuracy:
    """MAE of p50 and p10–p90 coverage from (p10, p50, p90, actual) tuples."""
    errors: list[float] = []
    inside: list[bool] = []
    for p10, p50, p90, actual in rows:
        if actual is None:
            continue
        errors.append(abs(p50 - actual))
        if p10 is not None and p90 is not None:
            inside.append(min(p10, p90) <= actual <= max(p10, p90))
    return Accuracy(
        mae=sum(errors) / len(errors) if errors else None,
        mae_rows=len(errors),
        coverage=sum(inside) / len(inside) if inside else None,
        coverage_rows=len(inside),
    )


def plot_series(
    *,
    series_id: str,
    target: str,
    forecast: Sequence[ForecastPoint],
    history: Sequence[HistoryPoint],
    file_name: str,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Figure:
    """History (line), p50 (line) and the p10–p90 band (filled) of one series.

    History is cut to the last ``max(3 × horizon, 24)`` points before the forecast, plus the
    actuals inside the horizon, so the forecast is not squeezed into the right edge.
    """
    if not forecast:
        raise ValueError(f"series {series_id!r}: no forecast points to plot")
    forecast = sorted(forecast, key=lambda point: point[0])
    start, end = forecast[0][0], forecast[-1][0]
    before = [point for point in history if point[0] < start]
    keep = max(3 * len(forecast), MIN_HISTORY)
    shown = sorted(before)[-keep:] + sorted(p for p in history if start <= p[0] <= end)
    has_band = all(p10 is not None and p90 is not None for _, p10, _, p90 in forecast)

    times = [point[0] for point in shown] + [point[0] for point in forecast]
    values = [value for _, value in shown] + [p50 for _, _, p50, _ in forecast]
    if has_band:
        values += [q for _, p10, _, p90 in forecast for q in (p10, p90) if q is not None]
    t_min, t_max = min(times), max(times)
    y_min, y_max = _padded_range(min(values), max(values))

    left, top, right, bottom = MARGIN, MARGIN, width - 1 - MARGIN, height - 1 - MARGIN
    span = (t_max - t_min).total_seconds()

    def to_pixel(stamp: datetime, value: float) -> Point:
        offset = (stamp - t_min).total_seconds()
        x = left + (right - left) * (offset / span if span else 0.5)
        y = bottom - (bottom - top) * (value - y_min) / (y_max - y_min)
        return (x, y)

    canvas = Canvas(width, height)
    if has_band:
        canvas.fill_between(
            [to_pixel(t, p90) for t, _, _, p90 in forecast if p90 is not None],
            [to_pixel(t, p10) for t, p10, _, _ in forecast if p10 is not None],
            BAND_COLOR,
        )
    if shown:
        x_start = to_pixel(start, y_min)[0]
        canvas.line((x_start, top), (x_start, bottom), START_COLOR)
        canvas.polyline([to_pixel(t, v) for t, v in shown], HISTORY_COLOR, width=2)
    canvas.polyline([to_pixel(t, p50) for t, _, p50, _ in forecast], MEDIAN_COLOR, width=2)
    _draw_axes(canvas, left, top, right, bottom)
    return Figure(
        series_id=series_id,
        target=target,
        file_name=file_name,
        png=canvas.to_png(),
        width=width,
        height=height,
        start=t_min,
        end=t_max,
        y_min=y_min,
        y_max=y_max,
        has_band=has_band,
        has_history=bool(shown),
    )


def _padded_range(low: float, high: float) -> tuple[float, float]:
    """5 % head room each side, and a non-zero range for a flat series."""
    if high == low:
        pad = abs(high) * 0.1 or 1.0
        return low - pad, high + pad
    pad = (high - low) * 0.05
    return low - pad, high + pad


def _draw_axes(canvas: Canvas, left: int, top: int, right: int, bottom: int) -> None:
    """The axes box and evenly spaced ticks pointing inwards (labels are in the caption)."""
    canvas.rectangle(left, top, right, bottom, AXES_COLOR)
    length = 5
    for i in range(TICKS):
        x = round(left + (right - left) * i / (TICKS - 1))
        y = round(bottom - (bottom - top) * i / (TICKS - 1))
        canvas.line((x, bottom), (x, bottom - length), AXES_COLOR)
        canvas.line((left, y), (left + length, y), AXES_COLOR)


def render_html(
    *,
    run: str,
    model: str,
    version: str,
    metrics: Mapping[str, Any],
    accuracy: Accuracy,
    figures: Sequence[Figure],
    rows: int,
    series: int,
    data_uri: str,
) -> str:
    """A self-contained page: what was published, how good it was, and the plots beside it.

    Every value from the data is escaped; images are referenced by their file name, which
    sits next to the report.
    """
    e = _escape
    title = f"Forecasts: {model} version {version}, run {run}"
    metric_rows = [(name, _format_value(value)) for name, value in metrics.items()]
    metric_rows += _accuracy_rows(accuracy)
    table = "\n".join(
        f'<tr><th scope="row">{e(name)}</th><td>{e(value)}</td></tr>' for name, value in metric_rows
    )
    figure_html = "\n".join(_figure_html(figure) for figure in figures)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{e(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.8em; text-align: left; }}
figure {{ margin: 1.5em 0; }}
.swatch {{ display: inline-block; width: 1em; height: 0.8em; vertical-align: middle; }}
</style>
</head>
<body>
<h1>{e(title)}</h1>
<dl>
<dt>Run</dt><dd>{e(run)}</dd>
<dt>Model</dt><dd>{e(model)}</dd>
<dt>Model version</dt><dd>{e(version)}</dd>
<dt>Rows</dt><dd>{rows}</dd>
<dt>Series</dt><dd>{series}</dd>
<dt>Data</dt><dd><code>{e(data_uri)}</code></dd>
</dl>
<h2>Metrics</h2>
<table>
<thead><tr><th scope="col">Metric</th><th scope="col">Value</th></tr></thead>
<tbody>
{table}
</tbody>
</table>
<h2>Most important series</h2>
<p>{_legend()}</p>
{figure_html or "<p>No series to plot.</p>"}
</body>
</html>
"""


def _accuracy_rows(result: Accuracy) -> list[tuple[str, str]]:
    if result.mae is None:
        return [("forecast vs actual", "no actuals known yet for the forecast horizon")]
    rows = [("MAE of p50 vs actual", f"{_format_value(result.mae)} ({result.mae_rows} rows)")]
    if result.coverage is not None:
        rows.append(
            (
                "p10–p90 coverage (nominal 80 %)",
                f"{result.coverage:.1%} ({result.coverage_rows} rows)",
            )
        )
    return rows


def _figure_html(figure: Figure) -> str:
    e = _escape
    name = (
        figure.series_id
        if figure.series_id == figure.target
        else (f"{figure.series_id} / {figure.target}")
    )
    parts = [
        f"time {figure.start:%Y-%m-%d %H:%M} to {figure.end:%Y-%m-%d %H:%M}",
        f"{figure.target} {_format_value(figure.y_min)} to {_format_value(figure.y_max)}",
    ]
    if not figure.has_band:
        parts.append("point forecast only (no p10–p90 band)")
    if not figure.has_history:
        parts.append("no history known")
    return (
        f'<figure>\n<img src="{e(figure.file_name)}" width="{figure.width}" '
        f'height="{figure.height}" alt="{e("Forecast of " + name)}">\n'
        f"<figcaption><strong>{e(name)}</strong>: {e('; '.join(parts))}</figcaption>\n</figure>"
    )


def _legend() -> str:
    items = (
        (HISTORY_COLOR, "history and actuals"),
        (MEDIAN_COLOR, "forecast p50"),
        (BAND_COLOR, "p10–p90 band"),
    )
    return (
        " ".join(
            f'<span class="swatch" style="background: rgb{color}"></span> {label}'
            for color, label in items
        )
        + ". Axes ticks divide each range into four equal parts."
    )


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)


def _escape(value: object) -> str:
    return html.escape(str(value), quote=True)
