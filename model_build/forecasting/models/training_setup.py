"""What the train step needs from a model family, so one entry point trains every family."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader

from forecasting.contracts import ModelConfig


@dataclass
class TrainingSetup:
    module: pl.LightningModule
    train_loader: DataLoader[Any]
    val_loader: DataLoader[Any]
    # The architecture in plain types: checkpoints carry it and resume compares it.
    hparams: dict[str, Any]
    # The artifact's "model" section; `network` is what its weights file holds.
    model_config: ModelConfig
    network: torch.nn.Module
    # Another freshly initialised module and its network, for each further ensemble member
    # (the loaders are shared: the windows are built once).
    build_member: Callable[[], tuple[pl.LightningModule, torch.nn.Module]]
    train_windows: int
    gradient_clip: float | None = None
    summary: dict[str, Any] = field(default_factory=dict)  # family-specific facts for the log
