"""The Temporal Fusion Transformer's defaults, in one home: the train step's flags, preprocess's
window, the pipeline's gate, the README's table and the tests read them from here.

Light on purpose: the pipeline builder imports it at synth time, without torch.
"""

from __future__ import annotations

from typing import Any

# The encoder length and horizon when preprocess is given none (the Stallion tutorial's).
WINDOWS: dict[str, int] = {"seq_len": 24, "pred_len": 6}
# The shared training flags. Whole epochs at a lower learning rate than the tutorial's 50 batches
# at 0.03: they reached a lower validation MAE on Stallion (benchmarks/tft_stallion.py).
FIT: dict[str, Any] = {
    "batch_size": 128, "learning_rate": 0.01, "gradient_clip": 0.1, "max_epochs": 30,
    "patience": 10, "limit_train_batches": 0, "ema_decay": 0.0,
}  # fmt: skip
# Twice the tutorial's widths: a lower validation MAE on Stallion across seeds at about the same
# time per epoch on a CPU, whose step is memory-bound at either width (the results page).
ARCHITECTURE: dict[str, Any] = {
    "hidden_size": 32, "attention_head_size": 2, "hidden_continuous_size": 16, "lstm_layers": 1,
}  # fmt: skip
REDUCE_ON_PLATEAU_PATIENCE = 4  # epochs without improvement, then the learning rate / 10
# The gate when none is given. The TFT's errors are in target units, so the default is the
# scale-free q-risk at the median (sum |error| / sum |y|).
DEFAULT_GATE: tuple[str, float] = ("q_risk_p50", 0.5)
# What evaluation.json's regression_metrics holds (every one an error: lower is better).
METRICS: tuple[str, ...] = (
    "mse", "mae", "rmse", "mape", "smape", "quantile_loss", "q_risk_p50", "q_risk_p90",
)  # fmt: skip
# The metrics `local_mode models` shows in its table.
TABLE_METRICS: tuple[str, ...] = ("mae", "q_risk_p50")
# Train flags for a network small enough for a unit test to train in seconds.
TINY_ARGUMENTS: tuple[str, ...] = (
    "--model", "tft", "--hidden-size", "8", "--attention-head-size", "2",
    "--hidden-continuous-size", "4", "--batch-size", "32", "--threads-per-process", "1",
    "--progress-bar", "false",
)  # fmt: skip
# The split protocols of a panel (see dataset.Cutoffs) and the target normalizers: encoder scales
# each window by its own history (the default: a lower validation MAE on Stallion), group each
# series by its training mean (the tutorial's).
PROTOCOLS = ("holdout", "tutorial")
TARGET_NORMALIZERS = ("encoder", "group")
# The column roles of a panel, each a preprocess flag.
PANEL_ROLES = (
    "static_categoricals", "static_reals", "known_categoricals", "known_reals",
    "unknown_categoricals", "unknown_reals",
)  # fmt: skip
