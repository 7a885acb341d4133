"""TFT at larger Stallion-shaped panels: time and peak memory of preprocess and one epoch.

Each scale k copies Stallion's 350 series k times under new agency names (volumes scaled by a
random factor per copy, so the copies are not identical), then runs the preprocess and train
entry points as SageMaker would (our default configuration, one epoch, 2 ranks x 1 thread),
each in its own process so that its peak RSS is its own (the largest process of its tree:
with 2 ranks the host holds about twice that). The anchors' target is a 100x panel
(35,000 series, 2.1M rows) within 8 GiB; time should grow about linearly with the rows:

    python benchmarks/tft_scale.py --scales 1 3 10
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from child import run_measured
from machine import print_table, write_result
from page.targets import TARGETS
from tft_stallion import SHARED_STALLION

TARGET_RSS_GIB = TARGETS["tft_scale_peak"].limit
TARGET_SCALE = 100


def scaled_panel(source: Path, scale: int, path: Path) -> int:
    """Writes Stallion copied `scale` times to `path`; returns its number of rows."""
    raw = pd.read_parquet(source)
    agencies = raw["agency"].astype(str)
    names = agencies.unique()
    rng = np.random.default_rng(scale)
    copies = []
    for copy in range(scale):
        part = raw.copy()
        part["agency"] = agencies + f"_c{copy}"
        factor = dict(zip(names, rng.uniform(0.5, 1.5, len(names)), strict=True))
        part["volume"] = raw["volume"] * agencies.map(factor)
        copies.append(part)
    panel = pd.concat(copies, ignore_index=True)
    panel.to_parquet(path)
    return len(panel)


def run_scale(source: Path, scale: int, work: Path) -> dict[str, Any]:
    data = work / "panel.parquet"
    rows = scaled_panel(source, scale, data)
    channels = work / "channels"
    preprocess_s, preprocess_mib = run_measured(
        [sys.executable, "-m", "forecasting.steps.preprocess", "--model", "tft",
         "--dataset", "stallion", "--data", str(data), "--split", "tutorial",
         "--output-dir", str(channels)]
    )  # fmt: skip
    train_s, train_mib = run_measured(
        [sys.executable, "-m", "forecasting.steps.train", "--model", "tft",
         "--train", str(channels / "train"), "--validation", str(channels / "validation"),
         "--model-dir", str(work / "model"), "--output-data-dir", str(work / "output"),
         "--checkpoint-dir", str(work / "checkpoints"), "--max-epochs", "1",
         "--processes-per-host", "2", "--threads-per-process", "1", "--progress-bar", "false"]
    )  # fmt: skip
    summary = json.loads((work / "output" / "training_summary.json").read_text())
    return {
        "scale": scale,
        "series": 350 * scale,
        "rows": rows,
        "train_windows": summary["train_windows"],
        "preprocess_s": preprocess_s,
        "preprocess_peak_rss_mib": preprocess_mib,
        "train_s": train_s,
        "data_setup_s": summary["data_setup_seconds"],
        "epoch_s": summary["fit_seconds"],
        "train_peak_rss_mib": train_mib,  # the largest rank; each holds its own windows
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_STALLION, help="stallion.parquet")
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 3, 10])
    args = parser.parse_args()
    results = []
    for scale in args.scales:
        with tempfile.TemporaryDirectory() as work:
            results.append(run_scale(args.data, scale, Path(work)))
        print(json.dumps(results[-1]), flush=True)
    base = results[0]
    for r in results:
        growth = r["rows"] / base["rows"]
        r["time_per_row_vs_first"] = (
            (r["preprocess_s"] + r["train_s"]) / (base["preprocess_s"] + base["train_s"]) / growth
        )
    print_table(
        results,
        ["scale", "series", "rows", "train_windows", "preprocess_s", "preprocess_peak_rss_mib",
         "data_setup_s", "epoch_s", "train_s", "train_peak_rss_mib", "time_per_row_vs_first"],
    )  # fmt: skip
    write_result(
        "tft_scale",
        {"target": {"scale": TARGET_SCALE, "peak_rss_gib": TARGET_RSS_GIB}, "results": results},
    )


if __name__ == "__main__":
    main()
