"""Lightning wrapper that trains the Informer on `WindowDataset` batches with the paper's
optimisation recipe (Adam, MSE, learning rate halved every epoch)."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities.types import OptimizerLRSchedulerConfig
from torch import Tensor

from forecasting.errors import ConfigError
from forecasting.models.informer.model import Informer, forecast_window

Batch = tuple[Tensor, Tensor, Tensor, Tensor]
LOSSES = {"mse": F.mse_loss, "mae": F.l1_loss}


class InformerForecaster(pl.LightningModule):
    """Informer + loss + optimiser.

    ``model_kwargs`` are `Informer`'s keyword arguments. Hyper-parameters are plain Python
    values (saved with `save_hyperparameters`), so checkpoints load with
    ``torch.load(path, weights_only=True)``. A batch is (x_enc, x_mark_enc, y, y_mark) with
    y [B,label_len+pred_len,C_out]; the target is its last ``pred_len`` steps.
    """

    def __init__(
        self,
        *,
        learning_rate: float = 1e-4,
        lr_decay: float = 0.5,
        loss: str = "mse",
        **model_kwargs: Any,
    ) -> None:
        super().__init__()
        if loss not in LOSSES:
            raise ConfigError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
        self.save_hyperparameters()
        self.model = Informer(**model_kwargs)
        self.loss_fn = LOSSES[loss]

    def forward(self, x_enc: Tensor, x_mark_enc: Tensor, y: Tensor, y_mark: Tensor) -> Tensor:
        """Forecast [B,pred_len,c_out]; only the start-token part of ``y`` is read."""
        return forecast_window(self.model, x_enc, x_mark_enc, y, y_mark)

    def _predict_and_target(self, batch: Batch) -> tuple[Tensor, Tensor]:
        x_enc, x_mark_enc, y, y_mark = batch[:4]
        # Losses in fp32 under mixed precision: the target is never rounded to bf16/fp16.
        pred = self(x_enc, x_mark_enc, y, y_mark).float()
        return pred, y[:, -self.model.pred_len :].float()

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        pred, target = self._predict_and_target(batch)
        loss = self.loss_fn(pred, target)
        # Epoch-level only: per-step sync_dist would all-reduce on every step under DDP.
        self.log(
            "train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, sync_dist=True,
            batch_size=target.shape[0],
        )  # fmt: skip
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        pred, target = self._predict_and_target(batch)
        self.log(
            "val_loss", F.mse_loss(pred, target), prog_bar=True, sync_dist=True,
            batch_size=target.shape[0],
        )  # fmt: skip

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        pred, target = self._predict_and_target(batch)
        n = target.shape[0]
        self.log("test_mse", F.mse_loss(pred, target), sync_dist=True, batch_size=n)
        self.log("test_mae", F.l1_loss(pred, target), sync_dist=True, batch_size=n)

    def predict_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        x_enc, x_mark_enc, y, y_mark = batch[:4]
        result: Tensor = self(x_enc, x_mark_enc, y, y_mark)
        return result

    def configure_optimizers(self) -> OptimizerLRSchedulerConfig:
        """Adam with lr·decay^epoch (the paper halves the learning rate after every epoch)."""
        optimizer = torch.optim.Adam(self.parameters(), lr=self.hparams["learning_rate"])
        decay = self.hparams["lr_decay"]
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: decay**epoch)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"},
        }
