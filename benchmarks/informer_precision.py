"""Informer at the paper's size, fp32 against bf16 autocast: windows/s and model FLOP utilisation.

The official code's configuration for ETTh1 M at horizon 24 (d_model 512, 8 heads, d_ff 2048,
2 encoder + 1 decoder layers, ProbSparse with factor 3, input 48, start token 48, batch 32),
trained through our training entry point (``forecasting.steps.train``, the code SageMaker runs)
with ``--precision 32`` and ``--precision bf16-mixed`` (Lightning's autocast), one rank with
``--threads`` threads, on the ETTh1 channels. Rate = windows/s of the training part of each
epoch after the first.

Model FLOP utilisation (MFU) = the FLOP/s the step achieves, counted as the training FLOPs per
window (PyTorch's FLOP counter over one forward + backward at batch 32: matrix multiplies,
convolutions and attention; the same count the anchors give for the official code) x windows/s,
divided by the matrix-multiply peak of the same precision on the same threads, measured in the
same run: the median GFLOP/s of 10 multiplies of two 2048 x 2048 matrices, in a fresh process.

Each round runs every precision and both peaks once (interleaved); figures are medians over the
rounds, with the range. The official code's 40 windows/s (fp32, same configuration and threads,
this kind of machine) is from ../shared/anchors.md, not this run: ratios against it are across
runs.

    python benchmarks/informer_precision.py
    python benchmarks/informer_precision.py --quick   # fewer batches, one round: *_quick.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from informer_etth1 import SHARED_ETTH1
from machine import print_table, spread, write_result
from page.anchors import anchor

from forecasting.models.informer.defaults import PAPER_ARGUMENTS
from forecasting.steps import preprocess, train

OFFICIAL = ("--seq-len", "48", "--label-len", "48", "--pred-len", "24", "--factor", "3")
OFFICIAL_WINDOWS_PER_S = anchor("official_windows_per_s")  # not this run
BATCH = 32
PRECISIONS = {"32": "float32", "bf16-mixed": "bfloat16"}
COMMAND = "python benchmarks/informer_precision.py"


def matmul_peak(dtype: str, threads: int, size: int = 2048, repeats: int = 10) -> float:
    """Median GFLOP/s of ``size``² matrix multiplies in ``dtype``, in this process."""
    import torch

    torch.set_num_threads(threads)
    a, b = (torch.randn(size, size).to(getattr(torch, dtype)) for _ in range(2))
    for _ in range(3):
        a @ b
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        seconds.append(time.perf_counter() - started)
    return 2 * size**3 / statistics.median(seconds) / 1e9


def run_peak(dtype: str, threads: int) -> float:
    command = [sys.executable, __file__, "--peak-worker", dtype, "--threads", str(threads)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return float(out.stdout.strip().splitlines()[-1])


def train_arguments(
    channels: Path, work: Path, precision: str, threads: int, batches: int
) -> list[str]:
    return [
        "--train", str(channels / "train"), "--validation", str(channels / "validation"),
        "--model-dir", str(work / "model"), "--output-data-dir", str(work / "output"),
        "--checkpoint-dir", str(work / "checkpoints"),
        "--processes-per-host", "1", "--threads-per-process", str(threads),
        *PAPER_ARGUMENTS, *OFFICIAL, "--batch-size", str(BATCH), "--precision", precision,
        "--limit-train-batches", str(batches), "--limit-val-batches", "1",
        "--max-epochs", "3", "--patience", "10", "--progress-bar", "false",
    ]  # fmt: skip


def flops_per_window(channels: Path) -> float:
    """Training FLOPs (forward + backward) per window, by PyTorch's FLOP counter at batch 32."""
    import torch
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    from forecasting.channels import read_channel
    from forecasting.models.informer.forecaster import InformerForecaster
    from forecasting.models.informer.training import model_hparams

    args = train.parse_args(train_arguments(channels, channels, "32", 1, 1))  # parsed, not run
    channel = read_channel(args.train)
    options = train.training_options(args)
    module = InformerForecaster(**model_hparams(options, channel.informer)).train()
    windows = channel.windows(options.seq_len, options.label_len, options.pred_len)
    batch = next(iter(torch.utils.data.DataLoader(windows, batch_size=BATCH)))
    counter = FlopCounterMode(display=False)
    with counter:
        pred, target = module._predict_and_target(batch)
        F.mse_loss(pred, target).backward()
    return counter.get_total_flops() / BATCH


def run_training(channels: Path, work: Path, precision: str, threads: int, batches: int) -> float:
    """Median windows/s over the epochs after the first, through the training entry point."""
    command = [sys.executable, "-m", "forecasting.steps.train",
               *train_arguments(channels, work, precision, threads, batches)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    summary = json.loads((work / "output" / "training_summary.json").read_text())
    timed = summary["train_windows_per_second"][1:]  # epoch 0 warms up allocators, threads
    return statistics.median(timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_ETTH1)
    parser.add_argument("--threads", type=int, default=2, help="threads of the one rank")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--batches", type=int, default=12, help="training batches per epoch")
    parser.add_argument("--quick", action="store_true", help="4 batches, 1 round, *_quick.json")
    parser.add_argument("--peak-worker", choices=sorted(set(PRECISIONS.values())),
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args()
    if args.peak_worker:
        print(matmul_peak(args.peak_worker, args.threads))
        return
    if args.quick:
        args.batches, args.repeats = 4, 1

    rates: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    peaks: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    with tempfile.TemporaryDirectory() as scratch:
        channels = Path(scratch) / "channels"
        windows = [*OFFICIAL[:2], *OFFICIAL[4:6]]  # preprocess sets the input length, horizon
        preprocess.main(
            ["--data", str(args.data), "--split", "ett", *windows, "--output-dir", str(channels)]
        )
        flops = flops_per_window(channels)
        print(f"{flops / 1e9:.3f} GFLOP per training window", flush=True)
        for round_ in range(args.repeats):
            for precision, dtype in PRECISIONS.items():
                peaks[precision].append(run_peak(dtype, args.threads))
                work = Path(scratch) / f"{round_}-{precision}"
                rates[precision].append(
                    run_training(channels, work, precision, args.threads, args.batches)
                )
                print(f"round {round_} {precision}: {rates[precision][-1]:.2f} windows/s, "
                      f"peak {peaks[precision][-1]:.0f} GFLOP/s", flush=True)  # fmt: skip

    fp32 = statistics.median(rates["32"])
    rows = []
    for precision, dtype in PRECISIONS.items():
        rate, peak = spread(rates[precision]), spread(peaks[precision])
        achieved = rate["median"] * flops / 1e9
        rows.append(
            {
                "precision": precision,
                "windows_per_s": rate["median"],
                "min": rate["min"],
                "max": rate["max"],
                "gflop_per_s": achieved,
                "peak_gflop_per_s": peak["median"],
                "peak_min": peak["min"],
                "peak_max": peak["max"],
                "mfu": achieved / peak["median"],
                "vs_fp32": rate["median"] / fp32,
                "vs_official_fp32": rate["median"] / OFFICIAL_WINDOWS_PER_S,
                "runs": rates[precision],
                "peak_runs": peaks[precision],
                "dtype": dtype,
            }
        )
    print_table(rows, ["precision", "windows_per_s", "min", "max", "gflop_per_s",
                       "peak_gflop_per_s", "mfu", "vs_fp32", "vs_official_fp32"])  # fmt: skip
    write_result(
        "informer_precision" + ("_quick" if args.quick else ""),
        {
            "setup": __doc__.split("\n\n", 1)[1].rsplit("\n\n", 1)[0],
            "arguments": [*PAPER_ARGUMENTS, *OFFICIAL, "--batch-size", str(BATCH)],
            "threads": args.threads,
            "batches_per_epoch": args.batches,
            "repeats": args.repeats,
            "gflop_per_window": flops / 1e9,
            "official_windows_per_s": OFFICIAL_WINDOWS_PER_S,
            "rows": rows,
            "command": "python benchmarks/informer_precision.py"
            + (" --quick" if args.quick else ""),
        },
    )


if __name__ == "__main__":
    main()
