"""Setting up Informer training from the channels preprocess wrote (used by the train step)."""

from __future__ import annotations

import argparse
from typing import Any

import torch
from torch.utils.data import DataLoader

from forecasting.channels import Channel
from forecasting.contracts import ModelConfig
from forecasting.models.informer.forecaster import InformerForecaster
from forecasting.models.training_setup import TrainingSetup


def model_hparams(args: argparse.Namespace, channel: Channel) -> dict[str, Any]:
    """Everything that defines the network, in plain types (checkpoints stay weights_only-safe)."""
    n_targets = len(channel.preprocessing["targets"])
    return {  # the decoder's start token holds the targets; covariates feed the encoder
        "enc_in": len(channel.preprocessing["columns"]),
        "dec_in": n_targets,
        "c_out": n_targets,
        "seq_len": args.seq_len,
        "label_len": args.label_len,
        "pred_len": args.pred_len,
        "n_time_features": channel.preprocessing["n_time_features"],
        "factor": args.factor,
        "d_model": args.d_model,
        "n_heads": args.n_heads,
        "e_layers": args.e_layers,
        "d_layers": args.d_layers,
        "d_ff": args.d_ff,
        "dropout": args.dropout,
        "attention": args.attention,
        "activation": args.activation,
        "distil": args.distil,
        "mix": args.mix,
        "revin": args.revin,
    }


def setup(
    args: argparse.Namespace,
    train: Channel,
    validation: Channel,
    per_rank_batch: int,
    pin_memory: bool = False,
) -> TrainingSetup:
    hparams = model_hparams(args, train)
    windows = {
        name: channel.windows(args.seq_len, args.label_len, args.pred_len)
        for name, channel in (("train", train), ("validation", validation))
    }

    def build_member() -> tuple[InformerForecaster, torch.nn.Module]:
        module = InformerForecaster(
            **hparams, learning_rate=args.learning_rate, lr_decay=args.lr_decay
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
    )
