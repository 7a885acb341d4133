"""The forecast plots and the HTML report of one published partition.

The report says what was forecast (a backtest against known actuals, the future after the
data's end, or both), the scale of every metric, and shows each plotted series, the model's
own interpretation plots when there are any, and a clear mark on synthetic data.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lambdas.publish import plots

PERCENT_METRICS = frozenset({"mape", "smape"})
ORIGINAL = "original_scale_metrics"  # evaluation.json's section of metrics in target units
BACKTEST, FUTURE = "backtest", "future"  # a forecast of known times, or past the last actual
KIND_TITLES = {BACKTEST: "Backtest (actuals known)", FUTURE: "Forecast past the last actual"}
SYNTHETIC_NOTE = (
    "SYNTHETIC DATA: these forecasts come from generated demo series, not from a real data "
    "set; they show the pipeline works and say nothing about real accuracy."
)


@dataclass(frozen=True)
class Figure:
    """One rendered series plot and the facts its caption states."""

    series_id: str
    target: str
    kind: str  # "backtest" (actuals known) or "future" (after the last actual)
    file_name: str
    png: bytes
    start: datetime
    end: datetime
    has_band: bool
    has_history: bool


@dataclass(frozen=True)
class Image:
    """A picture published beside the report as it is (the model's interpretation plots)."""

    file_name: str
    png: bytes
    caption: str


@dataclass(frozen=True)
class Span:
    """Forecast rows of one kind: how many, of how many series, from when to when."""

    rows: int
    series: int
    start: datetime
    end: datetime


@dataclass(frozen=True)
class ForecastKinds:
    """What was forecast: rows inside the observed data (a backtest, scored against the
    actuals) and rows after each series' last observation (the future)."""

    backtest: Span | None
    future: Span | None
    data_end: datetime | None  # the latest observation of any series; None without actuals


@dataclass(frozen=True)
class Accuracy:
    """Forecast against actual, over the rows whose actual is known (``None`` when none are)."""

    mae: float | None
    mae_rows: int
    coverage: float | None  # share of actuals inside [p10, p90]; nominal 0.8
    coverage_rows: int


@dataclass(frozen=True)
class MetricRow:
    name: str
    value: str
    scale: str


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
    kind: str,
    forecast: Sequence[plots.ForecastPoint],
    history: Sequence[plots.HistoryPoint],
    file_name: str,
    synthetic: bool = False,
) -> Figure:
    """Draw one series (see :func:`plots.series_figure`) and keep what its caption says."""
    if not forecast:
        raise ValueError(f"series {series_id!r}: no forecast points to plot")
    forecast = sorted(forecast, key=lambda point: point[0])
    shown = plots.shown_history(forecast, history)
    title = f"{KIND_TITLES[kind]}: {series_name(series_id, target)}"
    figure = plots.series_figure(
        title=title, target=target, forecast=forecast, history=shown, synthetic=synthetic
    )
    times = [point[0] for point in shown] + [point[0] for point in forecast]
    return Figure(
        series_id=series_id,
        target=target,
        kind=kind,
        file_name=file_name,
        png=plots.to_png(figure),
        start=min(times),
        end=max(times),
        has_band=all(p10 is not None and p90 is not None for _, p10, _, p90 in forecast),
        has_history=bool(shown),
    )


def series_name(series_id: str, target: str) -> str:
    return series_id if series_id == target else f"{series_id} / {target}"


def evaluation_rows(evaluation: Mapping[str, Any]) -> list[MetricRow]:
    """The registered evaluation's metrics, each with the scale it was computed on."""
    about = evaluation.get("evaluation", {})
    split = about.get("split", "test")
    rows = []
    for section in ("regression_metrics", ORIGINAL):
        for name, item in evaluation.get(section, {}).items():
            value = item.get("value") if isinstance(item, Mapping) else item
            label = f"{split} {name}" + (", original units" if section == ORIGINAL else "")
            rows.append(MetricRow(label, _format_value(value), metric_scale(name, section, about)))
    return rows


def metric_scale(name: str, section: str, about: Mapping[str, Any]) -> str:
    """In words: standardised, the target's units (squared for MSE), a percentage or a ratio."""
    targets = ", ".join(str(t) for t in about.get("targets", ())) or "the target"
    if name in PERCENT_METRICS:
        return "percent of the actual value (in the target's units before division)"
    if name.startswith("q_risk"):
        return "ratio to the sum of |actual| (no units)"
    if section == ORIGINAL:
        scale = f"units of {targets}"
    else:
        scale = str(about.get("scale") or "not recorded with the evaluation")
    return f"squared {scale}" if name == "mse" else scale


def render_html(
    *,
    run: str,
    model: str,
    version: str,
    evaluation: Mapping[str, Any] | None,
    metrics: Mapping[str, Any],
    accuracy: Accuracy,
    kinds: ForecastKinds,
    figures: Sequence[Figure],
    images: Sequence[Image],
    images_folder: str,
    rows: int,
    series: int,
    data_uri: str,
    synthetic: bool | None,
    appendix_html: str = "",
) -> str:
    """A self-contained page: what was forecast, how good it was, and the plots beside it.

    Every value from the data is escaped; images are referenced by their file name, which
    sits next to the report. ``appendix_html`` is a section already escaped by its maker
    (the approval comparison, :mod:`lambdas.comparison.page`), placed after the metrics.
    """
    e = _escape
    title = f"Forecasts: {model} version {version}, run {run}"
    if synthetic:
        title = f"SYNTHETIC DATA: {title}"
    metric_rows = evaluation_rows(evaluation or {})
    metric_rows += [MetricRow(name, _format_value(value), "") for name, value in metrics.items()]
    metric_rows += _accuracy_rows(accuracy)
    table = "\n".join(
        f'<tr><th scope="row">{e(r.name)}</th><td>{e(r.value)}</td><td>{e(r.scale)}</td></tr>'
        for r in metric_rows
    )
    figure_html = "\n".join(
        f"<h3>{e(KIND_TITLES[kind])}</h3>\n"
        + "\n".join(_figure_html(figure) for figure in figures if figure.kind == kind)
        for kind in KIND_TITLES
        if any(figure.kind == kind for figure in figures)
    )
    plotted_series = len({(figure.series_id, figure.target) for figure in figures})
    if figures and plotted_series < series:
        plotted = (
            f"The {plotted_series} series with the largest total |p50| of {series}; the data "
            "file holds all of them."
        )
    else:
        plotted = f"All {series} series."
    image_html = "\n".join(_image_html(image, images_folder) for image in images)
    banner = f'<p class="synthetic">{e(SYNTHETIC_NOTE)}</p>' if synthetic else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{e(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; max-width: 960px; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.8em; text-align: left; }}
figure {{ margin: 1.5em 0; }}
dl {{ display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }}
dd {{ margin: 0; }}
img {{ max-width: 100%; height: auto; }}
.synthetic {{ background: #fde8ec; border: 2px solid #b00020; color: #b00020; padding: 0.6em;
  font-weight: bold; }}
</style>
</head>
<body>
<h1>{e(title)}</h1>
{banner}
<h2>What was forecast</h2>
<ul>
{_kinds_html(kinds)}
</ul>
<dl>
<dt>Run</dt><dd>{e(run)}</dd>
<dt>Model</dt><dd>{e(model)} version {e(version)}</dd>
<dt>Rows</dt><dd>{rows} forecast rows of {series} series</dd>
<dt>Data</dt><dd><code>{e(data_uri)}</code></dd>
</dl>
<h2>Metrics</h2>
<table>
<thead>
<tr><th scope="col">Metric</th><th scope="col">Value</th><th scope="col">Scale</th></tr>
</thead>
<tbody>
{table}
</tbody>
</table>
{appendix_html}
<h2>Series</h2>
<p>{e(plotted)}</p>
{figure_html or "<p>No series to plot.</p>"}
{"<h2>Model interpretation</h2>" + chr(10) + image_html if images else ""}
</body>
</html>
"""


def _kinds_html(kinds: ForecastKinds) -> str:
    e = _escape
    items = []
    if kinds.backtest:
        span = kinds.backtest
        items.append(
            f"<li><strong>Backtest</strong>: {span.rows} rows of {span.series} series, "
            f"{_time(span.start)} to {_time(span.end)}, times whose actual values are known. "
            "The model saw only the history before them; the metrics below compare the "
            "forecast with those actuals.</li>"
        )
    if kinds.future:
        span = kinds.future
        after = (
            f"after the data's end ({_time(kinds.data_end)})"
            if kinds.data_end
            else "with no actuals known"
        )
        items.append(
            f"<li><strong>Future</strong>: {span.rows} rows of {span.series} series, "
            f"{_time(span.start)} to {_time(span.end)}, {e(after)}.</li>"
        )
    if not kinds.future:
        items.append("<li>Nothing past the last actual: this run forecast no future.</li>")
    return "\n".join(items)


def _accuracy_rows(result: Accuracy) -> list[MetricRow]:
    if result.mae is None:
        return [MetricRow("forecast vs actual", "no actuals known yet for these forecasts", "")]
    rows = [
        MetricRow(
            "MAE of p50 vs actual (published rows)",
            f"{_format_value(result.mae)} ({result.mae_rows} rows)",
            "target units",
        )
    ]
    if result.coverage is not None:
        rows.append(
            MetricRow(
                "p10–p90 coverage (nominal 80 %)",
                f"{result.coverage:.1%} ({result.coverage_rows} rows)",
                "share of rows",
            )
        )
    return rows


def _figure_html(figure: Figure) -> str:
    e = _escape
    name = series_name(figure.series_id, figure.target)
    parts = [f"{_time(figure.start)} to {_time(figure.end)}"]
    if not figure.has_band:
        parts.append("point forecast only (no p10–p90 band)")
    if not figure.has_history:
        parts.append("no history known")
    return (
        f'<figure>\n<img src="{e(figure.file_name)}" alt="{e("Forecast of " + name)}">\n'
        f"<figcaption><strong>{e(name)}</strong>: {e('; '.join(parts))}</figcaption>\n</figure>"
    )


def _image_html(image: Image, folder: str) -> str:
    e = _escape
    return (
        f'<figure>\n<img src="{e(folder)}/{e(image.file_name)}" alt="{e(image.caption)}">\n'
        f"<figcaption>{e(image.caption)}</figcaption>\n</figure>"
    )


def _time(stamp: datetime | None) -> str:
    if stamp is None:
        return ""
    offset = stamp.isoformat(timespec="minutes")[16:]  # "+02:00", or empty without a zone
    return f"{stamp:%Y-%m-%d %H:%M}" + (f" (UTC{offset})" if offset else "")


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)


def _escape(value: object) -> str:
    return html.escape(str(value), quote=True)
