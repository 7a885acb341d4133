"""pytorch-forecasting's Temporal Fusion Transformer, made correct under DDP and resumable.

Three gaps of pytorch-forecasting 1.8 are closed in a subclass, without changing the network:

* its ``self.log`` calls do not reduce across ranks, so each rank's early stopping and
  checkpointing would follow only its own shard: every value is logged with ``sync_dist``, and
  for the epoch only (a synced per-step ``train_loss`` would be an all-reduce every step);
* ranks other than 0 would draw matplotlib figures that are never closed: only rank 0 may;
* its checkpoints pickle the normalizer and dataset parameters, which torch refuses to load
  under ``weights_only``: checkpoints carry only plain hyperparameters, and the module is rebuilt
  from the JSON that preprocess wrote.
"""

from __future__ import annotations

from typing import Any

import torch
from pytorch_forecasting import TemporalFusionTransformer
from pytorch_forecasting.metrics import QuantileLoss

from forecasting.models.ensemble import Ensemble
from forecasting.models.tft import codec

QUANTILES = (0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98)  # pytorch-forecasting's default set
# Built from these arguments again on load, so they are not stored with the constructor args.
_REBUILT = ("loss", "logging_metrics", "dataset_parameters")


class TFTForecaster(TemporalFusionTransformer):
    def __init__(self, *, plain_hparams: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # What defines the run, in plain types: checkpoints store these (and resume compares).
        self.plain_hparams = dict(plain_hparams or {})

    def log(self, *args: Any, **kwargs: Any) -> None:
        kwargs["sync_dist"] = True  # a no-op on one process
        kwargs["on_step"] = False  # as the Informer's: epoch values, reduced once per epoch
        kwargs["on_epoch"] = True
        super().log(*args, **kwargs)

    def log_prediction(self, *args: Any, **kwargs: Any) -> Any:
        if self.trainer.global_rank != 0:
            return None
        return super().log_prediction(*args, **kwargs)

    def log_interpretation(self, *args: Any, **kwargs: Any) -> Any:
        if self.trainer.global_rank != 0:
            return None
        return super().log_interpretation(*args, **kwargs)

    def log_embeddings(self) -> None:
        if self.trainer.global_rank == 0:
            super().log_embeddings()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        for key in ("dataset_parameters", self.CHECKPOINT_HYPER_PARAMS_SPECIAL_KEY, "hparams_name"):
            checkpoint.pop(key, None)
        checkpoint[self.CHECKPOINT_HYPER_PARAMS_KEY] = dict(self.plain_hparams)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Nothing to restore beyond the weights: pytorch-forecasting's version reads the
        pickled extras that `on_save_checkpoint` leaves out, and this module already holds them."""

    @property
    def quantiles(self) -> list[float]:
        return list(self.loss.quantiles)

    def constructor_arguments(self) -> dict[str, Any]:
        """Everything needed to rebuild this network without data, as plain JSON."""
        arguments = {k: v for k, v in self.hparams.items() if k not in _REBUILT}
        arguments["quantiles"] = self.quantiles
        arguments["plain_hparams"] = self.plain_hparams
        encoded: dict[str, Any] = codec.encode(arguments)
        return encoded

    @classmethod
    def from_constructor_arguments(cls, encoded: dict[str, Any]) -> TFTForecaster:
        arguments = codec.decode(encoded)
        quantiles = arguments.pop("quantiles")
        return cls(loss=QuantileLoss(quantiles=list(quantiles)), **arguments)


def tft_network(network: torch.nn.Module) -> TFTForecaster | Ensemble:
    """A loaded network as what it is: a `TFTForecaster`, or a seed ensemble of them."""
    if not isinstance(network, TFTForecaster | Ensemble):
        raise TypeError(f"expected a TFT or an ensemble of them, got {type(network)}")
    return network
