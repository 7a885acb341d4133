"""TFT training on Stallion: our path against neuralforecast's TFT, one thread each, side by side.

All train on the real Stallion file's 350 series (agency x sku, monthly, target ``volume``) up
to the tutorial's cutoff (the last 6 months held out): encoder/input 24 months, horizon 6,
hidden 16, 2 heads, dropout 0.1, Adam lr 0.03, gradient-norm clip 0.1, 128 windows per step,
the 7 quantiles 0.02-0.98 as loss, for a fixed 300 steps (6 epoch-equivalents of 50 steps; no
early stopping), one thread each (``OMP_NUM_THREADS=1`` and ``torch.set_num_threads(1)``),
seed 42 + round (so the MAE range shows seed noise). Each run is its own process, so its peak
RSS (``ru_maxrss`` of the child) is its own:

* ``ours``: preprocess once (``--split tutorial``), then the train entry point
  (``forecasting.steps.train``, 1 process, in a child that also keeps the final weights) with
  ``tft_stallion.py``'s tutorial flags (hidden-continuous 8, 50 batches per epoch,
  reduce-on-plateau 4) and ``--max-epochs 6 --threads-per-process 1``; rate = windows/s of the
  training part of epochs 2-6 (epoch 1 warms up), data loading included, validation excluded;
* ``neuralforecast``: ``neuralforecast.models.TFT`` through ``NeuralForecast.fit`` in the
  peer's own Python (``--peer-python``), covariates as in ``PEER_COVARIATES`` (no series
  identity), ``batch_size=350`` series with ``windows_batch_size=128`` (each step draws 128 of
  all series' windows, as our shuffled loader does), ``MQLoss`` on the same quantiles, its
  default ``robust`` per-window scaler, ``max_steps=300``, no validation set; rate = windows/s
  from one step start to the next over steps 51-300 (window sampling and scaling included);
* ``neuralforecast-onehot``: the same plus the series' identity as one-hot static columns
  (58 agencies + 25 SKUs), the closest it has to our agency and sku embeddings.

Validation MAE: the median (p50) forecast of the 6 months after the cutoff for each series
(2,100 points) against the actual volume, original scale: the tutorial's validation. All are
scored on the weights after step 300; ours also on its best epoch by validation loss (what our
train step ships; under the tutorial protocol that is chosen on the same 6 months, so it is
optimistic). Variants interleave for ``--repeats`` rounds; each figure is the median over
rounds, with the range.

    python benchmarks/tft_peer.py --peer-python /tmp/nf/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from child import run_measured
from tft_peer_neuralforecast import (
    CLIP,
    DROPOUT,
    ENCODER,
    HEADS,
    HIDDEN,
    HORIZON,
    LR,
    ONE_THREAD,
    PEER_COVARIATES,
    PEER_STATIC,
    QUANTILES,
    peer_frames,
    run_peer,
)

EPOCHS = 6
VARIANTS = ("ours", "neuralforecast", "neuralforecast-onehot")
NOT_GIVEN_TO_PEER = (
    "agency and sku identities in `neuralforecast` (ours: static categorical embeddings; "
    "`neuralforecast-onehot` has them as one-hot columns)",
    "encoder_length (ours: static real; neuralforecast trains on full 24-month inputs only)",
)
OURS_WORKER = "--ours-worker"


# --- ours -------------------------------------------------------------------------------------


def ours_flags(seed: int) -> list[str]:
    from tft_stallion import VARIANTS as STALLION_VARIANTS

    more = ["--threads-per-process", "1", "--max-epochs", str(EPOCHS), "--seed", str(seed)]
    return [*STALLION_VARIANTS["ours"], *more]  # the later --seed wins


def run_ours(channels: Path, work: Path, windows_per_epoch: int, seed: int) -> dict[str, Any]:
    command = [
        sys.executable, __file__, OURS_WORKER, str(work / "final.pt"), "--model", "tft",
        "--train", str(channels / "train"), "--validation", str(channels / "validation"),
        "--model-dir", str(work / "model"), "--output-data-dir", str(work / "output"),
        "--checkpoint-dir", str(work / "checkpoints"), "--progress-bar", "false", *ours_flags(seed),
    ]  # fmt: skip
    seconds, rss = run_measured(command, {**os.environ, **ONE_THREAD})
    summary = json.loads((work / "output" / "training_summary.json").read_text())
    rates = summary["train_windows_per_second"][1:]  # epoch 1 warms up
    timed = sum(windows_per_epoch / r for r in rates)
    return {
        "windows_per_s": len(rates) * windows_per_epoch / timed,
        "steps": summary["global_steps"],
        "train_windows": summary["train_windows"],
        "peak_rss_mib": rss,
        "process_seconds": seconds,
        **score_ours(channels, work),
    }


def ours_worker(final: Path, argv: list[str]) -> None:
    """The train entry point in this process, plus a callback that keeps the final weights.

    The train step ships the best epoch, and its ``last.ckpt`` is only rewritten when the best
    is, so neither holds the weights after the last step, which is what the peer is scored on.
    """
    import lightning.pytorch as pl
    import torch

    from forecasting.steps import train
    from forecasting.steps.arguments import run_step

    class FinalWeights(pl.Callback):
        def on_train_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
            torch.save(module.state_dict(), final)

    build = train.build_trainer

    def build_trainer(*args: Any, **kwargs: Any) -> pl.Trainer:
        trainer = build(*args, **kwargs)
        trainer.callbacks.append(FinalWeights())
        return trainer

    train.build_trainer = build_trainer
    run_step(train.main, argv)


def score_ours(channels: Path, work: Path) -> dict[str, Any]:
    """MAE of the shipped (best-epoch) model and of the weights after the last step."""
    import matplotlib.pyplot as plt
    import torch

    from forecasting import artifact
    from forecasting.channels import read_channel
    from forecasting.models.tft.evaluation import evaluate_split
    from forecasting.models.tft.preprocessing import read_config

    model, config = artifact.load(work / "model")
    test = read_channel(channels / "test")

    def mae() -> float:
        report = evaluate_split(model, test.frame, read_config(config)).report
        plt.close("all")  # evaluate_split draws the interpretation figures
        return report["regression_metrics"]["mae"]["value"]

    best = mae()
    best_epoch = torch.load(work / "checkpoints" / "best.ckpt", map_location="cpu")["epoch"]
    model.load_state_dict(torch.load(work / "final.pt", map_location="cpu", weights_only=True))
    model.eval()
    return {
        "mae": mae(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "mae_best_epoch": best,
        "best_epoch": best_epoch + 1,  # Lightning counts from 0
        "variables": {
            "static": list(model.static_variables),
            "encoder": list(model.encoder_variables),
            "decoder": list(model.decoder_variables),
        },
    }


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    if sys.argv[1:2] == [OURS_WORKER]:
        ours_worker(Path(sys.argv[2]), sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-python", help="a Python with neuralforecast (/tmp/nf/bin/python)")
    parser.add_argument("--data", type=Path, help="stallion.parquet (default: the shared file)")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if set(PEER_STATIC) & set(args.variants) and not args.peer_python:
        parser.error("--peer-python is needed for the neuralforecast variant")

    from machine import print_table, spread, write_result
    from tft_stallion import BATCH_SIZE, BATCHES_PER_EPOCH, SEED, SHARED_STALLION

    from forecasting.models.tft.module import QUANTILES as OUR_QUANTILES
    from forecasting.steps import preprocess

    assert tuple(OUR_QUANTILES) == QUANTILES
    data = args.data or SHARED_STALLION
    steps, warmup = EPOCHS * BATCHES_PER_EPOCH, BATCHES_PER_EPOCH
    raw: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        channels, frames = Path(scratch) / "channels", Path(scratch) / "peer"
        preprocess.main(["--model", "tft", "--dataset", "stallion", "--data", str(data),
                         "--split", "tutorial", "--target-normalizer", "group",
                         "--output-dir", str(channels)])  # fmt: skip
        peer_frames(data, frames)
        for round_ in range(args.repeats):
            for variant in args.variants:
                seed = SEED + round_
                if variant == "ours":
                    work = Path(scratch) / f"ours-{round_}"
                    point = run_ours(channels, work, BATCHES_PER_EPOCH * BATCH_SIZE, seed)
                else:
                    static = PEER_STATIC[variant]
                    point = run_peer(
                        args.peer_python, frames, static, steps, warmup, BATCH_SIZE, seed
                    )
                point["seed"] = seed
                if point["steps"] != steps:
                    raise RuntimeError(f"{variant} ran {point['steps']} steps, not {steps}")
                raw.setdefault(variant, []).append(point)
                print(f"round {round_} {variant}: {point}", flush=True)

    peer = raw.get("neuralforecast")
    peer_rate = spread([p["windows_per_s"] for p in peer])["median"] if peer else None
    peer_rss = spread([p["peak_rss_mib"] for p in peer])["median"] if peer else None
    rows = []
    for variant in args.variants:
        points = raw[variant]
        rate = spread([p["windows_per_s"] for p in points])
        rss = spread([p["peak_rss_mib"] for p in points])
        mae = spread([p["mae"] for p in points])
        best = [p["mae_best_epoch"] for p in points if "mae_best_epoch" in p]
        rows.append(
            {
                "variant": variant,
                "windows_per_s": rate["median"],
                "min": rate["min"],
                "max": rate["max"],
                "epoch_s": BATCHES_PER_EPOCH * BATCH_SIZE / rate["median"],
                "vs_neuralforecast": rate["median"] / peer_rate if peer_rate else None,
                "peak_rss_mib": rss["median"],
                "rss_min": rss["min"],
                "rss_max": rss["max"],
                "rss_vs_neuralforecast": rss["median"] / peer_rss if peer_rss else None,
                "mae": mae["median"],
                "mae_min": mae["min"],
                "mae_max": mae["max"],
                "mae_best_epoch": spread(best)["median"] if best else None,
                "process_s": spread([p["process_seconds"] for p in points])["median"],
                "runs": points,
            }
        )
    print_table(rows, ["variant", "windows_per_s", "min", "max", "epoch_s", "vs_neuralforecast",
                       "peak_rss_mib", "rss_vs_neuralforecast", "mae", "mae_min", "mae_max",
                       "mae_best_epoch", "process_s"])  # fmt: skip
    peer_versions = None
    if args.peer_python:
        peer_versions = subprocess.run(
            [args.peer_python, "-c", "import neuralforecast, torch; "
             "print(neuralforecast.__version__, torch.__version__)"],
            capture_output=True, text=True, check=False,
        ).stdout.strip()  # fmt: skip
    write_result(
        "tft_peer",
        {
            "data": str(data),
            "setup": __doc__.split("\n\n", 1)[1].rsplit("\n\n", 1)[0],
            "peer": {"python": args.peer_python, "neuralforecast_torch": peer_versions},
            "config": {
                "encoder": ENCODER,
                "horizon": HORIZON,
                "hidden": HIDDEN,
                "heads": HEADS,
                "dropout": DROPOUT,
                "learning_rate": LR,
                "gradient_clip": CLIP,
                "windows_per_step": BATCH_SIZE,
                "steps": steps,
                "warmup_steps": warmup,
                "epoch_equivalent_steps": BATCHES_PER_EPOCH,
                "quantiles": list(QUANTILES),
                "seeds": [SEED + r for r in range(args.repeats)],
                "ours_flags": ours_flags(SEED),
            },
            "peer_covariates": PEER_COVARIATES,
            "not_given_to_peer": list(NOT_GIVEN_TO_PEER),
            "repeats": args.repeats,
            "rows": rows,
            "command": "python benchmarks/tft_peer.py --peer-python /tmp/nf/bin/python",
        },
    )


if __name__ == "__main__":
    main()
