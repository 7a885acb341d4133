"""The Temporal Fusion Transformer as a model family: what the steps, the handler and local mode
call. pytorch-forecasting takes seconds to import, so every method imports what it uses."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forecasting.errors import ConfigError
from forecasting.models.family import ExampleRequest, PreparedData, PreprocessOptions
from forecasting.models.tft import defaults
from forecasting.steps.arguments import add_option, str2bool

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from forecasting.channels import Channel
    from forecasting.contracts import ModelConfig
    from forecasting.data.validation import Location
    from forecasting.models.training_setup import TrainingSetup


class TFTFamily:
    name = "tft"
    windows = defaults.WINDOWS
    fit_defaults = defaults.FIT
    default_gate = defaults.DEFAULT_GATE
    metrics = defaults.METRICS
    table_metrics = defaults.TABLE_METRICS
    tiny_arguments = defaults.TINY_ARGUMENTS

    def add_train_arguments(self, parser: argparse.ArgumentParser) -> None:
        arch = defaults.ARCHITECTURE
        group = parser.add_argument_group(
            "Temporal Fusion Transformer (encoder length and horizon come from preprocess)"
        )
        for name in ("hidden_size", "attention_head_size", "hidden_continuous_size", "lstm_layers"):
            add_option(group, name.replace("_", "-"), type=int, default=arch[name])
        add_option(
            group, "reduce-on-plateau-patience", type=int,
            default=defaults.REDUCE_ON_PLATEAU_PATIENCE, help="epochs, then lr/10",
        )  # fmt: skip
        add_option(
            group, "fast-data", type=str2bool, default=True,
            help="materialise windows once (false: pytorch-forecasting's per-sample loader)",
        )  # fmt: skip

    def check_train_arguments(self, args: argparse.Namespace) -> None:
        if args.hidden_size % args.attention_head_size:
            raise ConfigError(
                f"hidden_size {args.hidden_size} must be divisible by attention_head_size "
                f"{args.attention_head_size}"
            )

    def prepare(self, options: PreprocessOptions) -> PreparedData:
        from forecasting.models.tft.preparation import prepare_from_options

        return prepare_from_options(options)

    def fitted(self, channel: Channel) -> object:
        return channel.tft.dataset_parameters

    def split_text(self, channel: Channel) -> str:
        return channel.tft.cutoffs.protocol

    def training_setup(
        self,
        args: argparse.Namespace,
        train: Channel,
        validation: Channel,
        per_rank_batch: int,
        pin_memory: bool,
    ) -> TrainingSetup:
        from forecasting.models.tft.training import TFTOptions, setup

        return setup(TFTOptions.from_arguments(args), train, validation, per_rank_batch, pin_memory)

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
        """One forward pass over the test windows (deterministic: no seed, no batches)."""
        from forecasting.models.tft.evaluation import evaluate

        return evaluate(model, config, test, output)

    def build_network(self, model_config: ModelConfig) -> torch.nn.Module:
        from forecasting.models.tft.module import TFTForecaster

        return TFTForecaster.from_constructor_arguments(dict(model_config.constructor or {}))

    def forecast(
        self, network: torch.nn.Module, config: dict[str, Any], raw: pd.DataFrame, where: Location
    ) -> pd.DataFrame:
        from forecasting.models.tft.serving import forecast

        return forecast(network, config, raw, where)

    def example_request(self, test: pd.DataFrame, config: dict[str, Any]) -> ExampleRequest:
        from forecasting.models.tft.serving import example_request

        return example_request(test, config)

    def future_request(
        self, options: PreprocessOptions, config: dict[str, Any], backtest: ExampleRequest
    ) -> ExampleRequest | str:
        return (
            "the TFT needs its known covariates for the forecast horizon, which the data does "
            "not hold past its end"
        )


TFT = TFTFamily()
