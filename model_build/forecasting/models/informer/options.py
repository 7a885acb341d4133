"""The Informer's own train flags and the typed options its training reads. Light: the train
step's parser and the pipeline builder read the flags without torch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from forecasting.errors import ConfigError
from forecasting.models.family import TrainFlag, TrainOptions
from forecasting.models.informer import defaults

TITLE = (
    "Informer. Defaults: our small configuration, tuned on ETTh1's validation split; "
    f"the paper's is {' '.join(defaults.PAPER_ARGUMENTS)}"
)
_ARCH = defaults.ARCHITECTURE
FLAGS: tuple[TrainFlag, ...] = (
    TrainFlag(
        "label_len",
        int,
        help=f"decoder start-token length ({defaults.LABEL_LEN}, or seq-len if shorter)",
    ),
    *(
        TrainFlag(name, int, _ARCH[name])
        for name in ("d_model", "n_heads", "e_layers", "d_layers", "d_ff")
    ),
    TrainFlag("factor", int, _ARCH["factor"], help="ProbSparse factor c"),
    TrainFlag("attention", str, _ARCH["attention"], choices=("prob", "full")),
    TrainFlag("activation", str, _ARCH["activation"], choices=("gelu", "relu")),
    TrainFlag("distil", bool, _ARCH["distil"], help="self-attention distilling"),
    TrainFlag("mix", bool, _ARCH["mix"], help="mix heads in decoder attention"),
    TrainFlag("revin", bool, _ARCH["revin"], help="reversible instance norm"),
    TrainFlag("lr_decay", float, defaults.LR_DECAY, help="lr factor per epoch"),
)


@dataclass(frozen=True)
class InformerOptions(TrainOptions):
    """What Informer training reads from the train step's flags."""

    seq_len: int
    label_len: int  # completed from seq_len when not given
    pred_len: int
    lr_decay: float
    factor: int
    d_model: int
    n_heads: int
    e_layers: int
    d_layers: int
    d_ff: int
    attention: str
    activation: str
    distil: bool
    mix: bool
    revin: bool


def check(flags: Mapping[str, Any]) -> None:
    label_len, seq_len = flags["label_len"], flags["seq_len"]
    if label_len is not None and label_len < 0:
        raise ConfigError(f"label_len must be at least 0, got {label_len}")
    if label_len is not None and seq_len is not None and label_len > seq_len:
        raise ConfigError(f"label_len {label_len} must not exceed seq_len {seq_len}")
    if flags["d_model"] % flags["n_heads"]:
        raise ConfigError(
            f"d_model {flags['d_model']} must be divisible by n_heads {flags['n_heads']}"
        )


def options(flags: Mapping[str, Any]) -> InformerOptions:
    check(flags)
    label_len = flags["label_len"]
    if label_len is None:
        label_len = min(defaults.LABEL_LEN, flags["seq_len"])
    return InformerOptions.from_flags({**flags, "label_len": label_len})
