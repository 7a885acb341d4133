"""Per-family defaults of the shared training flags, in a module light enough for the pipeline
builder (CDK imports it at synth time without torch)."""

from __future__ import annotations

from typing import Any

# Shared flags whose good values differ by family (the TFT's are the Stallion tutorial's).
FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    # The weight average beat plain weights on ETTh1 M/24's validation MSE for 4 of 5 seeds, the
    # fifth a tie (median 0.535 against 0.545: the seed study in docs/benchmarks.md)
    "informer": {"batch_size": 32, "learning_rate": 1e-3, "gradient_clip": None,
                 "max_epochs": 10, "patience": 3, "limit_train_batches": 0, "ema_decay": 0.99},
    # Full epochs at lr 0.01 beat the tutorial's 50 batches at 0.03 on Stallion's validation
    # MAE (255-267 over 3 seeds against 269; see benchmarks/tft_stallion.py)
    "tft": {"batch_size": 128, "learning_rate": 0.01, "gradient_clip": 0.1,
            "max_epochs": 30, "patience": 10, "limit_train_batches": 0, "ema_decay": 0.0},
}  # fmt: skip

# The input length (encoder) and horizon of each family when preprocess is given none. Preprocess
# records the ones it used in preprocessing.json, and training reads them from there: one value
# per run, set once, at preprocess.
WINDOW_DEFAULTS: dict[str, dict[str, int]] = {
    "informer": {"seq_len": 96, "pred_len": 24},
    "tft": {"seq_len": 24, "pred_len": 6},
}
# The Informer's decoder start token: this many known steps, or the whole input if it is shorter.
LABEL_LEN = 48
