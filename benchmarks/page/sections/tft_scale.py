"""TFT at larger Stallion-shaped panels (tft_scale.json)."""

from __future__ import annotations

from typing import Any

from benchmarks.page.format import missing, ratio, table
from benchmarks.page.results import load, source
from benchmarks.page.targets import TARGETS

PEAK = TARGETS["tft_scale_peak"]


def extrapolated_peak_gib(data: dict[str, Any]) -> float:
    """Peak RSS (GiB) at the target scale, on the line through the two largest scales run."""
    *_, small, large = data["results"]

    def peak(r: dict[str, Any]) -> float:
        return max(r["preprocess_peak_rss_mib"], r["train_peak_rss_mib"]) / 1024

    slope = (peak(large) - peak(small)) / (large["scale"] - small["scale"])
    return peak(large) + slope * (data["target"]["scale"] - large["scale"])


def section() -> list[str]:
    data = load("tft_scale")
    lines = [
        "### TFT at larger panels",
        "",
        "Stallion's 350 series copied k times under new agency names (volumes scaled per copy), "
        "then the preprocess and train entry points as SageMaker runs them: our default "
        "configuration, one epoch, 2 ranks × 1 thread, each step in its own process so its "
        "peak RSS is its own: that of the largest process (one rank; each rank holds its own "
        "windows, so a 2-rank host holds about twice that) (`python benchmarks/tft_scale.py`). "
        "Target (anchors): a 100× panel (35,000 series, 2.1M rows) within "
        f"**{PEAK.limit_text}**, time "
        "growing about linearly with the rows.",
        "",
    ]
    if data is None:
        return lines + missing("tft_scale", "python benchmarks/tft_scale.py")
    rows = [
        [
            f"{r['scale']}×",
            f"{r['series']:,}",
            f"{r['rows']:,}",
            f"{r['train_windows']:,}",
            f"{r['preprocess_s']:.0f}",
            f"{r['preprocess_peak_rss_mib']:,.0f}",
            f"{r['data_setup_s']:.0f}",
            f"{r['epoch_s']:.0f}",
            f"{r['train_peak_rss_mib']:,.0f}",
            ratio(r["time_per_row_vs_first"]),
            source("tft_scale"),
        ]
        for r in data["results"]
    ]
    lines += table(
        [
            "scale",
            "series",
            "rows",
            "training windows",
            "preprocess s",
            "preprocess peak MiB",
            "window set-up s",
            "epoch s",
            "train peak MiB",
            "time per row vs 1×",
            "source",
        ],
        rows,
    )
    lines += [
        f"On the line through the two largest scales run, 100× would peak at about "
        f"**{extrapolated_peak_gib(data):.0f} GiB** per rank (an extrapolation, not a "
        "measurement). "
        "The window set-up is the fast data path's one-off cost: every training window is "
        "taken once through pytorch-forecasting's per-sample `__getitem__`, so its time grows "
        "with the windows. Its memory grows with the rows: a batch is gathered from the data "
        "set's own per-row tensors, and only what `__getitem__` computes per window (the "
        "target scaled by the window's encoder, its scale, the encoder length, the relative "
        "time index) is stored per window, 5 MiB for Stallion's 20,650 training windows "
        "(45 MiB when every window was stored whole, padded).",
        "",
    ]
    return lines


def target_rows() -> list[list[str]]:
    """The peak memory of the largest panel run, and of a 100× panel on the line through it."""
    what = f"TFT at 100× Stallion within {PEAK.limit_text} peak RSS"
    data = load("tft_scale")
    if data is None:
        return [[what, "not measured here", "–", ""]]
    largest = data["results"][-1]
    rss = max(largest["preprocess_peak_rss_mib"], largest["train_peak_rss_mib"]) / 1024
    extrapolated = extrapolated_peak_gib(data)
    return [
        [
            what,
            f"largest process, measured up to {largest['scale']}×: {rss:.1f} GiB; 100× "
            f"extrapolated: {extrapolated:.0f} GiB per rank",
            "extrapolated: " + PEAK.verdict(extrapolated),
            "[TFT scale](#tft-at-larger-panels)",
        ]
    ]
