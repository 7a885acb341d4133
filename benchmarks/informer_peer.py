"""Informer training throughput: ours against neuralforecast's Informer, matched sizes, one thread.

Both train on ETTh1's training rows [0, 8640), standardised with the training-rows scaler, input
96, start token 48, horizon 24, 32 windows per optimiser step, MSE loss, Adam, one thread each
(``OMP_NUM_THREADS=1`` and ``torch.set_num_threads(1)``), each run in its own process so its
peak RSS (``ru_maxrss`` of the child) is its own:

* ``ours-prob`` / ``ours-full``: our training entry point (``forecasting.steps.train``, the code
  SageMaker runs) with ProbSparse or full encoder and decoder self-attention, 7 channels in and
  out; rate = windows per second of the training part of each epoch after the first;
* ``neuralforecast``: ``neuralforecast.models.Informer`` through ``NeuralForecast.fit`` in the
  peer's own Python (``--peer-python``; it needs neuralforecast and torch), ProbSparse
  everywhere (its only option); the 7 channels are 7 series of one channel each
  (``batch_size=7`` series, ``windows_batch_size=32`` windows per step, ``scaler_type
  identity`` on the already standardised values, no exogenous calendar features); rate = timed
  steps x 32 / their wall time (consecutive step starts, data sampling included), after
  ``WARMUP_STEPS``.

A neuralforecast window carries one channel, ours seven, at (almost) the same network cost: the
transformer sees d_model-wide tokens either way, only the embedding and projection widths
differ. To forecast all seven channels neuralforecast needs seven windows, so the table also
gives channel-windows per second.

Sizes: ``paper`` (d_model 512, 8 heads, d_ff 2048, 2 encoder + 1 decoder layers, factor 5,
dropout 0.05, no RevIN) and ``default`` (our defaults: d_model 64, 4 heads, d_ff 128, dropout
0.1, RevIN on our side). Variants interleave for ``--repeats`` rounds; each figure is the median
over rounds, with the range.

    python benchmarks/informer_peer.py --peer-python /tmp/nf/bin/python
    python benchmarks/informer_peer.py --peer-python /tmp/nf/bin/python --quick  # *_quick.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from child import run_measured

SHARED_ETTH1 = Path(__file__).resolve().parents[2] / "shared" / "data" / "ett" / "ETTh1.csv"
SEQ_LEN, LABEL_LEN, PRED_LEN, BATCH = 96, 48, 24, 32
TRAIN_ROWS = 8640  # Informer's Dataset_ETT_hour training border
WARMUP_STEPS = 3
CHANNELS = 7
SIZES: dict[str, dict[str, Any]] = {
    "paper": {"d_model": 512, "n_heads": 8, "d_ff": 2048, "dropout": 0.05, "revin": False},
    "default": {"d_model": 64, "n_heads": 4, "d_ff": 128, "dropout": 0.1, "revin": True},
}
VARIANTS = ("ours-prob", "ours-full", "neuralforecast")
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run_ours(channels: Path, work: Path, size: str, attention: str, steps: int) -> dict[str, Any]:
    cfg = SIZES[size]
    args = [
        "--train", str(channels / "train"), "--validation", str(channels / "validation"),
        "--model-dir", str(work / "model"), "--output-data-dir", str(work / "output"),
        "--checkpoint-dir", str(work / "checkpoints"),
        "--processes-per-host", "1", "--threads-per-process", "1",
        "--seq-len", str(SEQ_LEN), "--label-len", str(LABEL_LEN), "--pred-len", str(PRED_LEN),
        "--batch-size", str(BATCH), "--attention", attention, "--factor", "5",
        "--d-model", str(cfg["d_model"]), "--n-heads", str(cfg["n_heads"]),
        "--d-ff", str(cfg["d_ff"]), "--dropout", str(cfg["dropout"]),
        "--revin", str(cfg["revin"]).lower(), "--e-layers", "2", "--d-layers", "1",
        "--limit-train-batches", str(steps), "--limit-val-batches", "1",
        "--max-epochs", "2", "--patience", "10", "--progress-bar", "false",
    ]  # fmt: skip
    env = {**os.environ, **ONE_THREAD}
    _, rss = run_measured([sys.executable, "-m", "forecasting.steps.train", *args], env)
    summary = json.loads((work / "output" / "training_summary.json").read_text())
    rates = summary["train_windows_per_second"][1:]  # epoch 0 warms up
    return {"windows_per_s": sum(rates) / len(rates), "peak_rss_mib": rss}


def run_peer(python: str, train_csv: Path, size: str, steps: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [python, __file__, "--worker", size, "--steps", str(steps),
                   "--data", str(train_csv), "--out", out.name]  # fmt: skip
        with tempfile.TemporaryDirectory() as work:  # Lightning writes lightning_logs/ there
            _, rss = run_measured(command, {**os.environ, **ONE_THREAD}, cwd=work)
        result = json.loads(Path(out.name).read_text())
    return {**result, "peak_rss_mib": rss}


def peer_worker(size: str, steps: int, data: Path, out: Path) -> None:
    """In the peer's Python: neuralforecast's Informer, timed between consecutive step starts."""
    import pandas as pd
    import pytorch_lightning as pl
    import torch
    from neuralforecast import NeuralForecast
    from neuralforecast.losses.pytorch import MSE
    from neuralforecast.models import Informer

    torch.set_num_threads(1)
    cfg = SIZES[size]

    starts: list[float] = []  # not on the callback: neuralforecast fits a deep copy of it

    class StepTimer(pl.Callback):
        def on_train_batch_start(self, *args: Any) -> None:
            starts.append(time.perf_counter())

        def on_train_end(self, *args: Any) -> None:
            starts.append(time.perf_counter())

    timer = StepTimer()
    model = Informer(
        h=PRED_LEN, input_size=SEQ_LEN, decoder_input_size_multiplier=LABEL_LEN / SEQ_LEN,
        hidden_size=cfg["d_model"], n_head=cfg["n_heads"], conv_hidden_size=cfg["d_ff"],
        encoder_layers=2, decoder_layers=1, factor=5, dropout=cfg["dropout"], distil=True,
        loss=MSE(), batch_size=CHANNELS, windows_batch_size=BATCH, scaler_type="identity",
        max_steps=WARMUP_STEPS + steps, val_check_steps=WARMUP_STEPS + steps, random_seed=1,
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
        enable_model_summary=False, enable_checkpointing=False, callbacks=[timer],
    )  # fmt: skip
    frame = pd.read_csv(data, parse_dates=["ds"])
    NeuralForecast(models=[model], freq="h").fit(frame)
    timed = starts[WARMUP_STEPS:]
    seconds = timed[-1] - timed[0]
    out.write_text(json.dumps({"windows_per_s": (len(timed) - 1) * BATCH / seconds}))


def long_training_frame(source: Path, target: Path) -> None:
    """ETTh1 rows [0, 8640), standardised with their own statistics, as (unique_id, ds, y)."""
    import pandas as pd

    frame = pd.read_csv(source).iloc[:TRAIN_ROWS]
    values = frame.drop(columns=["date"])
    scaled = (values - values.mean()) / values.std(ddof=0)
    scaled.insert(0, "ds", pd.to_datetime(frame["date"]))
    scaled.melt(id_vars="ds", var_name="unique_id", value_name="y").to_csv(target, index=False)


def main() -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--peer-python", help="a Python with neuralforecast (e.g. /tmp/nf/bin/python)"
    )
    parser.add_argument("--data", type=Path, default=SHARED_ETTH1)
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="fewer timed steps per run")
    parser.add_argument("--worker", choices=list(SIZES), help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        peer_worker(args.worker, args.steps, args.data, args.out)
        return
    if "neuralforecast" in args.variants and not args.peer_python:
        parser.error("--peer-python is needed for the neuralforecast variant")

    from machine import print_table, spread, write_result

    from forecasting.steps import preprocess

    steps = {"paper": 3 if args.quick else 5, "default": 10 if args.quick else 20}
    raw: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        channels, train_csv = Path(scratch) / "channels", Path(scratch) / "etth1_train_long.csv"
        preprocess.main(["--data", str(args.data), "--split", "ett", "--output-dir", str(channels)])
        long_training_frame(args.data, train_csv)
        for round_ in range(args.repeats):
            for size in args.sizes:
                for variant in args.variants:
                    work = Path(scratch) / f"{round_}-{size}-{variant}"
                    if variant == "neuralforecast":
                        point = run_peer(args.peer_python, train_csv, size, steps[size])
                    else:
                        attention = variant.removeprefix("ours-")
                        point = run_ours(channels, work, size, attention, steps[size])
                    raw.setdefault((size, variant), []).append(point)
                    print(f"round {round_} {size} {variant}: {point}", flush=True)

    rows = []
    for size in args.sizes:
        peer = raw.get((size, "neuralforecast"))
        peer_rate = spread([p["windows_per_s"] for p in peer])["median"] if peer else None
        for variant in args.variants:
            points = raw[(size, variant)]
            rate = spread([p["windows_per_s"] for p in points])
            per_window = 1 if variant == "neuralforecast" else CHANNELS
            rows.append(
                {
                    "size": size,
                    "variant": variant,
                    "windows_per_s": rate["median"],
                    "min": rate["min"],
                    "max": rate["max"],
                    "channel_windows_per_s": rate["median"] * per_window,
                    "vs_neuralforecast": rate["median"] / peer_rate if peer_rate else None,
                    "peak_rss_mib": spread([p["peak_rss_mib"] for p in points])["median"],
                    "runs": points,
                }
            )
    print_table(rows, ["size", "variant", "windows_per_s", "min", "max",
                       "channel_windows_per_s", "vs_neuralforecast", "peak_rss_mib"])  # fmt: skip
    peer_versions = None
    if args.peer_python:
        peer_versions = subprocess.run(
            [args.peer_python, "-c", "import neuralforecast, torch; "
             "print(neuralforecast.__version__, torch.__version__)"],
            capture_output=True, text=True, check=False,
        ).stdout.strip()  # fmt: skip
    write_result(
        "informer_peer_quick" if args.quick else "informer_peer",
        {
            "setup": __doc__.split("\n\n", 1)[1].rsplit("\n\n", 1)[0],
            "peer": {"python": args.peer_python, "neuralforecast_torch": peer_versions},
            "steps_per_run": steps,
            "repeats": args.repeats,
            "sizes": {s: SIZES[s] for s in args.sizes},
            "rows": rows,
            "command": "python benchmarks/informer_peer.py --peer-python /tmp/nf/bin/python"
            + (" --quick" if args.quick else ""),
        },
    )


if __name__ == "__main__":
    main()
