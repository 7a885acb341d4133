"""Setting up TFT training from the channels preprocess wrote (used by the train step)."""

from __future__ import annotations

import copy
import hashlib
import time
from typing import Any

import torch
from pytorch_forecasting.metrics import QuantileLoss

from forecasting.channels import Channel
from forecasting.contracts import ModelConfig
from forecasting.models.tft import codec
from forecasting.models.tft.dataset import split_dataset
from forecasting.models.tft.module import QUANTILES, TFTForecaster
from forecasting.models.tft.options import TFTOptions
from forecasting.models.tft.preprocessing import TFTPreprocessing
from forecasting.models.tft.windows import MaterializedWindows, fast_loader
from forecasting.models.training_setup import TrainingSetup

# pytorch-forecasting's default attention mask bias, -1e9, overflows fp16 (largest 65504) in
# `masked_fill` once autocast runs the attention in half precision (16-mixed on CUDA). -1e4 is a
# float16 value and still gives a masked position a softmax weight of exactly zero.
MASK_BIAS = -1e4


def optimizer_params(precision: str) -> dict[str, Any]:
    """Adam's options for a precision: fused only at full precision.

    Lightning's mixed-precision plugin refuses gradient clipping for an optimizer that unscales
    its gradients itself, which a fused one does, bf16 included; the TFT clips by default. At
    32-bit one fused kernel over the network's hundreds of small tensors replaces a loop over
    them: the same update up to rounding, and a shorter step (benchmarks/tft_step.py measures it).
    """
    return {"fused": True} if precision == "32" else {}


def parameters_digest(preprocessing: TFTPreprocessing) -> str:
    """sha256 of the fitted encoders, normalizer and scalers, to compare across ranks."""
    text = codec.dumps(codec.decode(preprocessing.dataset_parameters))
    return hashlib.sha256(text.encode()).hexdigest()


def model_hparams(args: TFTOptions, preprocessing: TFTPreprocessing) -> dict[str, Any]:
    return {
        "hidden_size": args.hidden_size,
        "attention_head_size": args.attention_head_size,
        "hidden_continuous_size": args.hidden_continuous_size,
        "lstm_layers": args.lstm_layers,
        "dropout": args.dropout,
        "max_encoder_length": preprocessing.max_encoder_length,
        "horizon": preprocessing.horizon,
        "quantiles": list(QUANTILES),
        "parameters_sha256": parameters_digest(preprocessing),
    }


def setup(
    args: TFTOptions,
    train: Channel,
    validation: Channel,
    per_rank_batch: int,
    pin_memory: bool = False,
) -> TrainingSetup:
    started = time.perf_counter()
    train_set = split_dataset(train.frame, train.tft, "train")
    val_set = split_dataset(validation.frame, validation.tft, "validation")
    if args.fast_data:
        train_loader = fast_loader(
            MaterializedWindows(train_set), per_rank_batch, train=True, pin_memory=pin_memory
        )
        val_loader = fast_loader(
            MaterializedWindows(val_set), per_rank_batch * 10, train=False, pin_memory=pin_memory
        )
    else:  # pytorch-forecasting's own path, kept for comparison and as a fallback
        train_loader = train_set.to_dataloader(
            train=True, batch_size=per_rank_batch, pin_memory=pin_memory
        )
        val_loader = val_set.to_dataloader(
            train=False, batch_size=per_rank_batch * 10, pin_memory=pin_memory
        )
    data_seconds = time.perf_counter() - started
    hparams = model_hparams(args, train.tft)
    module = TFTForecaster.from_dataset(
        train_set,
        plain_hparams=hparams,
        hidden_size=args.hidden_size,
        attention_head_size=args.attention_head_size,
        hidden_continuous_size=args.hidden_continuous_size,
        lstm_layers=args.lstm_layers,
        dropout=args.dropout,
        learning_rate=args.learning_rate,
        reduce_on_plateau_patience=args.reduce_on_plateau_patience,
        loss=QuantileLoss(quantiles=list(QUANTILES)),
        # Train-time metric logging (sMAPE, MAE, RMSE, MAPE per batch) costs time every step
        # and changes nothing the model learns; validation loss is still logged and the evaluate
        # step reports every metric on the test split.
        logging_metrics=torch.nn.ModuleList(),
        log_interval=-1,
        optimizer="adam",
        optimizer_params=optimizer_params(args.precision),
        mask_bias=MASK_BIAS,
    )

    def build_member() -> tuple[TFTForecaster, TFTForecaster]:
        """The same constructor arguments, freshly initialised; the data set is not kept."""
        fresh = TFTForecaster(**copy.deepcopy(dict(module.hparams)))
        return fresh, fresh  # the Lightning module is the network

    return TrainingSetup(
        module=module,
        train_loader=train_loader,
        val_loader=val_loader,
        hparams=hparams,
        model_config=ModelConfig("tft", hparams, constructor=module.constructor_arguments()),
        network=module,
        build_member=build_member,
        train_windows=len(train_set),
        gradient_clip=args.gradient_clip,
        summary={
            "data_setup_seconds": round(data_seconds, 3),
            "fast_data": bool(args.fast_data),
            "validation_windows": len(val_set),
            "parameters_sha256": hparams["parameters_sha256"],
        },
    )
