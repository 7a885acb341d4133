"""Setting up Informer training from the channels preprocess wrote (used by the train step)."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import DataLoader

from forecasting.channels import Channel
from forecasting.contracts import ModelConfig
from forecasting.models.informer.forecaster import InformerForecaster
from forecasting.models.informer.options import InformerOptions
from forecasting.models.informer.preprocessing import InformerPreprocessing
from forecasting.models.training_setup import TrainingSetup


def model_hparams(options: InformerOptions, preprocessing: InformerPreprocessing) -> dict[str, Any]:
    """Everything that defines the network, in plain types (checkpoints stay weights_only-safe)."""
    n_targets = len(preprocessing.targets)
    return {  # the decoder's start token holds the targets; covariates feed the encoder
        "enc_in": len(preprocessing.columns),
        "dec_in": n_targets,
        "c_out": n_targets,
        "seq_len": options.seq_len,
        "label_len": options.label_len,
        "pred_len": options.pred_len,
        "n_time_features": preprocessing.n_time_features,
        "factor": options.factor,
        "d_model": options.d_model,
        "n_heads": options.n_heads,
        "e_layers": options.e_layers,
        "d_layers": options.d_layers,
        "d_ff": options.d_ff,
        "dropout": options.dropout,
        "attention": options.attention,
        "activation": options.activation,
        "distil": options.distil,
        "mix": options.mix,
        "revin": options.revin,
    }


def setup(
    options: InformerOptions,
    train: Channel,
    validation: Channel,
    per_rank_batch: int,
    pin_memory: bool = False,
) -> TrainingSetup:
    hparams = model_hparams(options, train.informer)
    windows = {
        name: channel.windows(options.seq_len, options.label_len, options.pred_len)
        for name, channel in (("train", train), ("validation", validation))
    }

    def build_member() -> tuple[InformerForecaster, torch.nn.Module]:
        module = InformerForecaster(
            **hparams, learning_rate=options.learning_rate, lr_decay=options.lr_decay
        )
        return module, module.model

    module, network = build_member()
    loaders = {
        name: DataLoader(
            ds, batch_size=per_rank_batch, shuffle=name == "train", pin_memory=pin_memory
        )
        for name, ds in windows.items()
    }
    return TrainingSetup(
        module=module,
        train_loader=loaders["train"],
        val_loader=loaders["validation"],
        hparams=hparams,
        model_config=ModelConfig("informer", hparams),
        network=network,
        build_member=build_member,
        train_windows=len(windows["train"]),
        gradient_clip=options.gradient_clip,
    )
