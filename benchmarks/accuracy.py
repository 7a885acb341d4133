"""Accuracy as actuals arrive: one accuracy pass over 10,000 series x 30 days of forecasts.

Data: 10,000 series (one target each), a daily forecast run on each of 30 days with a 7-day
horizon, published as the publish Lambda writes it (30 ``forecasts.csv`` partitions, p10/p50/p90,
2,100,000 forecast rows), and the actuals as 34 daily files under ``actuals/`` (the last two
days' still missing: late actuals, so some forecasts stay pending). Generated once,
deterministically, in a temporary folder.

``ours``: ``lambdas.accuracy.tracking.track`` on local folders, as local mode and the Lambda run
it: read and validate every file, join, measure per version, series and horizon step, write the
accuracy table and manifest, apply the drift rule. ``pandas``: the naive peer, in the same run,
the same work as data frames: ``read_csv`` of every file, ``to_datetime``, a left ``merge`` on
series, target and timestamp, per-point error terms, one ``groupby(...).agg`` and ``to_csv``
(no validation, no drift rule). Each runs in a fresh process (wall time from ``run_measured``,
peak memory from the child's own ``VmHWM``), alternating for ``--repeats`` rounds; the tables
are checked to agree.

    nice -n 10 python benchmarks/accuracy.py --repeats 3
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from child import run_measured
from machine import print_table, spread, write_result

ROOT = Path(__file__).resolve().parents[1]
SERIES, DAYS, HORIZON, MISSING_DAYS = 10_000, 30, 7, 2
GROUP, START = "bench", datetime(2026, 1, 1)
FORECASTS_PREFIX = "forecasts"
OUTPUT = "accuracy-out.csv"

OURS = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from lambdas.accuracy.drift import DriftPolicy
from lambdas.accuracy.tracking import track
from lambdas.publish.stores import LocalStore
root = Path(sys.argv[1])
store = LocalStore(root)
registered = {{"regression_metrics": {{"smape": {{"value": 10.0}}}}}}
tracked = track(store, store, model={group!r}, forecasts_prefix="forecasts",
                evaluation=lambda version: registered, policy=DriftPolicy())
(root / {output!r}).write_bytes(store.read(tracked.accuracy_key))
status = Path("/proc/self/status").read_text().splitlines()
(root / "peak-kib.txt").write_text(next(l for l in status if l.startswith("VmHWM")).split()[1])
"""

PANDAS = """
import sys
from pathlib import Path
import numpy as np
import pandas as pd
root = Path(sys.argv[1])
forecasts = pd.concat(
    [pd.read_csv(p, dtype={{"series_id": str, "model_version": str}})
     for p in sorted(root.glob("forecasts/model=*/version=*/run=*/forecasts.csv"))],
    ignore_index=True)
actuals = pd.concat([pd.read_csv(p, dtype={{"series_id": str}})
                     for p in sorted(root.glob("actuals/*.csv"))], ignore_index=True)
actuals = actuals.drop_duplicates(["series_id", "target", "timestamp"])
forecasts["timestamp"] = pd.to_datetime(forecasts["timestamp"])
actuals["timestamp"] = pd.to_datetime(actuals["timestamp"])
joined = forecasts.merge(actuals, on=["series_id", "target", "timestamp"], how="left")
error = joined["p50"] - joined["value"]
scale = joined["p50"].abs() + joined["value"].abs()
joined["abs_error"], joined["error"] = error.abs(), error
joined["smape_term"] = (200 * error.abs() / scale).where(scale > 0)
quantiles = joined["p10"].notna() & joined["value"].notna()
covered = (joined["p10"] <= joined["value"]) & (joined["value"] <= joined["p90"])
joined["covered"] = covered.astype(float).where(quantiles)
table = joined.groupby(["model", "model_version", "series_id", "target", "horizon_step"]).agg(
    forecasts=("p50", "size"), matched=("value", "count"), mae=("abs_error", "mean"),
    bias=("error", "mean"), smape=("smape_term", "mean"), smape_points=("smape_term", "count"),
    coverage_p10_p90=("covered", "mean"), coverage_points=("covered", "count"),
).reset_index()
table["pending"] = table["forecasts"] - table["matched"]
table.to_csv(root / {output!r}, index=False)
status = Path("/proc/self/status").read_text().splitlines()
(root / "peak-kib.txt").write_text(next(l for l in status if l.startswith("VmHWM")).split()[1])
"""


def generate(root: Path, series: int = SERIES) -> dict[str, int]:
    """The published partitions and the actuals files (deterministic)."""
    rng = random.Random(7)
    level = [rng.uniform(50, 500) for _ in range(series)]
    truth = {
        (s, d): level[s] * (1 + 0.1 * rng.uniform(-1, 1))
        for s in range(series)
        for d in range(DAYS + HORIZON)
    }
    header = ["series_id", "target", "timestamp", "horizon_step", "p50", "p10", "p90", "model",
              "model_version", "actual", "run", "synthetic", "utc_offset"]  # fmt: skip
    rows = 0
    for day in range(DAYS):
        run = f"day-{day:02d}"
        path = root / FORECASTS_PREFIX / f"model={GROUP}/version=1/run={run}/forecasts.csv"
        path.parent.mkdir(parents=True)
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(header)
            for s in range(series):
                for step in range(1, HORIZON + 1):
                    p50 = round(level[s] * (1 + 0.1 * rng.uniform(-1, 1)), 3)
                    stamp = (START + timedelta(days=day + step)).strftime("%Y-%m-%d %H:%M:%S")
                    quantiles = [round(p50 * 0.9, 3), round(p50 * 1.1, 3)]
                    writer.writerow([f"s{s:05d}", "y", stamp, step, p50, *quantiles, GROUP, "1",
                                     "", run, "false", ""])  # fmt: skip
                    rows += 1
    actual_files = DAYS + HORIZON - MISSING_DAYS
    for day in range(actual_files):
        path = root / "actuals" / f"{day:02d}.csv"
        path.parent.mkdir(exist_ok=True)
        stamp = (START + timedelta(days=day)).strftime("%Y-%m-%d %H:%M:%S")
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["series_id", "target", "timestamp", "value"])
            writer.writerows(
                [f"s{s:05d}", "y", stamp, round(truth[s, day], 3)] for s in range(series)
            )
    return {"series": series, "forecast_rows": rows, "forecast_files": DAYS,
            "actual_files": actual_files, "actual_rows": actual_files * series}  # fmt: skip


def max_difference(ours: Path, peer: Path) -> float:
    """Largest |difference| of MAE, bias, sMAPE and coverage between the two tables."""

    def read(path: Path) -> dict[tuple[str, str], dict[str, str]]:
        with path.open(newline="") as handle:
            return {(r["series_id"], r["horizon_step"]): r for r in csv.DictReader(handle)}

    a, b = read(ours), read(peer)
    assert a.keys() == b.keys(), "the two tables cover different cells"
    worst = 0.0
    for key, row in a.items():
        assert row["matched"] == b[key]["matched"], (key, row["matched"], b[key]["matched"])
        for column in ("mae", "bias", "smape", "coverage_p10_p90"):
            if row[column] or b[key][column]:
                worst = max(worst, abs(float(row[column]) - float(b[key][column])))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--series", type=int, default=SERIES, help="a smaller size: a smoke test")
    args = parser.parse_args()
    runs: dict[str, list[tuple[float, float]]] = {"ours": [], "pandas": []}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        sizes = generate(root, args.series)
        print(f"generated {sizes}", flush=True)
        scripts = {}
        for name, template in (("ours", OURS), ("pandas", PANDAS)):
            scripts[name] = root / f"run_{name}.py"  # not pandas.py: it would shadow pandas
            scripts[name].write_text(template.format(root=str(ROOT), group=GROUP, output=OUTPUT))
        outputs = {}
        for round_ in range(args.repeats):
            order = ["ours", "pandas"] if round_ % 2 == 0 else ["pandas", "ours"]
            for name in order:
                seconds, _ = run_measured([sys.executable, str(scripts[name]), str(root)])
                # the child's own high-water mark: wait4's ru_maxrss would carry this parent's
                # (torch is imported here) across the exec
                runs[name].append((seconds, int((root / "peak-kib.txt").read_text()) / 1024))
                print(f"round {round_} {name}: {runs[name][-1]}", flush=True)
                outputs[name] = root / f"{name}-{OUTPUT}"
                (root / OUTPUT).rename(outputs[name])
        difference = max_difference(outputs["ours"], outputs["pandas"])
    result: dict[str, Any] = {"data": sizes, "max_abs_difference": difference}
    for name, measured in runs.items():
        result[name] = {
            "seconds": spread([s for s, _ in measured]),
            "peak_rss_mib": spread([m for _, m in measured]),
        }
    result["ours_over_pandas_seconds"] = (
        result["ours"]["seconds"]["median"] / result["pandas"]["seconds"]["median"]
    )
    result["ours_over_pandas_memory"] = (
        result["ours"]["peak_rss_mib"]["median"] / result["pandas"]["peak_rss_mib"]["median"]
    )
    print_table(
        [
            {"implementation": name, "s": result[name]["seconds"]["median"],
             "peak MiB": result[name]["peak_rss_mib"]["median"]}
            for name in runs
        ],
        ["implementation", "s", "peak MiB"],
    )  # fmt: skip
    print(json.dumps({k: result[k] for k in ("max_abs_difference", "ours_over_pandas_seconds",
                                              "ours_over_pandas_memory")}))  # fmt: skip
    result["setup"] = __doc__.split("\n\n")[1] + "\n\n" + __doc__.split("\n\n")[2]
    if args.series == SERIES:
        write_result("accuracy", result)


if __name__ == "__main__":
    main()
