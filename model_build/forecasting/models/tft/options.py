"""The TFT's own train flags and the typed options its training reads. Light: the train step's
parser and the pipeline builder read the flags without torch or pytorch-forecasting."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from forecasting.errors import ConfigError
from forecasting.models.family import TrainFlag, TrainOptions
from forecasting.models.tft import defaults

TITLE = "Temporal Fusion Transformer (encoder length and horizon come from preprocess)"
FLAGS: tuple[TrainFlag, ...] = (
    *(
        TrainFlag(name, int, defaults.ARCHITECTURE[name])
        for name in ("hidden_size", "attention_head_size", "hidden_continuous_size", "lstm_layers")
    ),
    TrainFlag(
        "reduce_on_plateau_patience",
        int,
        defaults.REDUCE_ON_PLATEAU_PATIENCE,
        help="epochs, then lr/10",
    ),
    TrainFlag(
        "fast_data",
        bool,
        True,
        help="materialise windows once (false: pytorch-forecasting's per-sample loader)",
    ),
)


@dataclass(frozen=True)
class TFTOptions(TrainOptions):
    """What TFT training reads from the train step's flags (the windows come from preprocess)."""

    hidden_size: int
    attention_head_size: int
    hidden_continuous_size: int
    lstm_layers: int
    reduce_on_plateau_patience: int
    fast_data: bool


def check(flags: Mapping[str, Any]) -> None:
    if flags["hidden_size"] % flags["attention_head_size"]:
        raise ConfigError(
            f"hidden_size {flags['hidden_size']} must be divisible by attention_head_size "
            f"{flags['attention_head_size']}"
        )


def options(flags: Mapping[str, Any]) -> TFTOptions:
    check(flags)
    return TFTOptions.from_flags(flags)
