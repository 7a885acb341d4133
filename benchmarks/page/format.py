"""Pure helpers that write the page's numbers, tables and statistics."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

NONE = "–"  # what a cell shows for a value that was not measured


def number(value: Any, digits: int = 3) -> str:
    """A measured value: large floats with thousands separators, others to ``digits`` figures."""
    if value is None:
        return NONE
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}"
    return str(value)


def ratio(value: float | None, digits: int = 2) -> str:
    """A speed-up or other ratio, as ``1.23×``."""
    return NONE if value is None else f"{value:.{digits}f}×"


def pair(mse: float, mae: float) -> str:
    """An accuracy as the papers write it: ``MSE / MAE``."""
    return f"{mse:.3f} / {mae:.3f}"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A Markdown table followed by a blank line."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def missing(name: str, command: str) -> list[str]:
    """What a section says in place of its numbers when its JSON is absent."""
    return [f"_Not measured yet: `{name}.json` is absent. Run `{command}`._", ""]


def n_log_n_exponent(lengths: Sequence[int]) -> float:
    """Least-squares slope of log(L·log L) on log L: how fast L·log L grows over ``lengths``."""
    xs = [math.log(n) for n in lengths]
    ys = [math.log(n * math.log(n)) for n in lengths]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def median_range(values: Sequence[float]) -> dict[str, float]:
    """The median of repeated measurements with their range."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}
