"""Published and previously measured numbers the results JSON cannot hold, each with its source.

Copied from the project's anchors file; the sections and the targets read them from here only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Anchor:
    value: Any
    source: str


ANCHORS: dict[str, Anchor] = {
    "informer_paper_etth1": Anchor(
        {  # horizon: {model: (MSE, MAE)}
            24: {"Informer": (0.577, 0.549), "LogTrans": (0.686, 0.604), "LSTMa": (0.650, 0.624)},
            48: {"Informer": (0.685, 0.625), "LogTrans": (0.766, 0.757), "LSTMa": (0.702, 0.675)},
            168: {"Informer": (0.931, 0.752), "LogTrans": (1.002, 0.846), "LSTMa": (1.212, 0.867)},
            336: {"Informer": (1.128, 0.873), "LogTrans": (1.362, 0.952), "LSTMa": (1.424, 0.994)},
            720: {"Informer": (1.215, 0.896), "LogTrans": (1.397, 1.291), "LSTMa": (1.960, 1.322)},
        },
        "Informer paper (AAAI 2021), Table 2 as updated in the official repository: ETTh1, "
        "multivariate M, test MSE / MAE",
    ),
    "official_etth1_here": Anchor(
        (0.548, 0.554),
        "the official Informer code at the paper's size, ETTh1 M/24, input 48, factor 3, "
        "fp32, on this kind of machine: test MSE / MAE, stopped early after epoch 4",
    ),
    "official_windows_per_s": Anchor(
        40.0,
        "the same run of the official code: training windows/s, fp32, batch 32, 2 threads "
        "(not side by side with ours)",
    ),
    "official_gflop_per_window": Anchor(
        3.28,
        "the official code at the paper's size: training GFLOP per window (PyTorch's FLOP "
        "counter, forward + backward)",
    ),
    "matmul_peak_gflop_per_s_2_threads": Anchor(
        {"fp32": 124, "bf16": 500},
        "matrix-multiply peak on this kind of machine, 2048² median of 10, 2 threads",
    ),
    "stallion_tutorial_mae": Anchor(
        262.16, "pytorch-forecasting's TFT tutorial (jdb78 notebook, 2024): validation MAE"
    ),
    "stallion_workshop_mae": Anchor(267.28, "the seed workshop's CPU run: validation MAE"),
    "stallion_baseline_mae": Anchor(
        293.01, "baseline, repeat the last value (the tutorial): validation MAE"
    ),
}


def anchor(name: str) -> Any:
    """The value of the anchor ``name``."""
    return ANCHORS[name].value


def paper_informer(horizon: int = 24) -> tuple[float, float]:
    """The Informer paper's ETTh1 M MSE / MAE at ``horizon``."""
    return anchor("informer_paper_etth1")[horizon]["Informer"]
