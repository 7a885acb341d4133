"""What MLflow tracking costs per epoch: the train step with tracking off and on, side by side.

The real train step (``forecasting.steps.train``) on the built-in demo series, a small Informer,
a few batches per epoch so that the logging is not lost in the compute; rounds alternate
tracking off (no ``MLFLOW_TRACKING_URI``) and on (Lightning's ``MLFlowLogger`` into a file store
in a temporary folder, as local mode records). Per-epoch time is the fit's time over its
epochs. A second row times the logger's own per-epoch work alone: one ``log_metrics`` call with
the metrics an epoch logs.

    nice -n 10 python benchmarks/mlflow_logging.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from machine import print_table, spread, write_result

from forecasting import tracking
from forecasting.steps import preprocess, train

MODEL = ["--seq-len", "16", "--label-len", "8", "--pred-len", "4", "--d-model", "16",
         "--n-heads", "2", "--d-ff", "32", "--factor", "3", "--batch-size", "16",
         "--progress-bar", "false", "--patience", "100", "--threads-per-process", "1"]  # fmt: skip


def fit_seconds_per_epoch(folder: Path, channels: Path, epochs: int, batches: int) -> float:
    run = ["--train", str(channels / "train"), "--validation", str(channels / "validation"),
           "--model-dir", str(folder / "model"), "--output-data-dir", str(folder / "output"),
           "--checkpoint-dir", str(folder / "checkpoints"), "--max-epochs", str(epochs),
           "--limit-train-batches", str(batches), "--limit-val-batches", "1"]  # fmt: skip
    summary = train.main([*MODEL, *run])
    return float(summary["fit_seconds"]) / epochs


def logger_ms_per_epoch(store: Path, calls: int) -> float:
    configured = tracking.Tracking(store.as_uri(), "benchmark")
    logger = tracking.training_logger(configured, store / "checkpoints", run_name="bench")
    metrics = {"train_loss": 0.5, "val_loss": 0.6, "epoch": 0.0}
    logger.log_metrics(metrics, step=0)  # creates the run
    started = time.perf_counter()
    for step in range(1, calls + 1):
        logger.log_metrics(metrics, step=step)
    logger.finalize("success")
    return (time.perf_counter() - started) / calls * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batches", type=int, default=4, help="training batches per epoch")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        channels = root / "channels"
        preprocess.main(["--dataset", "demo", "--seq-len", "16", "--pred-len", "4",
                         "--output-dir", str(channels)])  # fmt: skip
        timed: dict[str, list[float]] = {"off": [], "on": []}
        for round_ in range(args.rounds + 1):  # round 0 warms up
            for mode in ("off", "on"):
                folder = root / f"{mode}-{round_}"
                os.environ.pop(tracking.TRACKING_URI, None)
                if mode == "on":
                    os.environ[tracking.TRACKING_URI] = (root / "mlruns").as_uri()
                seconds = fit_seconds_per_epoch(folder, channels, args.epochs, args.batches)
                if round_:
                    timed[mode].append(seconds * 1e3)
        os.environ.pop(tracking.TRACKING_URI, None)
        logger_ms = [logger_ms_per_epoch(root / f"logger-{n}", 50) for n in range(args.rounds)]

    rows = [
        {"what": "epoch, tracking off", **spread(timed["off"])},
        {"what": "epoch, tracking on (file store)", **spread(timed["on"])},
        {"what": "MLFlowLogger.log_metrics, one epoch's metrics", **spread(logger_ms)},
    ]
    overhead = statistics.median(timed["on"]) - statistics.median(timed["off"])
    print_table(rows, ["what", "median", "min", "max"])
    print(f"per-epoch overhead of tracking: {overhead:.1f} ms (median on - median off)")
    write_result(
        "mlflow_logging",
        {
            "unit": "ms per epoch",
            "rounds": args.rounds,
            "epochs": args.epochs,
            "train_batches_per_epoch": args.batches,
            "rows": rows,
            "overhead_ms": overhead,
        },
    )


if __name__ == "__main__":
    main()
