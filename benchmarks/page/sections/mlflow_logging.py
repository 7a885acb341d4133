"""What MLflow tracking costs per training epoch (mlflow_logging.json)."""

from __future__ import annotations

from benchmarks.page.format import missing, number, table
from benchmarks.page.results import load, source


def section() -> list[str]:
    data = load("mlflow_logging")
    lines = [
        "## MLflow tracking overhead",
        "",
        "The train step on the demo series (a small Informer, a few batches per epoch so the "
        "logging is not lost in the compute), rounds alternating tracking off and on "
        "(Lightning's `MLFlowLogger` into a file store, as local mode records), and the "
        "logger's own per-epoch call timed alone "
        "(`nice -n 10 python benchmarks/mlflow_logging.py`).",
        "",
    ]
    if data is None:
        return lines + missing("mlflow_logging", "python benchmarks/mlflow_logging.py")
    rows = [
        [row["what"], number(row["median"]), f"{number(row['min'])}–{number(row['max'])}",
         row["runs"], source("mlflow_logging")]
        for row in data["rows"]
    ]  # fmt: skip
    lines += table(["what", "ms per epoch (median)", "range", "runs", "source"], rows)
    off, _, call = data["rows"]
    lines += [
        f"Tracking on minus off: {data['overhead_ms']:.1f} ms per epoch (medians) over "
        f"{data['epochs']}-epoch fits of {data['train_batches_per_epoch']} batches, the run's "
        f"creation and parameters included; the epochs without tracking alone spread over "
        f"{off['max'] - off['min']:.0f} ms, and the logger's per-epoch call takes "
        f"{call['median']:.2f} ms.",
        "",
    ]
    return lines
