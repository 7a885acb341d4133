"""The forecast plot of one series, drawn with matplotlib.

Matplotlib's object-oriented API (a ``Figure`` with the Agg canvas, no ``pyplot``): no global
figure state to leak between series or invocations, and no display needed. In the Lambda,
matplotlib comes from the plotting layer (``infra/lambda_layers.py``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from itertools import pairwise

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

WIDTH_INCHES, HEIGHT_INCHES, DPI = 9.0, 4.0, 100  # a 900 × 400 pixel PNG
HISTORY_COLOR = "#333333"
MEDIAN_COLOR = "#1f77b4"
BAND_COLOR = "#c6dbef"
MARKER_COLOR = "#888888"
MIN_HISTORY = 24  # points of history shown before the forecast, at least
SYNTHETIC_MARK = "SYNTHETIC DATA"

ForecastPoint = tuple[datetime, float | None, float, float | None]  # time, p10, p50, p90
HistoryPoint = tuple[datetime, float]


def shown_history(
    forecast: Sequence[ForecastPoint], history: Sequence[HistoryPoint]
) -> list[HistoryPoint]:
    """The history of the ``max(3 × horizon, 24)`` steps before the forecast, plus the actuals
    inside it, so the forecast is not squeezed into the right edge.

    A time window, not a count of points: history that stops long before the forecast (the
    backtest's, beside a forecast past the data's end) is left out instead of drawn as a line
    across the gap.
    """
    times = sorted(point[0] for point in forecast)
    start, end = times[0], times[-1]
    keep = max(3 * len(times), MIN_HISTORY)
    before = sorted(point for point in history if point[0] < start)
    steps = [later - earlier for earlier, later in pairwise(times)]
    if not steps and len(before) > 1:
        steps = [before[-1][0] - before[-2][0]]
    if steps:
        window_start = start - keep * min(steps)
        before = [point for point in before if point[0] >= window_start]
    return before[-keep:] + sorted(point for point in history if start <= point[0] <= end)


def series_figure(
    *,
    title: str,
    target: str,
    forecast: Sequence[ForecastPoint],
    history: Sequence[HistoryPoint],
    synthetic: bool = False,
) -> Figure:
    """History and actuals (line), p50 (line), the p10–p90 band (filled) and where the
    forecast starts, with axis labels, date ticks, a title and a legend.

    ``forecast`` and ``history`` are sorted by time; the y-axis is in the target's own units
    (the published numbers are never rescaled).
    """
    if not forecast:
        raise ValueError(f"{title}: no forecast points to plot")
    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    times = [point[0] for point in forecast]
    band = [(t, p10, p90) for t, p10, _, p90 in forecast if p10 is not None and p90 is not None]
    if len(band) == len(forecast):
        axes.fill_between(
            times,
            [p10 for _, p10, _ in band],
            [p90 for _, _, p90 in band],
            color=BAND_COLOR,
            label="forecast p10–p90",
        )
    if history:
        axes.plot(
            [t for t, _ in history],
            [v for _, v in history],
            color=HISTORY_COLOR,
            linewidth=1.5,
            marker="." if len(history) < 60 else None,
            label="observed (history and actuals)",
        )
        axes.axvline(
            times[0], color=MARKER_COLOR, linestyle="--", linewidth=1, label="forecast start"
        )
    axes.plot(
        times,
        [p50 for _, _, p50, _ in forecast],
        color=MEDIAN_COLOR,
        linewidth=2,
        marker="." if len(forecast) < 60 else None,
        label="forecast p50 (median)",
    )
    # Times with an offset are drawn on the wall clock of the forecast's first one (matplotlib
    # would show UTC), and the label says which offset that is.
    zone = times[0].tzinfo
    locator = AutoDateLocator(tz=zone)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator, tz=zone))
    axes.set_xlabel(
        "time (as in the data, no time zone)"
        if zone is None
        else f"time (as in the data, UTC{times[0].isoformat(timespec='minutes')[16:]})"
    )
    axes.set_ylabel(f"{target} (target units)")
    axes.set_title(f"{SYNTHETIC_MARK}: {title}" if synthetic else title)
    axes.grid(True, color="#e5e5e5", linewidth=0.8)
    # below the axes, where it never hides a line
    figure.legend(loc="outside lower center", ncols=4, fontsize="small", frameon=False)
    return figure


def to_png(figure: Figure) -> bytes:
    """The figure as PNG bytes, without matplotlib's version in the metadata: the bytes
    depend only on the drawing, so publishing a run again rewrites identical files."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()
