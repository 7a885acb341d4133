"""The Temporal Fusion Transformer as a model family: what the steps, the handler and local mode
call. pytorch-forecasting takes seconds to import, so every method imports what it uses."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forecasting.models.family import (
    ExampleRequest,
    PreparedData,
    PreprocessOptions,
    TrainOptions,
)
from forecasting.models.tft import defaults
from forecasting.models.tft import options as tft_options

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

    train_flags_title = tft_options.TITLE
    train_flags = tft_options.FLAGS

    def check_train_flags(self, flags: Mapping[str, Any]) -> None:
        tft_options.check(flags)

    def train_options(self, flags: Mapping[str, Any]) -> TrainOptions:
        return tft_options.options(flags)

    def prepare(self, options: PreprocessOptions) -> PreparedData:
        from forecasting.models.tft.preparation import prepare_from_options

        return prepare_from_options(options)

    def fitted(self, channel: Channel) -> object:
        return channel.tft.dataset_parameters

    def split_text(self, channel: Channel) -> str:
        return channel.tft.cutoffs.protocol

    def training_setup(
        self,
        options: TrainOptions,
        train: Channel,
        validation: Channel,
        per_rank_batch: int,
        pin_memory: bool,
    ) -> TrainingSetup:
        from forecasting.models.tft.training import setup

        if not isinstance(options, tft_options.TFTOptions):
            raise TypeError(f"{self.name} trains from TFTOptions, not {type(options).__name__}")
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
