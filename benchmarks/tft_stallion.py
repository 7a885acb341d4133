"""TFT on Stallion: our training path against pytorch-forecasting's tutorial usage, in one run.

Both sides train on the real Stallion file under the tutorial's protocol (encoder 24, min 12,
horizon 6, validation = the last 6 months of each of the 350 series) with the tutorial's
hyperparameters (hidden 16, 2 heads, dropout 0.1, hidden-continuous 8, Adam lr 0.03, gradient
clip 0.1, batch 128, 50 batches per epoch, early stopping patience 10, reduce-on-plateau 4) and
the same seed. Each variant runs in its own process, so peak RSS is its own:

* ``tutorial``: pytorch-forecasting as its tutorial uses it (``to_dataloader``, ``from_dataset``,
  ``log_interval=10``), scored with ``predict()`` and its ``MAE`` on the best checkpoint;
* ``ours``: the preprocess, train and evaluate entry points (materialised windows, synced
  logging), one process;
* ``ours-2-ranks``: the same with 2 DDP ranks x 1 thread on this machine;
* ``ours-default-s<seed>``: our default TFT configuration, for the accuracy target (MAE <= 240),
  once per seed in DEFAULT_SEEDS: the target is judged on the median, not on a lucky seed;
* ``ours-ensemble3-s<seed>``: the same configuration with ``--ensemble-size 3`` (members seeded
  seed, seed + 1, seed + 2, forecasts averaged quantile by quantile), once per seed in
  ENSEMBLE_SEEDS;
* ``ours-ema-s<seed>``: the same configuration validated, checkpointed and saved as an
  exponential moving average of its weights (``--ema-decay 0.99``), once per seed in
  DEFAULT_SEEDS.

    python benchmarks/tft_stallion.py --data ../shared/data/stallion/stallion.parquet
    python benchmarks/tft_stallion.py --variants tutorial ours --update  # rerun the speed pair
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from child import run_measured
from machine import print_table, write_result
from page.anchors import anchor

SHARED_STALLION = Path(__file__).resolve().parents[2] / "shared/data/stallion/stallion.parquet"
RESULT = Path(__file__).parent / "results" / "tft_stallion.json"
BATCHES_PER_EPOCH = 50
BATCH_SIZE = 128
SEED = 42
DEFAULT_SEEDS = (42, 1, 2)
ENSEMBLE_SEEDS = (42, 1)
EMA_DECAY = "0.99"
TUTORIAL_FLAGS = [
    "--hidden-size", "16", "--attention-head-size", "2", "--hidden-continuous-size", "8",
    "--dropout", "0.1", "--learning-rate", "0.03", "--gradient-clip", "0.1",
    "--batch-size", str(BATCH_SIZE), "--limit-train-batches", str(BATCHES_PER_EPOCH),
    "--patience", "10", "--reduce-on-plateau-patience", "4", "--seed", str(SEED),
]  # fmt: skip
VARIANTS = {
    "tutorial": None,
    "ours": ["--processes-per-host", "1", *TUTORIAL_FLAGS],
    "ours-2-ranks": ["--processes-per-host", "2", "--threads-per-process", "1", *TUTORIAL_FLAGS],
    **{
        f"ours-default-s{seed}": ["--processes-per-host", "2", "--threads-per-process", "1",
                                  "--seed", str(seed)]
        for seed in DEFAULT_SEEDS
    },
    **{
        f"ours-ensemble3-s{seed}": ["--processes-per-host", "2", "--threads-per-process", "1",
                                    "--seed", str(seed), "--ensemble-size", "3"]
        for seed in ENSEMBLE_SEEDS
    },
    **{
        f"ours-ema-s{seed}": ["--processes-per-host", "2", "--threads-per-process", "1",
                              "--seed", str(seed), "--ema-decay", EMA_DECAY]
        for seed in DEFAULT_SEEDS
    },
}  # fmt: skip
TUTORIAL_INPUTS = ("ours", "ours-2-ranks")  # the tutorial's target normalizer, not our default
# The speed comparison runs --repeats rounds, interleaved, as epoch times on a shared machine
# drift between runs; the other variants are judged on MAE, which a seed fixes (three runs of
# this script gave the same MAEs to the second decimal), so they run once.
SPEED_VARIANTS = ("tutorial", *TUTORIAL_INPUTS)


def tutorial_datasets(data: Path) -> tuple[Any, Any]:
    """The tutorial's training and validation TimeSeriesDataSet, as written there."""
    from pytorch_forecasting import TimeSeriesDataSet
    from pytorch_forecasting.data import GroupNormalizer

    from forecasting.data.stallion import STALLION_SPECIAL_DAYS, stallion

    frame = stallion(data).frame  # the tutorial's feature engineering, checked column by column
    cutoff = frame["time_idx"].max() - 6
    training = TimeSeriesDataSet(
        frame[lambda x: x.time_idx <= cutoff],
        time_idx="time_idx", target="volume", group_ids=["agency", "sku"],
        min_encoder_length=12, max_encoder_length=24,
        min_prediction_length=1, max_prediction_length=6,
        static_categoricals=["agency", "sku"],
        static_reals=["avg_population_2017", "avg_yearly_household_income_2017"],
        time_varying_known_categoricals=["special_days", "month"],
        variable_groups={"special_days": list(STALLION_SPECIAL_DAYS)},
        time_varying_known_reals=["time_idx", "price_regular", "discount_in_percent"],
        time_varying_unknown_categoricals=[],
        time_varying_unknown_reals=[
            "volume", "log_volume", "industry_volume", "soda_volume", "avg_max_temp",
            "avg_volume_by_agency", "avg_volume_by_sku",
        ],
        target_normalizer=GroupNormalizer(groups=["agency", "sku"], transformation="softplus"),
        add_relative_time_idx=True, add_target_scales=True, add_encoder_length=True,
    )  # fmt: skip
    validation = TimeSeriesDataSet.from_dataset(
        training, frame, predict=True, stop_randomization=True
    )
    return training, validation


def tutorial(data: Path, work: Path, max_epochs: int) -> dict[str, Any]:
    """pytorch-forecasting's Stallion tutorial, as written there (Adam instead of Ranger)."""
    import lightning.pytorch as pl
    import torch
    from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
    from pytorch_forecasting import TemporalFusionTransformer
    from pytorch_forecasting.metrics import MAE, QuantileLoss

    training, validation = tutorial_datasets(data)
    train_loader = training.to_dataloader(train=True, batch_size=BATCH_SIZE, num_workers=0)
    val_loader = validation.to_dataloader(train=False, batch_size=BATCH_SIZE * 10, num_workers=0)

    class EpochTimer(Callback):
        def __init__(self) -> None:
            self.seconds: list[float] = []

        def on_train_epoch_start(self, trainer: Any, module: Any) -> None:
            self.started = time.perf_counter()

        def on_validation_epoch_start(self, trainer: Any, module: Any) -> None:
            if not trainer.sanity_checking:
                self.seconds.append(time.perf_counter() - self.started)

    pl.seed_everything(SEED)
    timer = EpochTimer()
    checkpoint = ModelCheckpoint(dirpath=work / "checkpoints", monitor="val_loss")
    trainer = pl.Trainer(
        max_epochs=max_epochs, accelerator="cpu", enable_model_summary=False,
        gradient_clip_val=0.1, limit_train_batches=BATCHES_PER_EPOCH,
        callbacks=[EarlyStopping(monitor="val_loss", patience=10), checkpoint, timer],
        logger=False, enable_progress_bar=False,
    )  # fmt: skip
    tft = TemporalFusionTransformer.from_dataset(
        training, learning_rate=0.03, hidden_size=16, attention_head_size=2, dropout=0.1,
        hidden_continuous_size=8, loss=QuantileLoss(), log_interval=10, optimizer="adam",
        reduce_on_plateau_patience=4,
    )  # fmt: skip
    started = time.perf_counter()
    trainer.fit(tft, train_dataloaders=train_loader, val_dataloaders=val_loader)
    fit_seconds = time.perf_counter() - started
    # The tutorial's load_from_checkpoint fails under torch's weights_only default (its
    # GroupNormalizer is not an allowed global); this file is our own, so load it in full.
    state = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=False)
    tft.load_state_dict(state["state_dict"])
    predictions = tft.predict(
        val_loader, return_y=True, trainer_kwargs={"accelerator": "cpu", "logger": False}
    )
    mae = float(MAE()(predictions.output, predictions.y))
    return {
        "epoch_seconds": timer.seconds,
        "fit_seconds": fit_seconds,
        "mae": mae,
        "epochs": trainer.current_epoch,
        "best_val_loss": float(checkpoint.best_model_score),
    }


def ours(
    data: Path, work: Path, flags: list[str], max_epochs: int, normalizer: str
) -> dict[str, Any]:
    """Preprocess, then the train entry point as SageMaker starts it, then evaluate."""
    from forecasting.steps import evaluate, preprocess

    channels = work / "channels"
    preprocess.main(["--model", "tft", "--dataset", "stallion", "--data", str(data),
                     "--split", "tutorial", "--target-normalizer", normalizer,
                     "--output-dir", str(channels)])  # fmt: skip
    command = [
        sys.executable, "-m", "forecasting.steps.train", "--model", "tft",
        "--train", str(channels / "train"), "--validation", str(channels / "validation"),
        "--model-dir", str(work / "model"), "--output-data-dir", str(work / "output"),
        "--checkpoint-dir", str(work / "checkpoints"), "--max-epochs", str(max_epochs),
        "--progress-bar", "false", *flags,
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    fit_wall = time.perf_counter() - started
    summary = json.loads((work / "output/training_summary.json").read_text())
    report = evaluate.main(["--model-dir", str(work / "model"), "--test", str(channels / "test"),
                            "--output-dir", str(work / "evaluation")])  # fmt: skip
    windows = summary["train_windows"] if "--limit-train-batches" not in flags else None
    per_epoch = windows or BATCHES_PER_EPOCH * BATCH_SIZE
    return {
        "epoch_seconds": [per_epoch / w for w in summary["train_windows_per_second"]],
        "fit_seconds": summary["fit_seconds"],
        "process_wall_seconds": fit_wall,
        "data_setup_seconds": summary["data_setup_seconds"],
        "mae": report["regression_metrics"]["mae"]["value"],
        "epochs": summary["epochs_completed"],
        "best_val_loss": summary["best_val_loss"],
        "samples_per_epoch": per_epoch,
    }


def run_variant(name: str, data: Path, max_epochs: int) -> dict[str, Any]:
    """Runs one variant in a child process; adds its peak RSS (MiB)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [sys.executable, __file__, "--worker", name, "--data", str(data),
                   "--max-epochs", str(max_epochs), "--out", out.name]  # fmt: skip
        _, rss = run_measured(command)
        result = json.loads(Path(out.name).read_text())
    return {**result, "peak_rss_mib": rss}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One variant's rounds: the first round's record, epoch times as the median over rounds of
    each round's median (the first epoch carries one-time costs on both sides: not timed)."""
    per_round = [statistics.median(r["epoch_seconds"][1:] or r["epoch_seconds"]) for r in runs]
    result = dict(runs[0])
    result["epoch_seconds_runs"] = per_round
    result["epoch_seconds_median"] = statistics.median(per_round)
    result["samples_per_second"] = result.get("samples_per_epoch", 6400) / statistics.median(
        per_round
    )
    if len(runs) > 1:
        result["mae_runs"] = [r["mae"] for r in runs]
        result["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_STALLION, help="stallion.parquet")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3, help="rounds of the speed variants")
    parser.add_argument(
        "--update", action="store_true",
        help="keep the recorded results of the variants not run now (results/tft_stallion.json)",
    )  # fmt: skip
    parser.add_argument("--worker", choices=list(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        with tempfile.TemporaryDirectory() as work:
            if args.worker == "tutorial":
                result = tutorial(args.data, Path(work), args.max_epochs)
            else:
                # Beside the tutorial, its target normalizer, so both see the same inputs;
                # our default configuration with our default (per-window) normalizer.
                normalizer = "group" if args.worker in TUTORIAL_INPUTS else "encoder"
                flags = VARIANTS[args.worker]
                result = ours(args.data, Path(work), flags, args.max_epochs, normalizer)
        args.out.write_text(json.dumps(result))
        return

    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in args.variants}
    for round_ in range(args.repeats):
        for name in args.variants:
            if round_ == 0 or name in SPEED_VARIANTS:
                runs[name].append(run_variant(name, args.data, args.max_epochs))
    recorded = time.strftime("%Y-%m-%d")
    results = {name: {**summarise(done), "recorded": recorded} for name, done in runs.items()}
    if args.update and RESULT.exists():
        results = {**json.loads(RESULT.read_text())["results"], **results}
    base = results.get("tutorial")
    rows = []
    for name, result in results.items():
        row = {
            "variant": name,
            "epoch s (median)": result["epoch_seconds_median"],
            "samples/s": result["samples_per_second"],
            "epochs": result["epochs"],
            "fit s": result["fit_seconds"],
            "peak RSS MiB": result["peak_rss_mib"],
            "val MAE": result["mae"],
        }
        if base:
            row["speed-up"] = base["epoch_seconds_median"] / result["epoch_seconds_median"]
            result["speedup_vs_tutorial"] = row["speed-up"]
            if name in SPEED_VARIANTS and len(result["epoch_seconds_runs"]) > 1:
                rounds = zip(base["epoch_seconds_runs"], result["epoch_seconds_runs"], strict=False)
                result["speedup_by_round"] = [t / o for t, o in rounds]
        rows.append(row)
    columns = ["variant", "epoch s (median)", "samples/s", "speed-up", "epochs", "fit s",
               "peak RSS MiB", "val MAE"]  # fmt: skip
    print_table(rows, columns)
    write_result(
        "tft_stallion",
        {
            "data": str(args.data),
            "protocol": __doc__.split("\n\n")[1],
            "results": results,
            "anchors": {
                "tutorial_published_mae": anchor("stallion_tutorial_mae"),
                "baseline_mae": anchor("stallion_baseline_mae"),
            },
        },
    )


if __name__ == "__main__":
    main()
