"""Where a TFT training step's time goes on Stallion: loading a batch against computing on it.

An epoch of the tutorial is (loading + compute) per batch, ours is (our loading + the same
compute), so the compute bounds how much faster any data path can make an epoch. Measured on
the tutorial's data sets and network (hidden 16, batch 128), interleaved rounds, in one process:

* ``tutorial loader``: the next batch from ``TimeSeriesDataSet.to_dataloader`` (its
  ``__getitem__`` per sample and its collate);
* ``our loader``: the next batch from the materialised windows (``fast_loader``);
* ``model step``: forward, quantile loss, backward, gradient clipping and Adam on the same
  batches, with 1 and with 2 threads; with torch's default Adam (a loop over the parameter
  tensors, the tutorial's) and with its fused kernel (our training path's).

    python benchmarks/tft_step.py --data ../shared/data/stallion/stallion.parquet
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from machine import print_table, spread, write_result
from tft_stallion import BATCH_SIZE, SHARED_STALLION, tutorial_datasets

from forecasting.models.tft.windows import MaterializedWindows, fast_loader


def per_batch_ms(draw: Callable[[], Any], batches: int) -> float:
    started = time.perf_counter()
    for _ in range(batches):
        draw()
    return (time.perf_counter() - started) / batches * 1e3


def endless(loader: Any) -> Iterator[Any]:
    while True:
        yield from loader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_STALLION, help="stallion.parquet")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batches", type=int, default=20, help="batches per round")
    args = parser.parse_args()

    from pytorch_forecasting import TemporalFusionTransformer
    from pytorch_forecasting.metrics import QuantileLoss

    training, _ = tutorial_datasets(args.data)
    torch.manual_seed(42)
    tutorial_batches = endless(training.to_dataloader(train=True, batch_size=BATCH_SIZE))
    our_batches = endless(fast_loader(MaterializedWindows(training), BATCH_SIZE, train=True))
    fixed = [next(our_batches) for _ in range(args.batches)]

    def model_step(fused: bool) -> Callable[[], None]:
        torch.manual_seed(42)
        model = TemporalFusionTransformer.from_dataset(
            training, hidden_size=16, attention_head_size=2, dropout=0.1,
            hidden_continuous_size=8, loss=QuantileLoss(), logging_metrics=torch.nn.ModuleList(),
        )  # fmt: skip
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=0.03, fused=fused)
        position = iter(range(10**9))

        def step() -> None:
            x, y = fixed[next(position) % len(fixed)]
            loss = model.loss(model(x)["prediction"], y)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
            optimizer.step()

        return step

    step, fused_step = model_step(fused=False), model_step(fused=True)

    timed: dict[str, list[float]] = {}
    cases: list[tuple[str, Callable[[], Any], int]] = [
        ("tutorial loader", lambda: next(tutorial_batches), 1),
        ("our loader", lambda: next(our_batches), 1),
        ("model step, 1 thread", step, 1),
        ("model step, 2 threads", step, 2),
        ("model step, fused Adam, 1 thread", fused_step, 1),
        ("model step, fused Adam, 2 threads", fused_step, 2),
    ]
    for round_ in range(args.rounds + 1):  # round 0 warms up
        for name, draw, threads in cases:
            torch.set_num_threads(threads)
            ms = per_batch_ms(draw, args.batches)
            if round_:
                timed.setdefault(name, []).append(ms)

    rows = [{"part": name, **spread(values)} for name, values in timed.items()]
    medians = {name: statistics.median(values) for name, values in timed.items()}
    compute = min(medians["model step, 1 thread"], medians["model step, 2 threads"])
    fused = min(
        medians["model step, fused Adam, 1 thread"], medians["model step, fused Adam, 2 threads"]
    )
    ceiling = (medians["tutorial loader"] + compute) / (medians["our loader"] + compute)
    print_table(rows, ["part", "median", "min", "max"])
    print(f"epoch speed-up ceiling of a data path, with the faster model step: {ceiling:.2f}x")
    print(f"fused Adam: the faster model step {compute / fused:.2f}x as fast")
    write_result(
        "tft_step",
        {
            "unit": "ms per batch of 128 windows",
            "rounds": args.rounds,
            "batches_per_round": args.batches,
            "rows": rows,
            "data_path_ceiling": ceiling,
            "fused_adam_speedup": compute / fused,
        },
    )


if __name__ == "__main__":
    main()
