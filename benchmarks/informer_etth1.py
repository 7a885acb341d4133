"""ETTh1 multivariate accuracy on the standard protocol, beside the Informer paper's numbers.

Runs the real preprocess, train and evaluate steps (the code SageMaker runs) in a scratch folder:

    python benchmarks/informer_etth1.py --horizons 24 48 168 --seeds 2021 1
    python benchmarks/informer_etth1.py --config paper     # the paper's sizes, input 96
    # the official code's ETTh1 M/24 configuration under bf16 autocast:
    python benchmarks/informer_etth1.py --config paper --seq-len 48 --factor 3 \
        --precision bf16-mixed --name informer_etth1_official_bf16
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from machine import print_table, write_result
from page.anchors import anchor, paper_informer

from forecasting.models.informer.defaults import PAPER_ARGUMENTS
from forecasting.steps import evaluate, preprocess, train

SHARED_ETTH1 = Path(__file__).resolve().parents[2] / "shared" / "data" / "ett" / "ETTh1.csv"
PAPER = {horizon: paper_informer(horizon) for horizon in anchor("informer_paper_etth1")}

CONFIGS: dict[str, list[str]] = {
    "paper": list(PAPER_ARGUMENTS),  # d_model 512, 8 heads, ProbSparse, lr 1e-4 halved
    "default": [],  # the train step's own defaults
}


def evaluate_split(work: Path, channels: Path, split: str) -> dict[str, Any]:
    """The saved model's regression metrics on one split, through the real evaluate step."""
    return evaluate.main(
        ["--model-dir", str(work / "model"), "--test", str(channels / split),
         "--output-dir", str(work / f"evaluation-{split}")]
    )["regression_metrics"]  # fmt: skip


def run(
    horizon: int, config: str, seed: int, data: Path, extra: list[str], work: Path, seq_len: int
) -> dict[str, Any]:
    label_len = 48  # the protocol's start-token length
    channels = work / "channels"
    preprocess.main(
        ["--data", str(data), "--split", "ett", "--seq-len", str(seq_len),
         "--pred-len", str(horizon), "--output-dir", str(channels)]
    )  # fmt: skip
    summary = train.main(
        [
            "--train", str(channels / "train"), "--validation", str(channels / "validation"),
            "--model-dir", str(work / "model"), "--output-data-dir", str(work / "output"),
            "--checkpoint-dir", str(work / "checkpoints"),
            "--seq-len", str(seq_len), "--label-len", str(label_len), "--pred-len", str(horizon),
            "--seed", str(seed), "--progress-bar", "false", *CONFIGS[config], *extra,
        ]
    )  # fmt: skip
    metrics, validation = (
        evaluate_split(work, channels, split) for split in ("test", "validation")
    )
    paper_mse, paper_mae = PAPER.get(horizon, (None, None))
    return {
        "horizon": horizon,
        "config": config,
        "seed": seed,
        "mse": metrics["mse"]["value"],
        "mae": metrics["mae"]["value"],
        "paper_mse": paper_mse,
        "paper_mae": paper_mae,
        "epochs": summary["epochs_completed"],
        "best_val_loss": summary["best_val_loss"],
        # the saved model (an ensemble's mean forecast, the EMA weights) on the validation split
        "val_mse": validation["mse"]["value"],
        "fit_seconds": summary["fit_seconds"],
        "windows_per_s": max(summary["train_windows_per_second"] or [0.0]),
        "arguments": [*CONFIGS[config], *extra],
        "seq_len": seq_len,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_ETTH1)
    parser.add_argument("--horizons", type=int, nargs="+", default=[24])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="default")
    parser.add_argument("--seeds", type=int, nargs="+", default=[2021])
    parser.add_argument("--name", default=None, help="result file name")
    parser.add_argument(
        "--seq-len", type=int, default=96, help="input length (the paper's ETTh1 M/24 row: 48)"
    )
    args, extra = parser.parse_known_args()
    rows = []
    for horizon in args.horizons:
        for seed in args.seeds:
            with tempfile.TemporaryDirectory() as scratch:
                rows.append(
                    run(horizon, args.config, seed, args.data, extra, Path(scratch), args.seq_len)
                )
            print(json.dumps(rows[-1]), flush=True)
    print_table(rows, ["horizon", "config", "seed", "mse", "mae", "paper_mse", "paper_mae",
                       "epochs", "fit_seconds", "windows_per_s"])  # fmt: skip
    name = args.name or f"informer_etth1_{args.config}"
    write_result(name, {"protocol": "ETTh1 M, Informer Dataset_ETT_hour split", "rows": rows})


if __name__ == "__main__":
    main()
