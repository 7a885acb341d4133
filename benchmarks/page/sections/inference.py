"""Batch inference through the handlers (inference.json)."""

from __future__ import annotations

from benchmarks.page.format import missing, ratio, table
from benchmarks.page.results import load, source
from benchmarks.page.targets import TARGETS

RATE = TARGETS["inference_rate"]  # output series per second per core, default Informer


def section() -> list[str]:
    data = load("inference")
    lines = [
        "## Batch inference",
        "",
        "The inference handlers end to end (request text in, forecast CSV out), each variant in "
        "its own process on one thread, a warm-up then 5 timed requests (median, range), "
        "weights from a one-batch training run (`python benchmarks/inference.py --series 350`). "
        "Informer: the default configuration (d_model 64) on 350 histories of the 7-channel "
        "ETT-shaped demo set, each forecast for all 7 targets, so one request yields "
        "350 × 7 = 2,450 output series. TFT: a Stallion-shaped demo panel of 350 series. "
        'Peer: pytorch-forecasting\'s own `predict(mode="quantiles")` on the same model and '
        "rows, from the already validated frame. "
        f"Target: **{RATE.bound} series per second per core** "
        "for the default Informer.",
        "",
    ]
    if data is None:
        return lines + missing("inference", "python benchmarks/inference.py")
    rows = []
    n = data["series"]
    for name, r in data["results"].items():
        s = r["seconds_spread"]
        per_history = n / s["median"]
        rows.append(
            [
                name,
                r["series"],
                f"{s['median']:.3f}",
                f"{s['min']:.3f}–{s['max']:.3f}",
                f"{r['series_per_second']:,.0f}",
                f"{per_history:,.0f}",
                ratio(r.get("speedup_vs_pytorch_forecasting_predict")),
                f"{r['load_seconds']:.3f}",
                f"{r['peak_rss_mib']:.0f}",
                source("inference"),
            ]
        )
    lines += table(
        [
            "variant",
            "output series",
            "request s (median)",
            "range",
            "output series/s/core",
            f"requests' {n} series (histories)/s/core",
            "vs pytorch-forecasting predict()",
            "model load s",
            "peak RSS MiB",
            "source",
        ],
        rows,
    )
    informer = data["results"].get("informer")
    tft = data["results"].get("tft")
    if informer:
        histories = n / informer["seconds_spread"]["median"]
        lines += [
            f"The Informer target is {RATE.verdict(informer['series_per_second'])} counting "
            "output series "
            f"({informer['series_per_second']:,.0f}/s/core) and "
            f"{RATE.verdict(histories)} counting multivariate histories "
            f"({histories:,.0f}/s/core)."
            + (
                f" Our TFT handler does {ratio(tft['speedup_vs_pytorch_forecasting_predict'])} "
                "the rate of pytorch-forecasting's bare `predict()`: it also parses and checks "
                "the request and writes the CSV, which `predict()` is spared."
                if tft and tft.get("speedup_vs_pytorch_forecasting_predict")
                else ""
            ),
            "",
        ]
    return lines


def target_rows() -> list[list[str]]:
    """Batch inference rate of the default Informer, per output series and per history."""
    data = load("inference")
    if data is None or "informer" not in data["results"]:
        return []
    r = data["results"]["informer"]
    histories = data["series"] / r["seconds_spread"]["median"]
    status = "**not met**"
    if RATE.met(r["series_per_second"]):
        status = "met (output series)" + ("" if RATE.met(histories) else "; not per history")
    return [
        [
            f"Batch inference {RATE.bound} series/s/core, default Informer",
            f"{r['series_per_second']:,.0f} output series/s ({histories:,.0f} "
            "7-channel histories/s)",
            status,
            "[inference](#batch-inference)",
        ]
    ]
