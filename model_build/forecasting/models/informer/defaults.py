"""The Informer's defaults, in one home: the train step's flags, preprocess's window, the
pipeline's gate, the README's table and the tests read them from here.

Light on purpose: the pipeline builder imports it at synth time, without torch.
"""

from __future__ import annotations

from typing import Any

# The input length and horizon when preprocess is given none; preprocess records the ones it
# used and training reads them from there.
WINDOWS: dict[str, int] = {"seq_len": 96, "pred_len": 24}
# The decoder's start token: this many known steps, or the whole input if it is shorter.
LABEL_LEN = 48
# The shared training flags. The exponential moving average of the weights is on because it gave
# a lower validation MSE than the plain weights across seeds (the seed study on the results page).
FIT: dict[str, Any] = {
    "batch_size": 32, "learning_rate": 1e-3, "gradient_clip": None, "max_epochs": 10,
    "patience": 3, "limit_train_batches": 0, "ema_decay": 0.99,
}  # fmt: skip
# Our small configuration, tuned on ETTh1's validation split (the results page has the numbers).
ARCHITECTURE: dict[str, Any] = {
    "d_model": 64, "n_heads": 4, "e_layers": 2, "d_layers": 1, "d_ff": 128, "factor": 5,
    "attention": "full", "activation": "gelu", "distil": True, "mix": True, "revin": True,
}  # fmt: skip
LR_DECAY = 0.8  # the learning rate's factor per epoch
# The paper's model and optimisation (its ETT settings), as train flags over the defaults above.
PAPER_ARGUMENTS = (
    "--d-model", "512", "--n-heads", "8", "--d-ff", "2048", "--attention", "prob",
    "--revin", "false", "--dropout", "0.05", "--learning-rate", "1e-4", "--lr-decay", "0.5",
    "--max-epochs", "6", "--patience", "3", "--ema-decay", "0",
)  # fmt: skip
# The gate when none is given: MSE on the standardised scale, which every published ETT table
# reports, so one threshold fits any data set.
DEFAULT_GATE: tuple[str, float] = ("mse", 0.6)
# What evaluation.json's regression_metrics holds (every one an error: lower is better).
METRICS: tuple[str, ...] = ("mse", "mae", "rmse", "mape", "smape")
# The metrics `local_mode models` shows in its table.
TABLE_METRICS: tuple[str, ...] = ("mse", "mae")
# Train flags for a network small enough for a unit test to train in seconds.
TINY_ARGUMENTS: tuple[str, ...] = (
    "--seq-len", "16", "--label-len", "8", "--pred-len", "4",
    "--d-model", "16", "--n-heads", "2", "--d-ff", "32", "--factor", "3",
    "--batch-size", "16", "--progress-bar", "false", "--threads-per-process", "1",
)  # fmt: skip
