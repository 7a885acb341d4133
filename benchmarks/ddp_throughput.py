"""Informer training throughput (windows/s) for one process against DDP, through the real step.

Every layout runs the training entry point as SageMaker would start it, on the ETTh1 channels,
for a fixed number of batches per epoch; the first epoch is warm-up and is not counted. Two
scalings, both against one rank with the whole batch:

* strong: the global batch stays 32, split across ranks, so training is unchanged and each
  rank's step does half the work (what a user switching to 2 ranks gets as is);
* weak: each rank keeps 32 windows (global batch 64), the convention of DDP scaling studies
  (each device's step unchanged), and what a user gets who scales the batch with the ranks.

The peer that bounds both is ``2 independent runs x 1 thread``: two single-process trainings
started together that never communicate, their windows/s summed. No DDP run can beat it: it is
what this machine's two cores give two copies of the step (shared memory bandwidth and caches,
and whatever else a virtual machine's cores share). A second peer bounds strong scaling alone:
one rank with half the batch (``half batch``), the step each rank of a strong-scaling run takes.
Two ranks splitting the batch can reach at most twice its rate, communication aside.

Runs are interleaved: each round runs every layout once, so a slow spell on the shared machine
falls on all layouts alike instead of on one.

    python benchmarks/ddp_throughput.py --sizes default paper --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from informer_etth1 import CONFIGS, SHARED_ETTH1
from machine import print_table, spread, write_result

from forecasting.steps import preprocess

BATCH = 32  # the Informer's default global batch
# (name, processes per host, threads per process, simulated hosts, scaling)
LAYOUTS = [
    ("1 rank x 1 thread", 1, 1, 1, "strong"),
    ("1 rank x 1 thread", 1, 1, 1, "half batch"),
    ("1 rank x 2 threads", 1, 2, 1, "strong"),
    ("2 ranks x 1 thread", 2, 1, 1, "strong"),
    ("2 hosts x 1 rank x 1 thread", 1, 1, 2, "strong"),
    ("2 ranks x 1 thread", 2, 1, 1, "weak"),
    ("2 hosts x 1 rank x 1 thread", 1, 1, 2, "weak"),
    ("2 independent runs x 1 thread", 1, 1, 2, "independent"),
]


def global_batch(layout: tuple[str, int, int, int, str]) -> int:
    """The --batch-size each run gets (independent runs are one-rank runs side by side)."""
    _, per_host, _, hosts, scaling = layout
    if scaling == "half batch":
        return BATCH // 2
    return BATCH * per_host * hosts if scaling == "weak" else BATCH


def label(layout: tuple[str, int, int, int, str]) -> str:
    return f"{layout[0]} ({layout[4]})"


def batch_per_rank(layout: tuple[str, int, int, int, str]) -> int:
    _, per_host, _, hosts, scaling = layout
    ranks = per_host * (1 if scaling == "independent" else hosts)
    return global_batch(layout) // ranks


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_layout(
    channels: Path,
    work: Path,
    size: str,
    layout: tuple[str, int, int, int, str],
    batches: int,
) -> float:
    """Median windows/s over the timed epochs of one training run (summed over independent
    runs)."""
    _, per_host, threads, hosts, scaling = layout
    names = [f"algo-{i + 1}" for i in range(hosts)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    if hosts > 1 and scaling != "independent":
        env |= {"SM_HOSTS": json.dumps(names), "MASTER_ADDR": "127.0.0.1"}
        env["MASTER_PORT"] = str(free_port())
    processes = []
    for name in names:
        args = [
            "--train", str(channels / "train"), "--validation", str(channels / "validation"),
            "--model-dir", str(work / name / "model"),
            "--output-data-dir", str(work / name / "output"),
            "--checkpoint-dir", str(work / name / "checkpoints"),
            "--processes-per-host", str(per_host), "--threads-per-process", str(threads),
            "--limit-train-batches", str(batches), "--limit-val-batches", "2",
            "--max-epochs", "3", "--patience", "10", "--batch-size", str(global_batch(layout)),
            "--progress-bar", "false", *CONFIGS[size],
        ]  # fmt: skip
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "forecasting.steps.train", *args],
                env={**env, "SM_CURRENT_HOST": name},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    with ThreadPoolExecutor(len(processes)) as pool:  # drain every host's pipe at once
        errors = list(pool.map(lambda p: p.communicate()[1], processes))
    for process, err in zip(processes, errors, strict=True):
        if process.returncode:
            raise RuntimeError(err[-3000:])
    reporting = names if scaling == "independent" else names[:1]
    rates = []
    for name in reporting:
        summary = json.loads((work / name / "output" / "training_summary.json").read_text())
        timed = summary["train_windows_per_second"][1:]  # epoch 0 warms up allocators, threads
        rates.append(sorted(timed)[len(timed) // 2])
    return sum(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_ETTH1)
    parser.add_argument("--sizes", nargs="+", choices=sorted(CONFIGS), default=["default"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", type=int, default=40, help="training batches per epoch")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch:
        channels = Path(scratch) / "channels"
        preprocess.main(["--data", str(args.data), "--split", "ett", "--output-dir", str(channels)])
        for size in args.sizes:
            batches = args.batches if size == "default" else max(4, args.batches // 8)
            runs: dict[str, list[float]] = {}
            for round_ in range(args.repeats):  # interleaved: every layout once per round
                for layout in LAYOUTS:
                    work = Path(scratch) / size / f"{round_} {label(layout)}"
                    rate = run_layout(channels, work, size, layout, batches)
                    runs.setdefault(label(layout), []).append(rate)
                    print(f"round {round_} {size} {label(layout)}: {rate:.1f}", flush=True)
            baseline = spread(runs[label(LAYOUTS[0])])["median"]
            for layout in LAYOUTS:
                stats = spread(runs[label(layout)])
                rows.append(
                    {
                        "size": size,
                        "layout": layout[0],
                        "scaling": layout[4],
                        "batch_per_rank": batch_per_rank(layout),
                        "windows_per_s": stats["median"],
                        "min": stats["min"],
                        "max": stats["max"],
                        "vs_1x1": stats["median"] / baseline,
                        "runs": runs[label(layout)],
                    }
                )
    print_table(rows, ["size", "layout", "scaling", "windows_per_s", "min", "max", "vs_1x1"])
    write_result(
        "ddp_throughput",
        {"batches_per_epoch": {"default": args.batches, "paper": max(4, args.batches // 8)},
         "global_batch": BATCH, "rows": rows},
    )  # fmt: skip


if __name__ == "__main__":
    main()
