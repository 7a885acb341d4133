"""Accuracy as actuals arrive: one pass over 10,000 series x 30 days (accuracy.json)."""

from __future__ import annotations

from benchmarks.page.format import missing, ratio, table
from benchmarks.page.results import load, source


def section() -> list[str]:
    data = load("accuracy")
    lines = [
        "## Forecast accuracy as actuals arrive",
        "",
        "One pass of the accuracy Lambda's code (`lambdas.accuracy.tracking.track`, on local "
        "folders as local mode runs it): read and validate every published `forecasts.csv` and "
        "actuals file, join each forecast with its actual, measure MAE, bias, sMAPE and p10–p90 "
        "coverage per version, series and horizon step, write the accuracy table and apply the "
        "drift rule. Data: 10,000 series, a daily run on each of 30 days with a 7-day horizon "
        "(2,100,000 published forecast rows in 30 files), actuals in 35 daily files with the "
        "last two days still missing. Peer, alternating with it in the same run: the same join "
        "and measures as a naive pandas pipeline (`read_csv`, `merge`, `groupby().agg`, "
        "`to_csv`; no validation, no drift rule); the two tables are checked to agree. Each in a "
        "fresh process; peak memory is the process's own high-water mark (`VmHWM`) "
        "(`nice -n 10 python benchmarks/accuracy.py`).",
        "",
    ]
    if data is None:
        return lines + missing("accuracy", "nice -n 10 python benchmarks/accuracy.py")
    rows = []
    for name, label in (("ours", "ours (pure Python, stdlib only)"), ("pandas", "pandas peer")):
        seconds, memory = data[name]["seconds"], data[name]["peak_rss_mib"]
        rows.append(
            [
                label,
                f"{seconds['median']:.1f}",
                f"{seconds['min']:.1f}–{seconds['max']:.1f}",
                f"{memory['median']:.0f}",
                seconds["runs"],
                source("accuracy"),
            ]
        )
    rows.append(
        [
            "ours / pandas",
            ratio(data["ours_over_pandas_seconds"]),
            "",
            ratio(data["ours_over_pandas_memory"]),
            "",
            f"largest difference between the tables: {data['max_abs_difference']:.1e}",
        ]
    )
    lines += table(
        ["implementation", "seconds (median)", "range", "peak MiB", "runs", "source / notes"], rows
    )
    lines += [
        "Ours is the code the Lambda runs: boto3 only, no pandas (no layer), one published file "
        "in memory at a time, read, joined and measured in one loop without an object per row "
        "(each distinct timestamp and horizon step parsed once; a number cell goes through the "
        "named-error path only when `float()` refuses it or it is not finite), and per version "
        "only the sMAPE sums per forecast time for the rolling window; the Lambda has 15 "
        "minutes and 1,769 MB.",
        "",
    ]
    return lines
