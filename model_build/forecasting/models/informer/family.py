"""The Informer as a model family: what the steps, the handler and local mode call."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forecasting.errors import ConfigError
from forecasting.models.family import ExampleRequest, PreparedData, PreprocessOptions
from forecasting.models.informer import defaults
from forecasting.steps.arguments import add_option, str2bool

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from forecasting.channels import Channel
    from forecasting.contracts import ModelConfig
    from forecasting.data.validation import Location
    from forecasting.models.training_setup import TrainingSetup


class InformerFamily:
    name = "informer"
    windows = defaults.WINDOWS
    fit_defaults = defaults.FIT
    default_gate = defaults.DEFAULT_GATE
    metrics = defaults.METRICS
    table_metrics = defaults.TABLE_METRICS
    tiny_arguments = defaults.TINY_ARGUMENTS

    def add_train_arguments(self, parser: argparse.ArgumentParser) -> None:
        arch = defaults.ARCHITECTURE
        group = parser.add_argument_group(
            "Informer. Defaults: our small configuration, tuned on ETTh1's validation split; "
            f"the paper's is {' '.join(defaults.PAPER_ARGUMENTS)}"
        )
        add_option(
            group, "label-len", type=int,
            help=f"decoder start-token length ({defaults.LABEL_LEN}, or seq-len if shorter)",
        )  # fmt: skip
        for name in ("d_model", "n_heads", "e_layers", "d_layers", "d_ff"):
            add_option(group, name.replace("_", "-"), type=int, default=arch[name])
        add_option(group, "factor", type=int, default=arch["factor"], help="ProbSparse factor c")
        add_option(group, "attention", default=arch["attention"], choices=["prob", "full"])
        add_option(group, "activation", default=arch["activation"], choices=["gelu", "relu"])
        for name, help in (
            ("distil", "self-attention distilling"),
            ("mix", "mix heads in decoder attention"),
            ("revin", "reversible instance norm"),
        ):
            add_option(group, name, type=str2bool, default=arch[name], help=help)
        add_option(
            group, "lr-decay", type=float, default=defaults.LR_DECAY, help="lr factor per epoch"
        )

    def check_train_arguments(self, args: argparse.Namespace) -> None:
        """Also completes ``label_len`` once ``seq_len`` is known."""
        if args.label_len is not None and args.label_len < 0:
            raise ConfigError(f"label_len must be at least 0, got {args.label_len}")
        if args.seq_len is not None:
            if args.label_len is None:
                args.label_len = min(defaults.LABEL_LEN, args.seq_len)
            elif args.label_len > args.seq_len:
                raise ConfigError(
                    f"label_len {args.label_len} must not exceed seq_len {args.seq_len}"
                )
        if args.d_model % args.n_heads:
            raise ConfigError(f"d_model {args.d_model} must be divisible by n_heads {args.n_heads}")

    def prepare(self, options: PreprocessOptions) -> PreparedData:
        from forecasting.models.informer.preparation import prepare_from_options

        return prepare_from_options(options)

    def fitted(self, channel: Channel) -> object:
        return channel.informer.scaler

    def split_text(self, channel: Channel) -> str:
        return f"{channel.informer.split} ({channel.informer.split_rule})"

    def training_setup(
        self,
        args: argparse.Namespace,
        train: Channel,
        validation: Channel,
        per_rank_batch: int,
        pin_memory: bool,
    ) -> TrainingSetup:
        from forecasting.models.informer.training import InformerOptions, setup

        options = InformerOptions.from_arguments(args)
        return setup(options, train, validation, per_rank_batch, pin_memory=pin_memory)

    def evaluate(
        self,
        model: torch.nn.Module,
        config: dict[str, Any],
        test: Channel,
        output: Path,
        *,
        seed: int,
        batch_size: int,
    ) -> dict[str, Any]:
        from forecasting.models.informer.evaluation import evaluate

        return evaluate(model, config, test, seed, batch_size)

    def build_network(self, model_config: ModelConfig) -> torch.nn.Module:
        from forecasting.models.informer.model import Informer

        return Informer(**model_config.hparams)

    def forecast(
        self, network: torch.nn.Module, config: dict[str, Any], raw: pd.DataFrame, where: Location
    ) -> pd.DataFrame:
        from forecasting.models.informer.serving import forecast

        table = forecast(network, config, raw, where)
        table["p10"] = table["p90"] = float("nan")  # the Informer gives a point forecast only
        return table

    def example_request(self, test: pd.DataFrame, config: dict[str, Any]) -> ExampleRequest:
        from forecasting.models.informer.serving import example_request

        return example_request(test, config)

    def future_request(
        self, options: PreprocessOptions, config: dict[str, Any], backtest: ExampleRequest
    ) -> ExampleRequest | str:
        from forecasting.models.informer.serving import future_request

        return future_request(options, config, backtest)


INFORMER = InformerFamily()
